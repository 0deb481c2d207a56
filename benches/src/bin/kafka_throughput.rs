//! Kafka throughput, each side beside its bare-rdkafka limit on the same broker and topic:
//!
//! - read: a word count over a topic of lines with streamflow's Kafka source (a query,
//!   `Trigger::available_now`, words counted per batch in `foreach_batch`) vs a bare
//!   `BaseConsumer` loop reading the same partitions and counting the same words;
//! - write: N messages through `KafkaSink` (`commit_markers`, the exactly-once mode for brokers
//!   without transactions such as tansu 0.6; and `at_least_once`) vs a bare idempotent
//!   `ThreadedProducer` loop.
//!
//! `cargo run --release -p streamflow-benches --features kafka --bin kafka_throughput -- BROKER [LINES] [ROUNDS]`
//! (`scripts/tansu.sh start` prints a broker); results in `benches/RESULTS.md`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use streamflow::kafka::{
    KafkaMessage, KafkaOptions, KafkaRecord, KafkaSink, KafkaSinkOptions, StartingOffsets,
};
use streamflow::structured::{MemoryStream, Session, Trigger};

const PARTITIONS: i32 = 3;

fn line(i: u64) -> String {
    const WORDS: [&str; 8] = [
        "apple", "banana", "cherry", "kafka", "stream", "batch", "spark", "rust",
    ];
    (0..8)
        .map(|k| WORDS[((i * 31 + k * 17) % 8) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn producer(broker: &str) -> ThreadedProducer<rdkafka::producer::DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("enable.idempotence", "true")
        .create()
        .expect("a producer")
}

/// The bare producer: `n` lines to `topic`, acknowledged. Returns the seconds taken.
fn bare_produce(broker: &str, topic: &str, n: u64) -> f64 {
    let started = Instant::now();
    let p = producer(broker);
    for i in 0..n {
        let text = line(i);
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .partition((i % PARTITIONS as u64) as i32)
            .payload(text.as_bytes());
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    p.poll(Duration::from_millis(1));
                    record = back;
                }
            }
        }
    }
    p.flush(Duration::from_secs(120)).expect("acknowledged");
    started.elapsed().as_secs_f64()
}

/// The bare consumer: every line of `topic`, words counted. Returns (seconds, words).
fn bare_consume(broker: &str, topic: &str) -> (f64, u64) {
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .expect("a consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&list).expect("assigned");
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut ended = 0;
    while ended < PARTITIONS {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                for w in std::str::from_utf8(m.payload().unwrap_or_default())
                    .unwrap_or_default()
                    .split(' ')
                {
                    *counts.entry(w.to_string()).or_default() += 1;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
            _ => {}
        }
    }
    (started.elapsed().as_secs_f64(), counts.values().sum())
}

/// streamflow's source: the same count. Returns (seconds, words).
fn streamflow_consume(broker: &str, topic: &str) -> (f64, u64) {
    let started = Instant::now();
    let session = Session::new(2).expect("a session");
    let words = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = words.clone();
    let query = session
        .read_stream::<KafkaRecord>()
        .kafka(
            KafkaOptions::new(broker)
                .subscribe([topic])
                .starting_offsets(StartingOffsets::Earliest),
        )
        .flat_map(|r: KafkaRecord| {
            let text = r.value_str().ok().flatten().unwrap_or_default().to_string();
            streamflow::text::words(text)
        })
        .write_stream()
        .trigger(Trigger::available_now())
        .foreach_batch(move |batch, _id| {
            let mut counts: HashMap<streamflow::text::Word, u64> = HashMap::new();
            for w in batch.collect() {
                *counts.entry(w).or_default() += 1;
            }
            total.fetch_add(counts.values().sum::<u64>(), std::sync::atomic::Ordering::SeqCst);
        })
        .start()
        .expect("the query starts");
    query.await_termination().expect("the query ends");
    (
        started.elapsed().as_secs_f64(),
        words.load(std::sync::atomic::Ordering::SeqCst),
    )
}

/// streamflow's sink: `n` lines written in one batch. Returns seconds.
fn streamflow_produce(broker: &str, topic: &str, n: u64, markers: bool, id: &str) -> f64 {
    let started = Instant::now();
    let session = Session::new(2).expect("a session");
    let input = MemoryStream::<String>::new();
    input.add_data((0..n).map(line));
    let mut options = KafkaSinkOptions::new(broker).topic(topic).transactional_id(id);
    options = if markers {
        options.commit_markers()
    } else {
        options.at_least_once()
    };
    let query = session
        .read_stream::<String>()
        .memory(&input)
        .write_stream()
        .trigger(Trigger::available_now())
        .sink(KafkaSink::new(options, |s: &String| {
            KafkaMessage::new(s.as_str())
        }))
        .start()
        .expect("the query starts");
    query.await_termination().expect("the query ends");
    started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let broker = args
        .next()
        .expect("usage: kafka_throughput BROKER [LINES] [ROUNDS]");
    let lines: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(3);
    let timeout = Duration::from_secs(30);
    streamflow::kafka::create_topic(&broker, "bench-lines", PARTITIONS, timeout).expect("topic");
    let produce = bare_produce(&broker, "bench-lines", lines);
    println!("input: {lines} lines of 8 words on {PARTITIONS} partitions (bare producer {produce:.2} s)");
    let (mut bare, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (s, w) = bare_consume(&broker, "bench-lines");
        assert_eq!(w, lines * 8);
        bare.push(lines as f64 / s);
        let (s, w) = streamflow_consume(&broker, "bench-lines");
        assert_eq!(w, lines * 8);
        ours.push(lines as f64 / s);
    }
    let (b, o) = (median(bare), median(ours));
    println!(
        "read + word count, lines/s (median of {rounds}): bare consumer {b:.0}, streamflow {o:.0}, ratio {:.2}",
        o / b
    );
    let (mut bare, mut eo, mut alo) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let topic = format!("bench-out-{r}");
        streamflow::kafka::create_topic(&broker, &topic, PARTITIONS, timeout).expect("topic");
        bare.push(lines as f64 / bare_produce(&broker, &topic, lines));
        eo.push(lines as f64 / streamflow_produce(&broker, &topic, lines, true, &format!("bench-eo-{r}")));
        alo.push(lines as f64 / streamflow_produce(&broker, &topic, lines, false, &format!("bench-alo-{r}")));
    }
    let (b, e, a) = (median(bare), median(eo), median(alo));
    println!(
        "write, messages/s (median of {rounds}): bare producer {b:.0}, KafkaSink commit markers {e:.0} (ratio {:.2}), at-least-once {a:.0} (ratio {:.2})",
        e / b,
        a / b
    );
}
