//! A real Kafka-protocol broker (`tansu`, in memory, on 127.0.0.1) for the Kafka tests,
//! installed and started by `scripts/tansu.sh`, stopped when dropped; and plain rdkafka
//! clients to feed and read topics independently of the code under test.

#![allow(dead_code, reason = "each test file uses part of the support")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use streamflow::kafka::{CommittedFilter, KafkaRecord};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/tansu.sh")
}

/// A broker running for one test.
pub struct Tansu {
    dir: tempfile::TempDir,
    /// Its bootstrap address, `127.0.0.1:PORT`.
    pub addr: String,
}

impl Tansu {
    /// Starts a broker on a free port (installing tansu first if needed: slow once). `None`
    /// only outside CI with `STREAMFLOW_SKIP_KAFKA=1`; with `CI=true` it never skips.
    pub fn start() -> Option<Tansu> {
        Self::start_on(None)
    }

    /// Starts a broker on `port`, or a free one.
    pub fn start_on(port: Option<u16>) -> Option<Tansu> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if !ci && std::env::var("STREAMFLOW_SKIP_KAFKA").is_ok_and(|v| v == "1") {
            eprintln!("STREAMFLOW_SKIP_KAFKA=1: skipping a test that needs the Kafka broker");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut command = Command::new("bash");
        command.arg(script()).arg("start").arg(dir.path());
        if let Some(port) = port {
            command.arg(port.to_string());
        }
        let out = command.output().expect("bash runs scripts/tansu.sh");
        assert!(
            out.status.success(),
            "scripts/tansu.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "unexpected address {addr:?}");
        Some(Tansu { dir, addr })
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }

    /// Stops the broker now (also done on drop).
    pub fn stop(&self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates `topic` with `partitions` partitions.
pub fn topic(addr: &str, topic: &str, partitions: i32) {
    streamflow::kafka::create_topic(addr, topic, partitions, Duration::from_secs(20)).expect("topic created");
}

/// Writes `(partition, key, value)`s to `topic` and waits until they are acknowledged.
pub fn produce(addr: &str, topic: &str, records: &[(i32, String, String)]) {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("enable.idempotence", "true")
        .create()
        .expect("a producer");
    for (partition, key, value) in records {
        let mut record = BaseRecord::to(topic)
            .partition(*partition)
            .key(key.as_bytes())
            .payload(value.as_bytes());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("records acknowledged");
}

/// One record as read back: partition, offset, key, value, headers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
    pub headers: BTreeMap<String, String>,
}

/// Every record of `topic` (`partitions` partitions) that a consumer with `isolation` sees,
/// from the beginning to the end, in partition then offset order.
pub fn read_all(addr: &str, topic: &str, partitions: i32, isolation: &str) -> Vec<Read> {
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    read_records(addr, topic, partitions, isolation)
        .into_iter()
        .map(|r| Read {
            partition: r.partition,
            offset: r.offset,
            key: text(r.key.as_deref()),
            value: text(r.value.as_deref()),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), text(v.as_deref())))
                .collect(),
        })
        .collect()
}

/// Every record of `topic` as the source's [`KafkaRecord`]s, in partition then offset order.
pub fn read_records(addr: &str, topic: &str, partitions: i32, isolation: &str) -> Vec<KafkaRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "streamflow-tests-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .expect("a consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&list).expect("assigned");
    let mut out = Vec::new();
    let mut at_end = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while at_end.len() < partitions as usize {
        assert!(Instant::now() < deadline, "reading {topic} took too long");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                let headers = m
                    .headers()
                    .map(|h| {
                        (0..h.count())
                            .filter_map(|i| h.try_get(i))
                            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(KafkaRecord {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    timestamp: m.timestamp().to_millis(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => eprintln!("reading {topic}: {e}"),
            None => {}
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// What a reader applying the commit-marker protocol ([`CommittedFilter`]) sees of `topic`,
/// and how many records (repeats, uncommitted attempts, markers) it dropped.
pub fn read_committed_by_markers(addr: &str, topic: &str, partitions: i32) -> (Vec<KafkaRecord>, usize) {
    let records = read_records(addr, topic, partitions, "read_committed");
    let total = records.len();
    let mut filter = CommittedFilter::new();
    let kept: Vec<KafkaRecord> = records.into_iter().flat_map(|r| filter.push(r)).collect();
    let dropped = total - kept.len();
    (kept, dropped)
}
