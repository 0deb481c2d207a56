//! Scaffolding shared by the integration tests, one copy of it: the manual-clock harness of
//! each vocabulary, the event type of the Structured tests, and the helpers that turn output
//! into plain values to compare. Every test binary compiles this module and uses what it needs.

#![allow(dead_code, reason = "each test binary uses some of the helpers")]

use std::sync::{Arc, Mutex, mpsc};

use streamflow::structured::{
    AggRow, DataStreamWriter, MemoryStream, OutputMode, QueryProgress, Session, StreamingQueryListener,
    WindowSpec,
};
use streamflow::testing::{StreamTest, TestContext, sorted};
use streamflow::{Duration, ManualClock, Time};

/// What a test returns when it uses `?`.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long a test waits for something that should happen at once before it calls it a hang.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// DStreams: the test harness on a manual clock
// ---------------------------------------------------------------------------------------------

/// A test context with one-second batches and two workers.
pub fn test_context() -> TestContext {
    TestContext::new(Duration::seconds(1), 2).unwrap()
}

/// A one-second test context with a checkpoint directory (kept alive by the returned guard).
pub fn checkpointed() -> Result<(TestContext, tempfile::TempDir), Box<dyn std::error::Error>> {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let dir = tempfile::tempdir()?;
    t.context().checkpoint(dir.path())?;
    Ok((t, dir))
}

/// Each batch, sorted, so that results do not depend on partitioning.
pub fn sorted_batches<T: Clone + PartialOrd>(out: &[Vec<T>]) -> Vec<Vec<T>> {
    out.iter().map(|b| sorted(b)).collect()
}

/// Each batch, sorted, with its time in seconds.
pub fn sorted_timed<T: Clone + PartialOrd>(out: Vec<(Time, Vec<T>)>) -> Vec<(i64, Vec<T>)> {
    out.into_iter()
        .map(|(t, b)| (t.millis() / 1_000, sorted(&b)))
        .collect()
}

/// Owned strings, written as `&str` literals.
pub fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// An owned key: state keys are serde data that reads back from bytes, so not `&str`.
pub fn key(k: &str) -> String {
    k.to_string()
}

/// `(key, value)` rows with owned keys, written as `&str` literals.
pub fn own<V>(rows: Vec<(&str, V)>) -> Vec<(String, V)> {
    rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Input batches of `(key, value)` pairs with owned keys, written as `&str` literals: stateful
/// operators and incremental windows keep their keys in state.
pub fn keyed<V>(batches: Vec<Vec<(&str, V)>>) -> Vec<Vec<(String, V)>> {
    batches.into_iter().map(own).collect()
}

/// Output batches with their keys borrowed, to compare with `&str` literals.
pub fn as_str<V: Clone>(batches: &[Vec<(String, V)>]) -> Vec<Vec<(&str, V)>> {
    batches
        .iter()
        .map(|b| b.iter().map(|(k, v)| (k.as_str(), v.clone())).collect())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Structured Streaming: events, sessions on a manual clock, windowed counts
// ---------------------------------------------------------------------------------------------

/// An event of a key at an event time, with an amount to aggregate.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ev {
    pub key: String,
    pub ts: Time,
    pub amount: i64,
}

/// Minute `m` after the epoch.
pub fn min(m: i64) -> Time {
    Time::from_millis(m * 60_000)
}

/// An event of `key` at `minute`, whose amount is the minute.
pub fn ev(key: &str, minute: i64) -> Ev {
    Ev {
        key: key.to_string(),
        ts: min(minute),
        amount: minute,
    }
}

/// A session of two workers on a manual clock at the epoch.
pub fn session() -> Session {
    session_on(&ManualClock::new(0))
}

/// A session of two workers on `clock`.
pub fn session_on(clock: &ManualClock) -> Session {
    Session::builder()
        .parallelism(2)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// A session of `parallelism` workers on a manual clock at the epoch.
pub fn session_with_parallelism(parallelism: usize) -> Session {
    Session::builder()
        .parallelism(parallelism)
        .clock(ManualClock::new(0))
        .build()
        .unwrap()
}

/// The `(key, value)` rows of the memory table `table` of a keyed count, sorted.
pub fn key_counts(s: &Session, table: &str) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = s
        .memory_table::<AggRow<String, u64>>(table)
        .unwrap()
        .rows()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    rows.sort();
    rows
}

/// `input` with a 10-minute watermark, counted per key in the windows of `spec`, written to the
/// memory table `table` in `mode`.
pub fn windowed_count(
    s: &Session,
    input: &MemoryStream<Ev>,
    spec: WindowSpec,
    mode: OutputMode,
    table: &str,
) -> DataStreamWriter<AggRow<String, u64>> {
    s.read_stream::<Ev>()
        .memory(input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), spec)
        .count()
        .write_stream()
        .output_mode(mode)
        .memory(table)
}

/// A row of a windowed aggregation: `(window start minute, window end minute, key, value)`.
pub type WindowRow<V> = (i64, i64, String, V);

/// A windowed-aggregation row as a [`WindowRow`].
pub fn minute_row<V>(r: AggRow<String, V>) -> WindowRow<V> {
    let w = r.window.unwrap();
    (w.start.millis() / 60_000, w.end.millis() / 60_000, r.key, r.value)
}

/// A [`WindowRow`] written as `w(0, 10, "a", 3)`.
pub fn w<V>(start: i64, end: i64, key: &str, value: V) -> WindowRow<V> {
    (start, end, key.to_string(), value)
}

/// The test kit on [`windowed_count`]'s query: events with a 10-minute watermark, counted per
/// key in the windows of `spec`, in `mode`, as [`WindowRow`]s.
pub fn windowed_count_test(spec: WindowSpec, mode: OutputMode) -> StreamTest<Ev, WindowRow<u64>> {
    StreamTest::new(move |s, input| {
        s.read_stream::<Ev>()
            .memory(input)
            .with_watermark(|e| e.ts, "10 minutes")
            .group_by_window(|e| e.key.clone(), spec.clone())
            .count()
            .map(minute_row)
            .write_stream()
            .output_mode(mode)
    })
    .unwrap()
}

/// `(window start minute, window end minute, key, value)`, sorted.
pub fn window_rows<V: Clone + PartialOrd>(rows: &[AggRow<String, V>]) -> Vec<(i64, i64, String, V)> {
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            let w = r.window.unwrap();
            (
                w.start.millis() / 60_000,
                w.end.millis() / 60_000,
                r.key.clone(),
                r.value.clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

/// The watermark a batch ran with, in minutes.
pub fn watermark_minutes(p: &QueryProgress) -> i64 {
    let text = p.event_time.watermark.clone().unwrap();
    chrono::DateTime::parse_from_rfc3339(&text)
        .unwrap()
        .timestamp_millis()
        / 60_000
}

/// Sends the id of every batch a session's queries complete into a channel.
struct BatchDone(Mutex<mpsc::Sender<u64>>);

impl StreamingQueryListener for BatchDone {
    fn on_query_progress(&self, p: &QueryProgress) {
        let _ = self.0.lock().unwrap().send(p.batch_id);
    }
}

/// The ids of the batches the queries of `s` complete, for tests that must wait for a batch that
/// runs at a trigger time (`process_all_available` may return before the clock reaches it).
pub fn batch_events(s: &Session) -> mpsc::Receiver<u64> {
    let (tx, rx) = mpsc::channel();
    s.add_listener(Arc::new(BatchDone(Mutex::new(tx))));
    rx
}

/// Waits for the progress event of batch `id` (the timeout only keeps a broken engine from
/// hanging the test suite).
pub fn wait_for_batch(events: &mpsc::Receiver<u64>, id: u64) {
    loop {
        let got = events.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
        if got >= id {
            return;
        }
    }
}

/// A windowed count named `name` (table `name` with `-` as `_`) in Update mode that has run two
/// rounds: three events, then two, of which the row at minute 5 is late (the watermark is at
/// 22 minutes by then) and dropped.
pub fn count_with_a_late_row(s: &Session, name: &str) -> streamflow::structured::StreamingQuery {
    let input = MemoryStream::<Ev>::new();
    let q = windowed_count(
        s,
        &input,
        streamflow::structured::tumbling_window("10 minutes"),
        streamflow::structured::OutputMode::Update,
        &name.replace('-', "_"),
    )
    .query_name(name)
    .start()
    .unwrap();
    input.add_data([ev("a", 30), ev("b", 31), ev("a", 32)]);
    q.process_all_available().unwrap();
    input.add_data([ev("a", 5), ev("c", 45)]);
    q.process_all_available().unwrap();
    q
}
