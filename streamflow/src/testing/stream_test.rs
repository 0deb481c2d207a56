//! [`StreamTest`]: a Structured query under test, driven step by step the way Spark's
//! `StreamTest` drives one — add data, check the answer, advance the clock, stop and restart on
//! the same checkpoint, expect a failure, look at the state.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::{BatchId, lock};
use crate::sink::{Sink, SinkContext};
use crate::structured::{
    DataStreamWriter, MemoryStream, OutputMode, QueryProgress, Session, StateOperatorProgress, StreamingQuery,
};
use crate::time::{IntoDuration, ManualClock, Time};

type Build<I, O> = Box<dyn Fn(&Session, &MemoryStream<I>) -> DataStreamWriter<O>>;

/// A Structured query under test (Spark's `StreamTest`): it reads a [`MemoryStream`] of `I`,
/// writes rows of `O` to a sink the kit keeps across restarts, and checkpoints into a temporary
/// directory of its own (removed when the test drops it), on a [`ManualClock`] at 0.
///
/// Every step runs at once; a check that fails panics with the expected and actual rows, at
/// the line of the test that called it. Answers are compared as multisets (order does not
/// matter), by their `Debug` text.
///
/// | Spark's `StreamTest` | here |
/// |---|---|
/// | `testStream(df, outputMode)(…)` | [`StreamTest::new`] (the output mode is the writer's) |
/// | `AddData(input, rows…)` | [`add_data`](Self::add_data) (then runs every batch that is due) |
/// | `CheckAnswer(rows…)` | [`check_answer`](Self::check_answer) |
/// | `CheckNewAnswer(rows…)` | [`check_new_answer`](Self::check_new_answer) |
/// | `CheckLastBatch(rows…)` | [`check_last_batch`](Self::check_last_batch) |
/// | `AdvanceManualClock(ms)` | [`advance_clock`](Self::advance_clock) |
/// | `StopStream`, `StartStream()` | [`stop_stream`](Self::stop_stream), [`start_stream`](Self::start_stream) |
/// | `ExpectFailure[T]()` | [`expect_failure`](Self::expect_failure) |
/// | `assertNumStateRows(total, updated)` | [`check_state_rows`](Self::check_state_rows), [`state_operators`](Self::state_operators) |
/// | `AssertOnQuery(q => …)` | [`query`](Self::query), [`last_progress`](Self::last_progress) |
///
/// # Examples
///
/// ```
/// use streamflow::structured::*;
/// use streamflow::testing::StreamTest;
///
/// let mut test = StreamTest::new(|session, input: &MemoryStream<String>| {
///     session.read_stream::<String>().memory(input)
///         .group_by(|w| w.clone()).count()
///         .map(|r| (r.key, r.value))
///         .write_stream().output_mode(OutputMode::Complete)
/// })?;
/// test.add_data(["a".to_string(), "b".into(), "a".into()])
///     .check_answer([("a".to_string(), 2), ("b".into(), 1)])
///     .check_state_rows(&[2]);
/// test.stop_stream().add_data(["b".to_string()]); // the data waits for the restart
/// test.start_stream() // same checkpoint: the counts go on
///     .check_answer([("a".to_string(), 2), ("b".into(), 2)]);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct StreamTest<I: Data, O: Data> {
    session: Session,
    clock: ManualClock,
    input: MemoryStream<I>,
    build: Build<I, O>,
    answers: Answers<O>,
    checkpoint: TempDir,
    query: Option<StreamingQuery>,
    failure: Option<Error>,
    /// The number of sink batches the last `check_new_answer` (or any check) saw.
    checked: usize,
}

impl<I: Data, O: Data + Debug> StreamTest<I, O> {
    /// Starts the query `build` returns — a writer without a sink: the kit adds its own, and
    /// its checkpoint — on a session of two workers on a manual clock at 0.
    pub fn new<S: 'static>(
        build: impl Fn(&Session, &MemoryStream<I>) -> DataStreamWriter<O, S> + 'static,
    ) -> Result<Self> {
        let clock = ManualClock::new(0);
        let session = Session::builder()
            .parallelism(2)
            .clock(clock.clone())
            .app_name("stream-test")
            .build()?;
        let mut test = StreamTest {
            session,
            clock,
            input: MemoryStream::new(),
            build: Box::new(move |session, input| build(session, input).into_unchecked()),
            answers: Answers::default(),
            checkpoint: TempDir::new()?,
            query: None,
            failure: None,
            checked: 0,
        };
        test.start()?;
        Ok(test)
    }

    fn start(&mut self) -> Result<()> {
        let writer = (self.build)(&self.session, &self.input)
            .sink(self.answers.clone())
            .checkpoint_location(self.checkpoint.path());
        self.query = Some(writer.start()?);
        self.failure = None;
        Ok(())
    }

    /// Adds rows to the input (Spark's `AddData`) and, if the query runs, processes every batch
    /// that is due. A failure is kept for [`expect_failure`](Self::expect_failure); any other
    /// step panics with it.
    #[track_caller]
    pub fn add_data(&mut self, rows: impl IntoIterator<Item = I>) -> &mut Self {
        self.input.add_data(rows);
        self.process()
    }

    /// Moves the manual clock on by `by` (Spark's `AdvanceManualClock`) — what makes a query
    /// with a processing-time trigger run its next batch — and processes what is due.
    #[track_caller]
    pub fn advance_clock(&mut self, by: impl IntoDuration) -> &mut Self {
        if let Err(e) = self.clock.advance(by) {
            panic!("advance_clock: {e}");
        }
        self.process()
    }

    #[track_caller]
    fn process(&mut self) -> &mut Self {
        self.no_failure();
        if let Some(Err(e)) = self.query.as_ref().map(StreamingQuery::process_all_available) {
            self.failure = Some(e);
        }
        self
    }

    #[track_caller]
    fn no_failure(&self) {
        if let Some(e) = &self.failure {
            panic!("the query failed: {e}");
        }
    }

    /// Every row the sink holds (Spark's `CheckAnswer`): in Complete mode the last batch's
    /// rows, otherwise every row written since the start — across restarts.
    #[track_caller]
    pub fn check_answer(&mut self, expected: impl IntoIterator<Item = O>) -> &mut Self {
        self.no_failure();
        let actual = self.answers.answer();
        same_rows("check_answer", expected, &actual);
        self.checked = self.answers.batch_count();
        self
    }

    /// The rows written since the previous check (Spark's `CheckNewAnswer`).
    #[track_caller]
    pub fn check_new_answer(&mut self, expected: impl IntoIterator<Item = O>) -> &mut Self {
        self.no_failure();
        let batches = self.answers.batches();
        let new: Vec<O> = batches[self.checked.min(batches.len())..]
            .iter()
            .flat_map(|(_, rows)| rows.iter().cloned())
            .collect();
        same_rows("check_new_answer", expected, &new);
        self.checked = batches.len();
        self
    }

    /// The rows of the last batch the sink got (Spark's `CheckLastBatch`).
    #[track_caller]
    pub fn check_last_batch(&mut self, expected: impl IntoIterator<Item = O>) -> &mut Self {
        self.no_failure();
        let batches = self.answers.batches();
        let last = batches.last().map(|(_, rows)| rows.clone()).unwrap_or_default();
        same_rows("check_last_batch", expected, &last);
        self.checked = batches.len();
        self
    }

    /// The total rows of each stateful operator after the last batch (Spark's
    /// `assertNumStateRows(total)`).
    #[track_caller]
    pub fn check_state_rows(&mut self, total: &[u64]) -> &mut Self {
        let actual: Vec<u64> = self.state_operators().iter().map(|s| s.num_rows_total).collect();
        assert_eq!(
            actual, total,
            "check_state_rows: the rows each stateful operator keeps"
        );
        self
    }

    /// Stops the query (Spark's `StopStream`); data added now waits for
    /// [`start_stream`](Self::start_stream).
    #[track_caller]
    pub fn stop_stream(&mut self) -> &mut Self {
        if let Some(Err(e)) = self.query.take().map(|query| query.stop()) {
            panic!("stop_stream: {e}");
        }
        self
    }

    /// Starts the query again on the same checkpoint (Spark's `StartStream()`): it resumes
    /// after the last committed batch, with its state, and processes what is due.
    #[track_caller]
    pub fn start_stream(&mut self) -> &mut Self {
        self.stop_stream();
        if let Err(e) = self.start() {
            panic!("start_stream: {e}");
        }
        self.process()
    }

    /// That the query failed (Spark's `ExpectFailure`), with an error `check` accepts; the
    /// query is stopped, and [`start_stream`](Self::start_stream) may restart it.
    ///
    /// ```
    /// use streamflow::structured::*;
    /// use streamflow::testing::StreamTest;
    ///
    /// let mut test = StreamTest::new(|session, input: &MemoryStream<i32>| {
    ///     session.read_stream::<i32>().memory(input).map(|x| 10 / x).write_stream()
    /// })?;
    /// test.add_data([5]).check_answer([2]);
    /// test.add_data([0]).expect_failure(|e| e.to_string().contains("divide by zero"));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[track_caller]
    pub fn expect_failure(&mut self, check: impl FnOnce(&Error) -> bool) -> &mut Self {
        match self.failure.take() {
            Some(e) => assert!(check(&e), "expect_failure: the query failed otherwise: {e}"),
            None => panic!("expect_failure: the query did not fail"),
        }
        if let Some(query) = self.query.take() {
            let _ = query.stop();
        }
        self
    }

    /// The running query (Spark's `AssertOnQuery`), if it runs.
    pub fn query(&self) -> Option<&StreamingQuery> {
        self.query.as_ref()
    }

    /// The progress of the last batch.
    pub fn last_progress(&self) -> Option<QueryProgress> {
        self.query.as_ref().and_then(StreamingQuery::last_progress)
    }

    /// Each stateful operator's progress in the last batch: rows kept, updated, removed,
    /// dropped by the watermark.
    pub fn state_operators(&self) -> Vec<StateOperatorProgress> {
        self.last_progress()
            .map(|p| p.state_operators)
            .unwrap_or_default()
    }

    /// The rows the stateful operators dropped as too late, over the batches of this run
    /// (Spark's `numRowsDroppedByWatermark`, summed).
    pub fn rows_dropped_by_watermark(&self) -> u64 {
        self.query.as_ref().map_or(0, |q| {
            q.recent_progress()
                .iter()
                .flat_map(|p| p.state_operators.iter())
                .map(|s| s.num_rows_dropped_by_watermark)
                .sum()
        })
    }

    /// The watermark the last batch ran with.
    pub fn watermark(&self) -> Option<Time> {
        self.last_progress().and_then(|p| p.event_time.watermark_time())
    }

    /// The batches the sink got, with their ids — across restarts, each once.
    pub fn batches(&self) -> Vec<(u64, Vec<O>)> {
        self.answers.batches()
    }

    /// The session the query runs in.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The manual clock of the session.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The checkpoint directory of the query.
    pub fn checkpoint(&self) -> &Path {
        self.checkpoint.path()
    }
}

impl<I: Data, O: Data> Drop for StreamTest<I, O> {
    fn drop(&mut self) {
        if let Some(query) = self.query.take() {
            let _ = query.stop();
        }
    }
}

/// Panics, naming `step`, unless `expected` and `actual` hold the same rows.
#[track_caller]
fn same_rows<O: Debug>(step: &str, expected: impl IntoIterator<Item = O>, actual: &[O]) {
    let text = |rows: &mut dyn Iterator<Item = String>| {
        let mut rows: Vec<String> = rows.collect();
        rows.sort();
        rows
    };
    let expected = text(&mut expected.into_iter().map(|r| format!("{r:?}")));
    let actual = text(&mut actual.iter().map(|r| format!("{r:?}")));
    assert!(
        expected == actual,
        "{step}: the rows differ\n  expected: [{}]\n  actual:   [{}]",
        expected.join(", "),
        actual.join(", ")
    );
}

/// The kit's sink: every batch once (a replayed batch id is skipped), kept across restarts.
struct Answers<O> {
    batches: Arc<Mutex<Vec<(u64, Vec<O>)>>>,
    mode: Arc<OnceLock<OutputMode>>,
}

impl<O> Default for Answers<O> {
    fn default() -> Self {
        Answers {
            batches: Arc::default(),
            mode: Arc::default(),
        }
    }
}

impl<O> Clone for Answers<O> {
    fn clone(&self) -> Self {
        Answers {
            batches: self.batches.clone(),
            mode: self.mode.clone(),
        }
    }
}

impl<O: Data> Answers<O> {
    fn batches(&self) -> Vec<(u64, Vec<O>)> {
        lock(&self.batches).clone()
    }

    fn batch_count(&self) -> usize {
        lock(&self.batches).len()
    }

    fn answer(&self) -> Vec<O> {
        let batches = lock(&self.batches);
        match self.mode.get() {
            Some(OutputMode::Complete) => batches.last().map(|(_, rows)| rows.clone()).unwrap_or_default(),
            _ => batches
                .iter()
                .flat_map(|(_, rows)| rows.iter().cloned())
                .collect(),
        }
    }
}

impl<O: Data> Sink<O> for Answers<O> {
    fn name(&self) -> String {
        "StreamTestSink".into()
    }

    fn start(&self, ctx: &SinkContext) -> Result<()> {
        let _ = self.mode.set(ctx.output_mode());
        Ok(())
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<O>) -> Result<()> {
        let rows = rows.collect();
        let mut batches = lock(&self.batches);
        if batches.last().is_some_and(|(last, _)| *last >= batch.id) {
            return Ok(());
        }
        batches.push((batch.id, rows));
        Ok(())
    }
}

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "streamflow-stream-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        Ok(TempDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
