//! The engine core shared by both vocabularies: one driver, the `Source` and `Sink` traits,
//! the guard around user callbacks, one engine (pool, clock, listener bus) under a context and
//! its sessions.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use streamflow::sink::{Sink, SinkContext};
use streamflow::source::{ReadLimit, Source, SourceBatch};
use streamflow::structured::{OutputMode, QueryProgress, Session, StreamingQueryListener};
use streamflow::testing::TestContext;
use streamflow::{Batch, BatchId, BatchInfo, Duration, ManualClock, StreamingListener, Time};

/// The numbers `0..total`, at most `per_batch` a batch; replayable.
struct Numbers {
    total: u64,
    per_batch: u64,
}

impl Source for Numbers {
    type Item = u64;
    type Offset = u64;

    fn name(&self) -> String {
        "numbers".into()
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    fn default_read_limit(&self) -> ReadLimit {
        ReadLimit::Max(self.per_batch)
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, _time: Time) -> streamflow::Result<u64> {
        Ok(start + limit.cap(self.total.saturating_sub(*start)))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> streamflow::Result<SourceBatch<u64>> {
        let mut batch = SourceBatch::empty();
        let (start, end) = (*start, *end);
        // Two lazy partitions, produced on the workers.
        let mid = start + (end - start) / 2;
        batch.push_lazy(move |emit| (start..mid).for_each(emit));
        batch.push_lazy(move |emit| (mid..end).for_each(emit));
        Ok(batch)
    }

    fn is_replayable(&self) -> bool {
        true
    }
}

/// Keeps each batch's rows until commit, then records `(batch id, sorted rows)`.
#[derive(Default)]
struct Committed {
    pending: Mutex<Option<(u64, Vec<u64>)>>,
    done: Mutex<Vec<(u64, Vec<u64>)>>,
    modes: Mutex<Vec<OutputMode>>,
}

impl Sink<u64> for Committed {
    fn name(&self) -> String {
        "committed".into()
    }

    fn start(&self, ctx: &SinkContext) -> streamflow::Result<()> {
        self.modes.lock().unwrap().push(ctx.output_mode());
        Ok(())
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<u64>) -> streamflow::Result<()> {
        let mut rows = rows.collect();
        rows.sort_unstable();
        *self.pending.lock().unwrap() = Some((batch.id, rows));
        Ok(())
    }

    fn commit(&self, batch: BatchId) -> streamflow::Result<()> {
        let pending = self.pending.lock().unwrap().take();
        match pending {
            Some((id, rows)) if id == batch.id => {
                self.done.lock().unwrap().push((id, rows));
                Ok(())
            }
            other => Err(streamflow::Error::IllegalState(format!(
                "commit of {batch} without its rows: {other:?}"
            ))),
        }
    }
}

#[test]
fn one_source_and_sink_type_serve_both_vocabularies() -> streamflow::Result<()> {
    // DStream: one batch per interval, each taking at most 4 numbers.
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let dstream_sink = Arc::new(Committed::default());
    t.context()
        .source_stream(Numbers {
            total: 10,
            per_batch: 4,
        })
        .map(|x| x * 10)
        .sink(dstream_sink.clone());
    t.run(4)?;
    assert_eq!(
        *dstream_sink.done.lock().unwrap(),
        [
            (0, vec![0, 10, 20, 30]),
            (1, vec![40, 50, 60, 70]),
            (2, vec![80, 90]),
            (3, vec![]),
        ]
    );
    assert_eq!(*dstream_sink.modes.lock().unwrap(), [OutputMode::Append]);

    // Structured: the same types; a query runs batches only while there is data.
    let session = Session::builder()
        .clock(ManualClock::new(0))
        .parallelism(2)
        .build()?;
    let query_sink = Arc::new(Committed::default());
    let query = session
        .read_stream::<u64>()
        .source(Numbers {
            total: 10,
            per_batch: 4,
        })
        .map(|x| x + 1)
        .write_stream()
        .output_mode(OutputMode::Update)
        .sink(query_sink.clone())
        .start()?;
    query.process_all_available()?;
    query.stop()?;
    assert_eq!(
        *query_sink.done.lock().unwrap(),
        [(0, vec![1, 2, 3, 4]), (1, vec![5, 6, 7, 8]), (2, vec![9, 10]),]
    );
    assert_eq!(*query_sink.modes.lock().unwrap(), [OutputMode::Update]);
    let progress = query.recent_progress();
    let ends: Vec<u64> = progress
        .iter()
        .map(|p| p.sources[0].end_offset.as_u64().unwrap_or(u64::MAX))
        .collect();
    assert_eq!(ends, [4, 8, 10]);
    assert_eq!(progress[2].sources[0].num_input_rows, 2);
    Ok(())
}

/// A DStream listener that panics on every completed batch.
#[derive(Default)]
struct PanickingListener {
    calls: AtomicU64,
}

impl StreamingListener for PanickingListener {
    fn on_batch_completed(&self, _info: &BatchInfo) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        panic!("listener bug");
    }
}

#[test]
fn a_panicking_dstream_listener_is_logged_and_the_job_goes_on() -> streamflow::Result<()> {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let listener = Arc::new(PanickingListener::default());
    t.context().add_streaming_listener(listener.clone());
    let out = t.collect(&t.input(vec![vec![1], vec![2], vec![3]]).map(|x| x * 2));
    t.start()?;
    t.advance_batches(3)?;
    assert_eq!(out.batches(), vec![vec![2], vec![4], vec![6]]);
    assert_eq!(listener.calls.load(Ordering::SeqCst), 3);
    t.context().stop(true)?;
    // The job reached its end and reports no error: the listener's panics did not stop it.
    t.context().await_termination()?;
    assert_eq!(t.context().state(), streamflow::ContextState::Stopped);
    Ok(())
}

/// A query listener that panics on every event.
#[derive(Default)]
struct PanickingQueryListener {
    progress: AtomicU64,
    terminated: AtomicU64,
}

impl StreamingQueryListener for PanickingQueryListener {
    fn on_query_started(&self, _event: &streamflow::structured::QueryStartedEvent) {
        panic!("started bug");
    }
    fn on_query_progress(&self, _progress: &QueryProgress) {
        self.progress.fetch_add(1, Ordering::SeqCst);
        panic!("progress bug");
    }
    fn on_query_terminated(&self, _event: &streamflow::structured::QueryTerminatedEvent) {
        self.terminated.fetch_add(1, Ordering::SeqCst);
        panic!("terminated bug");
    }
}

#[test]
fn a_panicking_query_listener_is_logged_and_the_query_goes_on() -> streamflow::Result<()> {
    let session = Session::builder()
        .clock(ManualClock::new(0))
        .parallelism(1)
        .build()?;
    let listener = Arc::new(PanickingQueryListener::default());
    session.add_listener(listener.clone());
    let input = streamflow::structured::MemoryStream::<i64>::new();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .memory("after_panics")
        .start()?;
    input.add_data([1, 2]);
    query.process_all_available()?;
    input.add_data([3]);
    query.process_all_available()?;
    assert!(query.is_active());
    assert_eq!(session.memory_table::<i64>("after_panics")?.rows(), [1, 2, 3]);
    assert_eq!(listener.progress.load(Ordering::SeqCst), 2);
    query.stop()?;
    assert!(query.await_termination_or_timeout("10 s")?);
    assert!(query.exception().is_none());
    assert_eq!(listener.terminated.load(Ordering::SeqCst), 1);
    Ok(())
}

/// A sink whose commit panics.
struct BadCommit;

impl Sink<u64> for BadCommit {
    fn name(&self) -> String {
        "bad_commit".into()
    }
    fn add_batch(&self, _batch: BatchId, _rows: Batch<u64>) -> streamflow::Result<()> {
        Ok(())
    }
    fn commit(&self, _batch: BatchId) -> streamflow::Result<()> {
        panic!("cannot commit");
    }
}

#[test]
fn a_sink_that_panics_in_commit_stops_the_job_with_its_name() -> streamflow::Result<()> {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    t.context()
        .source_stream(Numbers {
            total: 3,
            per_batch: 3,
        })
        .sink(BadCommit);
    t.start()?;
    assert!(t.advance_batches(1).is_err());
    let err = t.context().await_termination().unwrap_err().to_string();
    assert!(
        err.contains("bad_commit") && err.contains("cannot commit"),
        "{err}"
    );

    let session = Session::builder()
        .clock(ManualClock::new(0))
        .parallelism(1)
        .build()?;
    let query = session
        .read_stream::<u64>()
        .source(Numbers {
            total: 3,
            per_batch: 3,
        })
        .write_stream()
        .sink(BadCommit)
        .start()?;
    let err = query.process_all_available().unwrap_err().to_string();
    assert!(err.contains("bad_commit"), "{err}");
    // The query is over and every wait returns.
    query.await_termination().unwrap_err();
    assert!(!query.is_active());
    Ok(())
}

#[test]
fn dstream_batches_have_ids_in_order_and_their_interval_times() -> streamflow::Result<()> {
    #[derive(Default)]
    struct Ids(Mutex<Vec<BatchId>>);
    impl Sink<u64> for Ids {
        fn name(&self) -> String {
            "ids".into()
        }
        fn add_batch(&self, batch: BatchId, _rows: Batch<u64>) -> streamflow::Result<()> {
            self.0.lock().unwrap().push(batch);
            Ok(())
        }
    }
    let t = TestContext::new(Duration::seconds(2), 1)?;
    let ids = Arc::new(Ids::default());
    t.context()
        .source_stream(Numbers {
            total: 0,
            per_batch: 1,
        })
        .sink(ids.clone());
    t.run(3)?;
    let seen: Vec<(u64, i64)> = ids
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|b| (b.id, b.time.millis()))
        .collect();
    assert_eq!(seen, [(0, 2_000), (1, 4_000), (2, 6_000)]);
    Ok(())
}

#[test]
fn a_context_and_its_sessions_share_one_listener_bus() -> streamflow::Result<()> {
    #[derive(Default)]
    struct Count(AtomicU64);
    impl StreamingQueryListener for Count {
        fn on_query_progress(&self, _progress: &QueryProgress) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let (first, second) = (t.context().session(), t.context().session());
    let count = Arc::new(Count::default());
    first.add_listener(count.clone());
    // A query of the other session is heard by the listener added through the first.
    let input = streamflow::structured::MemoryStream::<i64>::new();
    let query = second
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .memory("shared")
        .start()?;
    input.add_data([1]);
    query.process_all_available()?;
    query.stop()?;
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(first.parallelism(), t.context().parallelism());
    Ok(())
}

/// Counts its clones.
#[derive(Debug)]
struct Tracked(Arc<AtomicU64>);

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Tracked(self.0.clone())
    }
}

#[test]
fn a_queued_batch_reaches_its_output_without_a_copy() -> streamflow::Result<()> {
    let clones = Arc::new(AtomicU64::new(0));
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let queue = streamflow::StreamQueue::new();
    queue.push((0..1_000).map(|_| Tracked(clones.clone())));
    let seen = Arc::new(AtomicU64::new(0));
    let counted = seen.clone();
    t.context()
        .queue_stream(queue, true, None)
        .foreach_batch(move |batch, _| counted.store(batch.count(), Ordering::SeqCst));
    t.run(1)?;
    assert_eq!(seen.load(Ordering::SeqCst), 1_000);
    assert_eq!(
        clones.load(Ordering::SeqCst),
        0,
        "records were copied on their way"
    );
    Ok(())
}
