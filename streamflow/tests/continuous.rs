//! Continuous processing (`Trigger::continuous`): records one at a time through long-lived
//! tasks, epochs as checkpoints. Every test drives a manual clock or waits on the engine
//! (`process_all_available`, listener events), never on a timer.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use streamflow::structured::*;
use streamflow::{Duration, ManualClock};

fn session(parallelism: usize) -> (Session, ManualClock) {
    let clock = ManualClock::new(0);
    let session = Session::builder()
        .parallelism(parallelism)
        .clock(clock.clone())
        .build()
        .unwrap();
    (session, clock)
}

/// The last row of each key, in the order the table holds them.
fn last_per_key(rows: &[AggRow<String, u64>]) -> BTreeMap<String, u64> {
    rows.iter().map(|r| (r.key.clone(), r.value)).collect()
}

fn words(i: u64) -> String {
    format!("w{}", (i * 7919) % 13)
}

#[test]
fn a_stateless_chain_gives_the_rows_a_micro_batch_query_gives() {
    let (session, _clock) = session(2);
    let input = MemoryStream::<i64>::new();
    let build = |trigger: Trigger, table: &str| {
        session
            .read_stream::<i64>()
            .memory(&input)
            .filter(|n| n % 3 != 0)
            .map(|n| n * 10)
            .flat_map(|n| [n, n + 1])
            .write_stream()
            .trigger(trigger)
            .memory(table)
            .start()
            .unwrap()
    };
    let continuous = build(Trigger::continuous("1 second"), "continuous");
    let batches = build(Trigger::default(), "batches");
    for round in 0..5_i64 {
        input.add_data((round * 100..round * 100 + 50).collect::<Vec<_>>());
        continuous.process_all_available().unwrap();
        batches.process_all_available().unwrap();
    }
    let mut a = session.memory_table::<i64>("continuous").unwrap().rows();
    let mut b = session.memory_table::<i64>("batches").unwrap().rows();
    assert!(a.len() > 300, "{}", a.len());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // Epochs are batches: ids 0, 1, … with a progress report each.
    assert_eq!(continuous.recent_progress().len(), 5);
    assert_eq!(continuous.last_progress().unwrap().num_input_rows, 50);
    continuous.stop().unwrap();
    batches.stop().unwrap();
}

#[test]
fn a_keyed_count_ends_where_the_micro_batch_count_ends_and_emits_every_change() {
    let (session, _clock) = session(2);
    let input = MemoryStream::<String>::new();
    let build = |trigger: Trigger, table: &str| {
        session
            .read_stream::<String>()
            .memory(&input)
            .filter(|w| !w.ends_with('0'))
            .group_by(|w| w.clone())
            .count()
            .write_stream()
            .output_mode(OutputMode::Update)
            .trigger(trigger)
            .memory(table)
            .start()
            .unwrap()
    };
    let continuous = build(Trigger::continuous("1 second"), "continuous");
    let batches = build(Trigger::default(), "batches");
    let mut seen = 0;
    for round in 0..4_u64 {
        let data: Vec<String> = (round * 300..round * 300 + 300).map(words).collect();
        seen += data.iter().filter(|w| !w.ends_with('0')).count();
        input.add_data(data);
        continuous.process_all_available().unwrap();
        batches.process_all_available().unwrap();
    }
    let c = session
        .memory_table::<AggRow<String, u64>>("continuous")
        .unwrap()
        .rows();
    let b = session
        .memory_table::<AggRow<String, u64>>("batches")
        .unwrap()
        .rows();
    assert_eq!(last_per_key(&c), last_per_key(&b));
    // Every record changed its group: one row per change, each key's counts 1, 2, 3 … in order.
    assert_eq!(c.len(), seen);
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &c {
        let n = next.entry(row.key.as_str()).or_insert(1);
        assert_eq!(row.value, *n, "{}", row.key);
        *n += 1;
    }
    let progress = continuous.last_progress().unwrap();
    assert_eq!(progress.state_operators[0].num_rows_total, 11); // w0 … w12 but w0 and w10
    continuous.stop().unwrap();
    batches.stop().unwrap();
}

/// Hands every progress report to the test as it happens.
struct Progress(Mutex<std::sync::mpsc::Sender<QueryProgress>>);

impl StreamingQueryListener for Progress {
    fn on_query_progress(&self, progress: &QueryProgress) {
        let _ = self.0.lock().unwrap().send(progress.clone());
    }
}

fn listen(session: &Session) -> std::sync::mpsc::Receiver<QueryProgress> {
    let (tx, rx) = std::sync::mpsc::channel();
    session.add_listener(Arc::new(Progress(Mutex::new(tx))));
    rx
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[test]
fn an_epoch_ends_at_each_checkpoint_interval_of_the_clock_with_its_progress() {
    let (session, clock) = session(2);
    let progress = listen(&session);
    let input = MemoryStream::<(String, i64)>::new();
    let query = session
        .read_stream::<(String, i64)>()
        .memory(&input)
        .with_watermark(|r| streamflow::Time::from_millis(r.1), "1 second")
        .group_by(|r| r.0.clone())
        .max(|r| r.1)
        .write_stream()
        .output_mode(OutputMode::Update)
        .trigger(Trigger::continuous("1 second"))
        .memory("latest")
        .start()
        .unwrap();
    input.add_data([("a".to_string(), 5_000), ("b".to_string(), 7_000)]);
    clock.advance(Duration::seconds(1)).unwrap();
    let first = progress.recv_timeout(WAIT).unwrap();
    assert_eq!((first.batch_id, first.num_input_rows), (0, 2));
    assert_eq!(first.timestamp, "1970-01-01T00:00:01.000Z");
    assert_eq!(first.event_time.max.as_deref(), Some("1970-01-01T00:00:07.000Z"));
    // The watermark computed at the end of epoch 0 is in force during epoch 1.
    input.add_data([("a".to_string(), 9_000)]);
    clock.advance(Duration::seconds(1)).unwrap();
    let second = progress.recv_timeout(WAIT).unwrap();
    assert_eq!((second.batch_id, second.num_input_rows), (1, 1));
    assert_eq!(
        second.event_time.watermark.as_deref(),
        Some("1970-01-01T00:00:06.000Z")
    );
    assert_eq!(second.state_operators[0].num_rows_updated, 1);
    let rows = session
        .memory_table::<AggRow<String, i64>>("latest")
        .unwrap()
        .batches();
    assert_eq!(
        rows.iter()
            .map(|(id, rows)| (*id, rows.len()))
            .collect::<Vec<_>>(),
        [(0, 2), (1, 1)]
    );
    // Nothing new: no epoch (an epoch without records is skipped).
    clock.advance(Duration::seconds(5)).unwrap();
    query.process_all_available().unwrap();
    assert_eq!(query.recent_progress().len(), 2);
    assert!(
        query.explain().contains("aggregation tasks ×2"),
        "{}",
        query.explain()
    );
    query.stop().unwrap();
}

#[test]
fn operators_that_need_whole_batches_are_refused_before_the_query_starts() {
    let (session, _clock) = session(1);
    let input = MemoryStream::<(String, i64)>::new();
    let events = session.read_stream::<(String, i64)>().memory(&input);
    fn refused<T: streamflow::Data>(writer: DataStreamWriter<T>) -> String {
        writer
            .trigger(Trigger::continuous("1 second"))
            .start()
            .unwrap_err()
            .to_string()
    }
    let dedup = refused(events.drop_duplicates(|r| r.0.clone()).write_stream().memory("d"));
    assert!(
        dedup.contains("`drop_duplicates(..)` is not supported by Trigger::continuous")
            && dedup.contains("micro-batch triggers (default, processing_time, once, available_now)"),
        "{dedup}"
    );
    let windowed = events
        .with_watermark(|r| streamflow::Time::from_millis(r.1), "1 minute")
        .group_by_window(|r| r.0.clone(), tumbling_window("10 seconds"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .memory("w");
    let windowed = refused(windowed);
    assert!(
        windowed.contains(
            "`group_by_window(..).count()` is not supported by Trigger::continuous: event-time windows"
        ),
        "{windowed}"
    );
    let append = refused(
        events
            .group_by(|r| r.0.clone())
            .count()
            .write_stream()
            .output_mode(OutputMode::Complete)
            .memory("a"),
    );
    assert!(
        append.contains("`group_by(..).count()` in Complete mode is not supported by Trigger::continuous"),
        "{append}"
    );
    let bad = Trigger::continuous("1 sec!").check().unwrap_err();
    assert!(bad.starts_with("Trigger::continuous: "), "{bad}");
}

/// A `foreach` writer that keeps (partition, epoch, row) and the epochs it closed.
#[derive(Clone, Default)]
struct Rows(
    Arc<Mutex<(Vec<(u64, u64, i64)>, Vec<u64>)>>,
    Arc<Mutex<Option<(u64, u64)>>>,
);

impl ForeachWriter<i64> for Rows {
    fn open(&mut self, partition: u64, epoch: u64) -> bool {
        *self.1.lock().unwrap() = Some((partition, epoch));
        true
    }
    fn process(&mut self, row: i64) {
        let (p, e) = self.1.lock().unwrap().unwrap();
        self.0.lock().unwrap().0.push((p, e, row));
    }
    fn close(&mut self, _error: Option<&str>) {
        let (_, e) = self.1.lock().unwrap().unwrap();
        self.0.lock().unwrap().1.push(e);
    }
}

#[test]
fn a_foreach_writer_gets_each_row_as_it_comes_opened_per_partition_and_epoch() {
    let (session, _clock) = session(1);
    let input = MemoryStream::<i64>::new();
    let rows = Rows::default();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .map(|n| n + 1)
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .foreach(rows.clone())
        .start()
        .unwrap();
    input.add_data([1, 2]);
    query.process_all_available().unwrap();
    input.add_data([3]);
    query.process_all_available().unwrap();
    let (seen, closed) = rows.0.lock().unwrap().clone();
    assert_eq!(seen, [(0, 0, 2), (0, 0, 3), (0, 1, 4)]);
    assert_eq!(closed, [0, 1]);
    query.stop().unwrap();
}

#[test]
fn a_panic_in_an_operator_stops_the_query_naming_it() {
    let (session, _clock) = session(2);
    let input = MemoryStream::<i64>::new();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .map(|n| if n == 3 { panic!("three") } else { n })
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .memory("boom")
        .start()
        .unwrap();
    input.add_data([1, 2, 3]);
    let err = query.await_termination().unwrap_err();
    match err {
        streamflow::Error::UserCode {
            operator, message, ..
        } => {
            assert_eq!((operator.as_str(), message.as_str()), ("map", "three"))
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_restart_carries_on_from_the_last_epoch_and_micro_batches_can_take_over() {
    let (session, _clock) = session(2);
    let dir = tempfile::tempdir().unwrap();
    let input = MemoryStream::<String>::new();
    let start = |trigger: Trigger, table: &str| {
        session
            .read_stream::<String>()
            .memory(&input)
            .group_by(|w| w.clone())
            .count()
            .write_stream()
            .output_mode(OutputMode::Update)
            .trigger(trigger)
            .checkpoint_location(dir.path())
            .memory(table)
            .start()
            .unwrap()
    };
    let first = start(Trigger::continuous("1 second"), "first");
    input.add_data(["a", "b", "a"].map(String::from));
    first.process_all_available().unwrap();
    input.add_data(["a"].map(String::from));
    first.process_all_available().unwrap();
    first.stop().unwrap();
    // Each epoch wrote its plan, its state and its commit, as a batch does.
    for file in ["offsets/0", "offsets/1", "commits/0", "commits/1"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let second = start(Trigger::continuous("1 second"), "second");
    input.add_data(["b", "c"].map(String::from));
    second.process_all_available().unwrap();
    second.stop().unwrap();
    let rows = session
        .memory_table::<AggRow<String, u64>>("second")
        .unwrap()
        .batches();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, 2); // epoch ids carry on
    assert_eq!(
        last_per_key(&rows[0].1),
        [("b".to_string(), 2), ("c".to_string(), 1)].into()
    );
    // The same checkpoint, now with micro-batches: the state and offsets carry over.
    let third = start(Trigger::default(), "third");
    input.add_data(["a"].map(String::from));
    third.process_all_available().unwrap();
    let rows = session
        .memory_table::<AggRow<String, u64>>("third")
        .unwrap()
        .batches();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0, rows[0].1[0].key.as_str(), rows[0].1[0].value),
        (3, "a", 4)
    );
    third.stop().unwrap();
}

#[test]
fn with_an_emit_interval_a_group_emits_its_latest_row_by_the_end_of_the_epoch() {
    let (session, _clock) = session(2);
    let input = MemoryStream::<String>::new();
    let query = session
        .read_stream::<String>()
        .memory(&input)
        .group_by(|w| w.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        // Longer than the test: every change waits for the end of its epoch.
        .trigger(Trigger::continuous("1 second").with_emit_interval("1 hour"))
        .memory("coalesced")
        .start()
        .unwrap();
    input.add_data(["a", "b", "a", "a", "c", "b"].map(String::from));
    query.process_all_available().unwrap();
    input.add_data(["a"].map(String::from));
    query.process_all_available().unwrap();
    let batches = session
        .memory_table::<AggRow<String, u64>>("coalesced")
        .unwrap()
        .batches();
    let batches: Vec<(u64, BTreeMap<String, u64>)> = batches
        .iter()
        .map(|(id, rows)| (*id, last_per_key(rows)))
        .collect();
    assert_eq!(
        batches[0].1,
        [("a".into(), 3), ("b".into(), 2), ("c".into(), 1)].into()
    );
    assert_eq!(batches[1].1, [("a".into(), 4)].into());
    let rows: usize = session
        .memory_table::<AggRow<String, u64>>("coalesced")
        .unwrap()
        .rows()
        .len();
    assert_eq!(rows, 4, "one row per changed group and epoch");
    query.stop().unwrap();
}
