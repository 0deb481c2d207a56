//! The Kafka source and sink against a real broker (`tansu`, started by `scripts/tansu.sh`).

#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod support;

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use streamflow::kafka::{
    BATCH_HEADER, KafkaMessage, KafkaOptions, KafkaRecord, KafkaSink, KafkaSinkOptions, StartingOffsets,
};
use streamflow::structured::{MemoryStream, Session};
use streamflow::testing::TestContext;
use streamflow::{Duration, ManualClock};
use support::tansu::{Read, Tansu, produce, read_all, read_committed_by_markers, topic};

fn records(range: std::ops::Range<u32>, partitions: i32) -> Vec<(i32, String, String)> {
    range
        .map(|i| ((i % partitions as u32) as i32, format!("k{i}"), format!("v{i}")))
        .collect()
}

type Row = (i32, i64, String);

fn query(
    session: &Session,
    addr: &str,
    ck: &std::path::Path,
    starting: StartingOffsets,
) -> streamflow::structured::StreamingQuery {
    session
        .read_stream::<KafkaRecord>()
        .kafka(
            KafkaOptions::new(addr)
                .subscribe(["input"])
                .starting_offsets(starting)
                .max_offsets_per_trigger(40),
        )
        .map(|r: KafkaRecord| -> Row { (r.partition, r.offset, r.value_str().unwrap().unwrap().to_string()) })
        .write_stream()
        .checkpoint_location(ck)
        .memory("out")
        .start()
        .unwrap()
}

/// A query reads 90 records in batches of at most 40, stops; 60 more arrive; restarted on its
/// checkpoint (asked to start at "latest", which a checkpoint overrides) it reads exactly the
/// 60: every record once, none skipped, none twice.
#[test]
fn offsets_are_exact_across_a_restart() {
    let Some(broker) = Tansu::start() else { return };
    topic(&broker.addr, "input", 3);
    produce(&broker.addr, "input", &records(0..90, 3));
    let ck = tempfile::tempdir().unwrap();

    let session = Session::new(2).unwrap();
    let first = query(&session, &broker.addr, ck.path(), StartingOffsets::Earliest);
    first.process_all_available().unwrap();
    first.stop().unwrap();
    let table = session.memory_table::<Row>("out").unwrap();
    let first_batches = table.batches();
    assert!(
        first_batches.iter().all(|(_, rows)| rows.len() <= 40),
        "max_offsets_per_trigger"
    );
    let first_rows = table.rows();
    assert_eq!(first_rows.len(), 90);
    // One stream partition per Kafka partition: every batch's rows come in partition order.
    let progress = first.recent_progress();
    assert!(
        progress
            .iter()
            .any(|p| p.sources[0].end_offset.to_string().contains("\"input\""))
    );

    produce(&broker.addr, "input", &records(90..150, 3));
    let session = Session::new(2).unwrap();
    let second = query(&session, &broker.addr, ck.path(), StartingOffsets::Latest);
    second.process_all_available().unwrap();
    second.stop().unwrap();
    let second_batches = session.memory_table::<Row>("out").unwrap().batches();
    let first_ids: BTreeSet<u64> = first_batches.iter().map(|(id, _)| *id).collect();
    assert!(
        second_batches.iter().all(|(id, _)| !first_ids.contains(id)),
        "batch ids go on"
    );
    let second_rows: Vec<Row> = second_batches.into_iter().flat_map(|(_, rows)| rows).collect();
    assert_eq!(second_rows.len(), 60);

    let mut all: Vec<String> = first_rows
        .iter()
        .chain(&second_rows)
        .map(|r| r.2.clone())
        .collect();
    all.sort();
    let mut expected: Vec<String> = (0..150).map(|i| format!("v{i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "every record exactly once");
    // Offsets are per partition and contiguous.
    for p in 0..3 {
        let offsets: Vec<i64> = {
            let mut o: Vec<i64> = first_rows
                .iter()
                .chain(&second_rows)
                .filter(|r| r.0 == p)
                .map(|r| r.1)
                .collect();
            o.sort();
            o
        };
        assert_eq!(offsets, (0..50).collect::<Vec<i64>>());
    }
}

/// A DStream reads a subscribed pattern with key, value, headers and timestamps.
#[test]
fn the_direct_stream_exposes_every_field_of_a_record() {
    let Some(broker) = Tansu::start() else { return };
    topic(&broker.addr, "events-a", 2);
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
        key: "h",
        value: Some("x"),
    });
    producer
        .send(
            BaseRecord::to("events-a")
                .partition(1)
                .key("k")
                .payload(r#"{"n":7}"#)
                .timestamp(1_234)
                .headers(headers),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(StdDuration::from_secs(10)).unwrap();

    let t = TestContext::new(Duration::seconds(1), 2).unwrap();
    let options = KafkaOptions::new(&broker.addr)
        .subscribe_pattern("events-.*")
        .starting_offsets(StartingOffsets::Earliest);
    let out = t.collect(&t.context().kafka_direct_stream(options));
    t.run(1).unwrap();
    let got: Vec<KafkaRecord> = out.batches().concat();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!((r.topic.as_str(), r.partition, r.offset), ("events-a", 1, 0));
    assert_eq!(r.key_str().unwrap(), Some("k"));
    assert_eq!(r.value_json::<serde_json::Value>().unwrap()["n"], 7);
    assert_eq!(r.timestamp, Some(1_234));
    assert_eq!(r.header("h"), Some(&b"x"[..]));
    t.context().stop(false).unwrap();
}

/// The broker is down when the job starts: batches go on with no data, the source's status
/// says why, and once the broker is up the records arrive. Nothing fails.
#[test]
fn a_broker_down_at_start_is_retried_and_shown_in_the_status() {
    // A free port with nothing on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let t = TestContext::new(Duration::seconds(1), 2).unwrap();
    let options = KafkaOptions::new(&addr)
        .subscribe(["late"])
        .starting_offsets(StartingOffsets::Earliest)
        .request_timeout("300 ms")
        .unwrap();
    let out = t.collect(&t.context().kafka_direct_stream(options));
    t.start().unwrap();
    t.advance_batches(2).unwrap();
    let status = &t.context().receiver_statuses()[0];
    assert!(status.errors >= 1 && !status.active, "{status:?}");
    assert!(status.last_error.is_some());
    assert!(out.batches().concat().is_empty());

    let Some(broker) = Tansu::start_on(Some(port)) else {
        return;
    };
    topic(&broker.addr, "late", 1);
    produce(&broker.addr, "late", &records(0..5, 1));
    let mut got = 0;
    for _ in 0..600 {
        t.advance_batches(1).unwrap();
        got = out.batches().concat().len();
        if got == 5 {
            break;
        }
        // Waiting for the source's back-off (real time, up to 10 s) to try the broker again.
        std::thread::sleep(StdDuration::from_millis(50));
    }
    assert_eq!(got, 5);
    assert!(t.context().receiver_statuses()[0].active);
    t.context().stop(false).unwrap();
}

fn sink(addr: &str, id: &str, markers: bool) -> KafkaSink<String> {
    let options = KafkaSinkOptions::new(addr).topic("output").transactional_id(id);
    KafkaSink::new(
        if markers {
            options.commit_markers()
        } else {
            options
        },
        |s: &String| KafkaMessage::new(s.as_str()).key(s.as_str()),
    )
}

fn write_batches(session: &Session, addr: &str, id: &str, markers: bool, batches: &[&[&str]]) {
    let input = MemoryStream::<String>::new();
    let query = session
        .read_stream::<String>()
        .memory(&input)
        .write_stream()
        .sink(sink(addr, id, markers))
        .start()
        .unwrap();
    for batch in batches {
        input.add_data(batch.iter().map(|s| s.to_string()));
        query.process_all_available().unwrap();
    }
    query.stop().unwrap();
}

/// Writes batches 0..2, then, as a restarted job on the same writer id would, batches 0..2
/// again with other rows (`x`, `y`, `z`: they must not be seen) and batch 3; returns the
/// `(batch, value)`s a reader must see.
fn write_and_replay(broker: &Tansu, id: &str, markers: bool) -> Vec<(String, String)> {
    topic(&broker.addr, "output", 2);
    let session = Session::builder()
        .parallelism(2)
        .clock(ManualClock::new(0))
        .build()
        .unwrap();
    write_batches(
        &session,
        &broker.addr,
        id,
        markers,
        &[&["a", "b"], &["c"], &["d", "e", "f"]],
    );
    write_batches(
        &session,
        &broker.addr,
        id,
        markers,
        &[&["x"], &["y"], &["z"], &["g"]],
    );
    [
        ("0", "a"),
        ("0", "b"),
        ("1", "c"),
        ("2", "d"),
        ("2", "e"),
        ("2", "f"),
        ("3", "g"),
    ]
    .iter()
    .map(|(b, v)| (b.to_string(), v.to_string()))
    .collect()
}

/// Each batch is one transaction, with its batch id in a header. A second run with the same
/// transactional id (as after a crash between Kafka's commit and the checkpoint's) skips the
/// batches Kafka already has, and writes the next one.
#[test]
#[ignore = "tansu 0.6 has no transactions for librdkafka (tansu_refuses_transactions_to_librdkafka)"]
fn the_transactional_sink_writes_each_batch_once() {
    let Some(broker) = Tansu::start() else { return };
    let expected = write_and_replay(&broker, "sink-test", false);
    let got = read_all(&broker.addr, "output", 2, "read_committed");
    let mut values: Vec<(String, String)> = got
        .iter()
        .map(|r| (r.headers["streamflow.batch"].clone(), r.value.clone()))
        .collect();
    values.sort();
    assert_eq!(values, expected);
    assert!(
        got.iter()
            .all(|r: &Read| r.headers.contains_key("streamflow.txn"))
    );
}

/// Without transactions, commit markers: each batch is written with its attempt in a header,
/// then a marker per partition. A second run with the same writer id replays batch ids 0..2
/// (as after a crash between the markers and the checkpoint's commit) with other rows: a plain
/// reader sees them (at least once), a reader applying `CommittedFilter` sees each batch once.
#[test]
fn the_marker_sink_writes_each_batch_once_for_a_filtering_reader() {
    let Some(broker) = Tansu::start() else { return };
    let expected = write_and_replay(&broker, "marker-test", true);
    let plain = read_all(&broker.addr, "output", 2, "read_committed");
    let plain_values: BTreeSet<&str> = plain.iter().map(|r| r.value.as_str()).collect();
    assert!(
        ["x", "y", "z"].iter().all(|v| plain_values.contains(v)),
        "a plain reader sees the replays: {plain_values:?}"
    );
    let (kept, dropped) = read_committed_by_markers(&broker.addr, "output", 2);
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    let mut values: Vec<(String, String)> = kept
        .iter()
        .map(|r| (text(r.header(BATCH_HEADER)), text(r.value.as_deref())))
        .collect();
    values.sort();
    assert_eq!(values, expected);
    assert_eq!(dropped, plain.len() - kept.len());
}

/// What tansu 0.6 lacks: librdkafka refuses to end a transaction on it ("EndTxnRequest
/// (KIP-98) not supported by broker"), so `KafkaSink`'s exactly-once mode cannot run against
/// it (seen on the first run of these tests); use `at_least_once()` there. If this test starts
/// failing, tansu learned transactions: turn the sink and crash tests to exactly-once.
#[test]
fn tansu_refuses_transactions_to_librdkafka() {
    let Some(broker) = Tansu::start() else { return };
    topic(&broker.addr, "txn", 1);
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("transactional.id", "aborting")
        .create()
        .unwrap();
    let timeout = StdDuration::from_secs(20);
    let ended = producer
        .init_transactions(timeout)
        .and_then(|()| producer.begin_transaction())
        .and_then(|()| {
            producer
                .send(BaseRecord::to("txn").partition(0).key("c").payload("committed"))
                .map_err(|(e, _)| e)
        })
        .and_then(|()| producer.commit_transaction(timeout));
    let error = ended.expect_err("tansu now supports transactions?").to_string();
    assert!(error.contains("EndTxn"), "{error}");
}
