//! [`StreamingContext`]: settings, the operator graph, and the lifecycle of a DStream job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::exec::{Driver, Executor, JobControl, Schedule};
use crate::graph::Graph;
use crate::metrics::{BatchInfo, Metrics, ReceiverStatus, StreamingListener};
use crate::sink::SinkContext;
use crate::source::{SourceContext, SourceLimits, SourceRun};
use crate::time::{Clock, Duration, IntoDuration, SystemClock, Time};

/// Where a context is in its life (Spark's `StreamingContextState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextState {
    /// Built, not started: operators may be added.
    Initialized,
    /// Started: batches are running.
    Active,
    /// Stopped, by `stop()` or by a failure; cannot be started again.
    Stopped,
}

/// Builds a [`StreamingContext`]: batch interval, parallelism, clock, checkpoint directory.
///
/// # Examples
///
/// ```
/// use streamflow::{Duration, ManualClock, StreamingContext};
///
/// let ssc = StreamingContext::builder()
///     .batch_duration(Duration::seconds(1))
///     .master("local[2]")?
///     .clock(ManualClock::new(0))
///     .app_name("demo")
///     .build()?;
/// assert_eq!(ssc.parallelism(), 2);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[must_use = "a builder does nothing until .build() is called"]
pub struct ContextBuilder {
    batch: Option<Result<Duration>>,
    parallelism: usize,
    app_name: String,
    clock: Arc<dyn Clock>,
    checkpoint: Option<PathBuf>,
    stop_on_shutdown: bool,
    discard_torn_last: bool,
    /// The dashboard's address (`ui()`, in `metrics/ui/`).
    pub(crate) ui: Option<String>,
    source_limits: SourceLimits,
}

impl ContextBuilder {
    /// How fast and how much every receiver of the context may take in: a maximum rate,
    /// backpressure, buffer bounds, the longest line (see [`SourceLimits`] for the defaults).
    /// The rate and backpressure also cap the pull sources whose read limit counts records
    /// (`rate_stream`, `generator_stream`, Kafka), as Spark's backpressure caps a direct stream.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext, source::SourceLimits};
    ///
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .source_limits(SourceLimits::default().backpressure(true).max_rate(50_000))
    ///     .build()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn source_limits(mut self, limits: SourceLimits) -> Self {
        self.source_limits = limits;
        self
    }

    /// With `true`, SIGINT (Ctrl-C) and SIGTERM stop the context gracefully — its receivers
    /// stop, everything they received is processed and the last batch committed — and
    /// `await_termination` then returns, so the program ends normally; a second signal ends it
    /// at once. Off by default (Spark's `spark.streaming.stopGracefullyOnShutdown`).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .stop_gracefully_on_shutdown(true)
    ///     .build()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn stop_gracefully_on_shutdown(mut self, stop: bool) -> Self {
        self.stop_on_shutdown = stop;
        self
    }

    /// With `true`, a restart that finds the last batch's `offsets` or `commits` file torn or
    /// corrupt (a disk that lost a write) drops that file and plans or runs the batch again,
    /// with a warning, instead of failing with [`Error::CorruptCheckpoint`]. Off by default:
    /// nothing in a checkpoint is dropped unless asked.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .discard_torn_last_batch(true)
    ///     .build()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn discard_torn_last_batch(mut self, discard: bool) -> Self {
        self.discard_torn_last = discard;
        self
    }

    /// The batch interval (Spark's `batchDuration`). Required, and not zero.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::builder().batch_duration(Duration::milliseconds(500)).build()?;
    /// assert_eq!(ssc.batch_duration(), Duration::milliseconds(500));
    /// assert!(StreamingContext::builder().batch_duration(Duration::ZERO).build().is_err());
    /// // An absurd interval is refused, not wrapped into batch times that go backwards.
    /// let err = StreamingContext::new(Duration::from_millis(u64::MAX), 2).unwrap_err();
    /// assert!(err.to_string().contains("the batch interval"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn batch_duration(mut self, batch: impl IntoDuration) -> Self {
        self.batch = Some(batch.into_duration());
        self
    }

    /// The number of worker threads and of partitions of shuffles (default 2).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let builder = || StreamingContext::builder().batch_duration(Duration::seconds(1));
    /// assert_eq!(builder().parallelism(4).build()?.parallelism(), 4);
    /// assert!(builder().parallelism(0).build().is_err());
    /// // Far more threads than cores is a mistake, refused with a clear message.
    /// let err = builder().parallelism(10_000).build().unwrap_err();
    /// assert!(err.to_string().contains("parallelism 10000 is more than"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// Sets the parallelism from a Spark master URL: `local`, `local[N]` or `local[*]`.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let builder = || StreamingContext::builder().batch_duration(Duration::seconds(1));
    /// assert_eq!(builder().master("local[3]")?.build()?.parallelism(), 3);
    /// assert_eq!(builder().master("local")?.build()?.parallelism(), 1);
    /// let err = builder().master("yarn").err().unwrap();
    /// assert!(err.to_string().contains("use local, local[N]"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn master(mut self, master: &str) -> Result<Self> {
        self.parallelism = parse_master(master)?;
        Ok(self)
    }

    /// The job's name, used in thread names, logs and `explain()`.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .app_name("clicks")
    ///     .build()?;
    /// assert_eq!(ssc.app_name(), "clicks");
    /// assert!(ssc.explain().starts_with("== clicks "));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }

    /// The clock; a [`ManualClock`](crate::ManualClock) for tests. Default: the system clock.
    ///
    /// ```
    /// use streamflow::{Clock, Duration, ManualClock, StreamingContext};
    ///
    /// let clock = ManualClock::new(5_000);
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// clock.advance(Duration::seconds(1))?;
    /// assert_eq!(ssc.clock().now().millis(), 6_000); // the context follows the test's clock
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The checkpoint directory, created by `build()` if missing (also settable later with
    /// [`StreamingContext::checkpoint`]).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .checkpoint(dir.path())
    ///     .build()?;
    /// assert_eq!(ssc.checkpoint_dir().as_deref(), Some(dir.path()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(mut self, dir: impl AsRef<Path>) -> Self {
        self.checkpoint = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Checks the settings and builds the context (not started).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let err = StreamingContext::builder().build().unwrap_err();
    /// assert!(err.to_string().contains(".batch_duration("), "{err}");
    /// let ssc = StreamingContext::builder().batch_duration(Duration::seconds(1)).build()?;
    /// assert_eq!(ssc.state(), streamflow::ContextState::Initialized); // built, not started
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn build(self) -> Result<StreamingContext> {
        let batch = self
            .batch
            .ok_or_else(|| {
                Error::InvalidConfig(
                    "the batch interval is not set: call .batch_duration(\"1 second\")".into(),
                )
            })?
            .map_err(|e| Error::InvalidConfig(format!("the batch interval: {e}")))?;
        if batch.is_zero() {
            return Err(Error::InvalidConfig(
                "the batch interval must be greater than zero (e.g. Duration::seconds(1))".into(),
            ));
        }
        batch
            .check()
            .map_err(|e| Error::InvalidConfig(format!("the batch interval: {e}")))?;
        if self.parallelism == 0 {
            return Err(Error::InvalidConfig(
                "parallelism must be at least 1 (local[1]); local[2] or more to receive and process at once"
                    .into(),
            ));
        }
        check_parallelism(self.parallelism)?;
        let exec = Arc::new(Executor::new(self.parallelism, &self.app_name)?);
        let checkpoint = self.checkpoint;
        let control = JobControl::new(self.app_name.clone(), self.clock.clone());
        let ssc = StreamingContext {
            inner: Arc::new(ContextInner {
                batch,
                app_name: self.app_name,
                clock: self.clock,
                exec,
                graph: Mutex::new(Graph::new(Some(batch))),
                sources: Mutex::new(Vec::new()),
                checkpoint: Mutex::new(None),
                control,
                metrics: Arc::new(Metrics::new(Arc::default())),
                stop_on_shutdown: self.stop_on_shutdown,
                discard_torn_last: self.discard_torn_last,
                source_limits: self.source_limits,
            }),
        };
        // Created (or checked) now, like `StreamingContext::checkpoint`, so a bad path fails here.
        if let Some(dir) = checkpoint {
            ssc.checkpoint(dir)?;
        }
        crate::metrics::ui::attach_context(&ssc, self.ui)?;
        Ok(ssc)
    }
}

/// The most worker threads a job may ask for: 64 per core of this machine, and never more than
/// 4096. Each is a thread with its own partition of every shuffle (parallelism² buckets), so a
/// number far beyond the cores costs much and buys nothing; 10,000 took minutes to build a
/// first batch.
pub(crate) fn max_parallelism() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_mul(64).min(4096)
}

/// An error saying why `parallelism` is too large, if it is.
pub(crate) fn check_parallelism(parallelism: usize) -> Result<()> {
    let max = max_parallelism();
    if parallelism > max {
        return Err(Error::InvalidConfig(format!(
            "parallelism {parallelism} is more than {max}, the most this machine allows (64 per core, at most 4096): use about as many as it has cores (local[*])"
        )));
    }
    Ok(())
}

fn parse_master(master: &str) -> Result<usize> {
    let bad = || {
        Error::InvalidConfig(format!(
            "unsupported master \"{master}\": use local, local[N] with N >= 1, or local[*]"
        ))
    };
    match master.trim() {
        "local" => Ok(1),
        "local[*]" => Ok(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
        other => {
            let n = other
                .strip_prefix("local[")
                .and_then(|rest| rest.strip_suffix(']'))
                .ok_or_else(bad)?
                .parse::<usize>()
                .map_err(|_| bad())?;
            if n == 0 { Err(bad()) } else { Ok(n) }
        }
    }
}

pub(crate) struct ContextInner {
    pub(crate) batch: Duration,
    pub(crate) app_name: String,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) exec: Arc<Executor>,
    pub(crate) graph: Mutex<Graph>,
    /// The sources behind the `Source` trait, in the order they were added.
    pub(crate) sources: Mutex<Vec<Arc<dyn SourceRun>>>,
    checkpoint: Mutex<Option<PathBuf>>,
    pub(crate) control: Arc<JobControl>,
    pub(crate) metrics: Arc<Metrics>,
    /// Stop gracefully on SIGINT / SIGTERM.
    pub(crate) stop_on_shutdown: bool,
    /// Drop a torn last batch of the checkpoint instead of failing.
    pub(crate) discard_torn_last: bool,
    /// What every receiver may take in.
    pub(crate) source_limits: SourceLimits,
}

impl ContextInner {
    pub(crate) fn lock_graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a failure, stops the job and wakes everyone waiting for termination.
    pub(crate) fn fail(&self, error: Error) {
        self.control.fail(error);
    }
}

/// The entry point of a DStream job (Spark's `StreamingContext`): it owns the batch interval,
/// the worker pool (`local[N]`), the clock, the graph of streams, and the job's lifecycle.
///
/// Build the graph with the source methods (`socket_text_stream`, `queue_stream` …) and the
/// [`DStream`](crate::DStream) operators, register at least one output operation, then
/// [`start`](Self::start) and [`await_termination`](Self::await_termination). A context is
/// cheap to clone; clones share everything.
///
/// # Examples
///
/// ```
/// use streamflow::{Duration, ManualClock, StreamingContext, ContextState};
///
/// let clock = ManualClock::new(0);
/// let ssc = StreamingContext::builder()
///     .batch_duration(Duration::seconds(1))
///     .clock(clock.clone())
///     .build()?;
/// let queue = streamflow::StreamQueue::new();
/// queue.push(vec!["a b", "a"]);
/// ssc.queue_stream(queue, true, None)
///     .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
///     .map(|w| (w, 1))
///     .reduce_by_key(|a, b| a + b)
///     .print();
/// ssc.start()?;
/// clock.advance(Duration::seconds(1))?;
/// ssc.await_batch(streamflow::Time::from_millis(1_000))?;
/// ssc.stop(true)?;
/// assert_eq!(ssc.state(), ContextState::Stopped);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamingContext {
    pub(crate) inner: Arc<ContextInner>,
}

impl std::fmt::Debug for StreamingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingContext")
            .field("app_name", &self.inner.app_name)
            .field("batch", &self.inner.batch)
            .field("parallelism", &self.inner.exec.parallelism())
            .field("state", &self.state())
            .finish()
    }
}

impl StreamingContext {
    /// A builder with parallelism 2 (`local[2]`), the system clock and no checkpoint directory.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::builder().batch_duration(Duration::seconds(1)).build()?;
    /// assert_eq!((ssc.parallelism(), ssc.app_name()), (2, "streamflow"));
    /// assert!(ssc.checkpoint_dir().is_none());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn builder() -> ContextBuilder {
        ContextBuilder {
            batch: None,
            parallelism: 2,
            app_name: "streamflow".into(),
            clock: Arc::new(SystemClock),
            checkpoint: None,
            stop_on_shutdown: false,
            discard_torn_last: false,
            ui: None,
            source_limits: SourceLimits::default(),
        }
    }

    /// A context with the given batch interval and parallelism, on the system clock
    /// (Spark's `new StreamingContext(conf, Seconds(1))` with `local[N]`).
    ///
    /// The interval is a string, a `std::time::Duration` or a [`Duration`], as everywhere a
    /// duration is taken:
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// assert_eq!(ssc.batch_duration(), Duration::seconds(1));
    /// let ssc = StreamingContext::new(std::time::Duration::from_secs(1), 2)?;
    /// assert_eq!(ssc.batch_duration(), Duration::seconds(1));
    /// let ssc = StreamingContext::new("500 milliseconds", 2)?;
    /// assert_eq!(ssc.batch_duration(), Duration::milliseconds(500));
    /// assert!(StreamingContext::new("1 fortnight", 2).is_err());
    /// assert!(StreamingContext::new(Duration::seconds(1), 0).is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn new(batch: impl IntoDuration, parallelism: usize) -> Result<Self> {
        Self::builder()
            .batch_duration(batch)
            .parallelism(parallelism)
            .build()
    }

    /// The batch interval.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::milliseconds(250), 1)?;
    /// assert_eq!(ssc.batch_duration().millis(), 250);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn batch_duration(&self) -> Duration {
        self.inner.batch
    }

    /// What every receiver of this context may take in (set with
    /// [`ContextBuilder::source_limits`]).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext, source::SourceLimits};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// assert_eq!(ssc.source_limits(), &SourceLimits::default());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn source_limits(&self) -> &SourceLimits {
        &self.inner.source_limits
    }

    /// The number of worker threads (and default number of shuffle partitions).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// assert_eq!(StreamingContext::new(Duration::seconds(1), 3)?.parallelism(), 3);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn parallelism(&self) -> usize {
        self.inner.exec.parallelism()
    }

    /// The job's name.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// assert_eq!(ssc.app_name(), "streamflow"); // the default; set it with the builder
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn app_name(&self) -> &str {
        &self.inner.app_name
    }

    /// The clock the driver follows.
    ///
    /// ```
    /// use streamflow::{Clock, Duration, ManualClock, StreamingContext, Time};
    ///
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .clock(ManualClock::new(7_000))
    ///     .build()?;
    /// assert_eq!(ssc.clock().now(), Time::from_millis(7_000));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// Sets the checkpoint directory, which stateful operators require. The directory is
    /// created if it does not exist.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let ssc = streamflow::StreamingContext::new(streamflow::Duration::seconds(1), 2)?;
    /// ssc.checkpoint(dir.path().join("ckpt"))?;
    /// assert!(ssc.checkpoint_dir().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::Directory {
            path: dir.to_path_buf(),
            reason: format!("cannot create the checkpoint directory: {e}"),
        })?;
        *self.inner.checkpoint.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir.to_path_buf());
        Ok(())
    }

    /// The checkpoint directory, if set.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// assert_eq!(ssc.checkpoint_dir(), None);
    /// ssc.checkpoint(dir.path())?;
    /// assert_eq!(ssc.checkpoint_dir().as_deref(), Some(dir.path()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint_dir(&self) -> Option<PathBuf> {
        self.inner
            .checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Keeps every stream's batches for at least `duration` (Spark's `remember`), e.g. so that
    /// `foreach_batch` code can look at older data. Errors name a bad duration.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// ssc.remember("1 minute")?;
    /// let err = ssc.remember("1 minuet").unwrap_err();
    /// assert!(err.to_string().contains("unknown unit"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn remember(&self, duration: impl IntoDuration) -> Result<()> {
        let duration = duration.into_duration()?;
        self.ensure_initialized("remember")?;
        let graph = self.inner.lock_graph();
        graph.remember_all(duration);
        Ok(())
    }

    /// Where the context is in its life.
    ///
    /// ```
    /// use streamflow::{ContextState, Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let ssc = t.context();
    /// t.input(vec![vec![1]]).print();
    /// assert_eq!(ssc.state(), ContextState::Initialized);
    /// ssc.start()?;
    /// assert_eq!(ssc.state(), ContextState::Active);
    /// ssc.stop(false)?;
    /// assert_eq!(ssc.state(), ContextState::Stopped);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "getState")]
    pub fn state(&self) -> ContextState {
        self.inner.control.phase()
    }

    /// The fused stages of the graph, one line per stage.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext, StreamQueue};
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// ssc.queue_stream(StreamQueue::<String>::new(), true, None)
    ///     .map(|l| l.to_uppercase())
    ///     .filter(|l| !l.is_empty())
    ///     .print();
    /// let plan = ssc.explain();
    /// // The source stores its batch; map and filter then run as one pass over it.
    /// assert!(plan.contains("stage 1: queue_stream\n"), "{plan}");
    /// assert!(plan.contains("stage 2: map [reads stage 1] -> filter -> print (output)"), "{plan}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn explain(&self) -> String {
        let header = format!(
            "== {} (batch {} ms, local[{}]) ==",
            self.inner.app_name,
            self.inner.batch.millis(),
            self.parallelism()
        );
        crate::graph::explain(&self.inner.lock_graph(), &header)
    }

    /// Fails with a clear error unless operators may still be added.
    pub(crate) fn ensure_initialized(&self, what: &str) -> Result<()> {
        match self.state() {
            ContextState::Initialized => Ok(()),
            ContextState::Active => Err(Error::illegal_state(format!(
                "cannot add `{what}`: adding new inputs, transformations and output operations after starting a context is not supported; build the whole graph before start()"
            ))),
            ContextState::Stopped => Err(Error::illegal_state(format!(
                "cannot add `{what}`: the context has already been stopped"
            ))),
        }
    }

    /// Records a mistake made while building the graph; `start()` reports it (or, after start,
    /// the job fails with it so that it is not lost).
    pub(crate) fn defer_error(&self, message: String) {
        if self.state() == ContextState::Initialized {
            self.inner.lock_graph().errors.push(message);
        } else {
            self.inner.fail(Error::illegal_state(message));
        }
    }

    /// Starts the job: validates the graph, starts the sources, the sinks and the driver.
    ///
    /// Errors: no output operation; mistakes recorded while building (bad durations, window
    /// geometry); a stateful operator without checkpoint directory; a source that cannot start
    /// (e.g. a missing directory); starting a stopped context. Starting an active context does
    /// nothing.
    ///
    /// ```
    /// use streamflow::{Duration, Error, ManualClock, StreamQueue, StreamingContext};
    ///
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .clock(ManualClock::new(0))
    ///     .build()?;
    /// let numbers = ssc.queue_stream(StreamQueue::<i32>::new(), true, None);
    /// assert!(matches!(ssc.start(), Err(Error::NoOutputOperations)));
    /// numbers.print();
    /// ssc.start()?;
    /// ssc.start()?; // already active: nothing happens
    /// ssc.stop(false)?;
    /// assert!(ssc.start().is_err()); // a stopped context cannot start again
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn start(&self) -> Result<()> {
        match self.state() {
            ContextState::Active => {
                log::warn!(
                    "{}: start() called on a context that is already active",
                    self.inner.app_name
                );
                return Ok(());
            }
            ContextState::Stopped => {
                return Err(Error::illegal_state(
                    "the context has already been stopped and cannot be started again: build a new StreamingContext",
                ));
            }
            ContextState::Initialized => {}
        }
        let has_checkpoint = self.checkpoint_dir().is_some();
        self.inner.lock_graph().validate(has_checkpoint)?;
        let sources = self
            .inner
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let now = self.inner.clock.now();
        let batch = self.inner.batch.millis() as i64;
        // Like Spark's RecurringTimer: the first batch is at the next multiple of the interval.
        let first = Time::from_millis((now.millis().div_euclid(batch) + 1) * batch);
        let mut zero = first - self.inner.batch;
        let durability = match self.checkpoint_dir() {
            Some(dir) => Some(self.open_checkpoint(&dir, sources.len(), zero)?),
            None => None,
        };
        // A restarted context keeps the batch times of the run that wrote the checkpoint.
        if let Some(recorded) = durability
            .as_ref()
            .and_then(|d| d.recovered.as_ref())
            .and_then(|r| r.sticky.get(ZERO_TIME))
            .and_then(|z| z.parse::<i64>().ok())
        {
            zero = Time::from_millis(recorded);
        }
        self.inner.lock_graph().clock.set_zero(zero);
        let control = self.inner.control.clone();
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || control.wake());
        let source_ctx = SourceContext::new(wake, zero, self.parallelism());
        let sink_ctx = SinkContext::new(self.inner.app_name.clone(), crate::structured::OutputMode::Append);
        let started = crate::exec::start_all(
            &sources,
            &source_ctx,
            durability.as_ref().map(|d| d.checkpoint.as_ref()),
        )?;
        let graph = self.inner.lock_graph();
        for output in &graph.outputs {
            if let Err(e) = output.run.start(&sink_ctx) {
                drop(graph);
                started();
                return Err(e);
            }
        }
        let driver = Driver {
            control: self.inner.control.clone(),
            clock: self.inner.clock.clone(),
            sources,
            inputs: graph.inputs.clone(),
            outputs: graph.outputs.clone(),
            forgetters: graph.forgetters.clone(),
            rebuildable: graph.rebuildable(),
            windows_over_state: graph.windows_over_state(),
            schedule: Schedule::Interval {
                first,
                interval: self.inner.batch,
            },
            vocabulary: Box::new(crate::metrics::DStreamReports::new(self.inner.clone())),
            next_id: 0,
            last_time: None,
            durability,
        };
        drop(graph);
        self.inner.control.update(|s| s.phase = ContextState::Active);
        let handle = std::thread::Builder::new()
            .name(format!("{}-driver", self.inner.app_name))
            .spawn(move || driver.run())
            .map_err(|e| Error::io("cannot start the driver thread", e))?;
        self.inner.control.set_thread(handle);
        if self.inner.stop_on_shutdown {
            crate::exec::stop_gracefully_on_shutdown(&self.inner.control);
        }
        self.inner.metrics.started(zero);
        log::info!("{}: started, first batch at {first}", self.inner.app_name);
        Ok(())
    }

    /// Spark's `StreamingContext.getOrCreate`: a context that carries on from the checkpoint
    /// at `dir` if there is one there, else a new one. `create` builds the context and its
    /// whole pipeline — in both cases, since a pipeline is code, not data: on a restart the
    /// same pipeline is built and the checkpoint supplies where it stopped (its batch times,
    /// the state of its stateful streams, its sources' offsets, the batch that was running).
    /// The checkpoint directory is set to `dir`.
    ///
    /// Errors: whatever `create` returns; a checkpoint at `dir` that is damaged
    /// ([`Error::CorruptCheckpoint`], naming the file) or was written by a different pipeline
    /// ([`Error::IncompatibleRestart`], naming what changed) — reported here, before anything
    /// runs.
    ///
    /// ```
    /// use streamflow::{Duration, ManualClock, StreamingContext};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let create = || {
    ///     let ssc = StreamingContext::builder()
    ///         .batch_duration(Duration::seconds(1))
    ///         .clock(ManualClock::new(0))
    ///         .build()?;
    ///     ssc.generator_stream(2, |i| i).print();
    ///     Ok(ssc)
    /// };
    /// let ssc = StreamingContext::get_or_create(dir.path(), create)?;
    /// assert_eq!(ssc.checkpoint_dir().as_deref(), Some(dir.path()));
    /// ssc.start()?;
    /// ssc.stop(false)?;
    /// // A second time, the same pipeline carries on from the checkpoint.
    /// let again = StreamingContext::get_or_create(dir.path(), create)?;
    /// again.start()?;
    /// again.stop(false)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn get_or_create(
        dir: impl AsRef<Path>,
        create: impl FnOnce() -> Result<StreamingContext>,
    ) -> Result<StreamingContext> {
        let dir = dir.as_ref();
        let ssc = create()?;
        ssc.checkpoint(dir)?;
        if crate::checkpoint::Checkpoint::exists(dir) {
            // Checked now, so that a damaged or foreign checkpoint fails before anything runs.
            let sources = ssc.inner.sources.lock().unwrap_or_else(|e| e.into_inner()).len();
            ssc.open_checkpoint(dir, sources, Time::from_millis(0))?;
            log::info!(
                "{}: will carry on from the checkpoint at {}",
                ssc.inner.app_name,
                dir.display()
            );
        }
        Ok(ssc)
    }

    /// Opens the checkpoint directory for this context's job: its settings (batch interval,
    /// sources, stateful operators) checked against those recorded, and where it carries on.
    fn open_checkpoint(&self, dir: &Path, sources: usize, zero: Time) -> Result<crate::exec::Durability> {
        let graph = self.inner.lock_graph();
        let stores = graph
            .stateful
            .iter()
            .map(|s| {
                let owner: Arc<dyn crate::checkpoint::state::StateOwner> = Arc::new(s.store.clone());
                (owner, s.snapshot_every())
            })
            .collect();
        drop(graph);
        let settings = crate::checkpoint::Settings {
            fixed: [
                ("batch interval".to_string(), self.inner.batch.to_string()),
                ("number of sources".to_string(), sources.to_string()),
            ]
            .into(),
            sticky: [(ZERO_TIME.to_string(), zero.millis().to_string())].into(),
        };
        crate::checkpoint::open_for_job(
            &self.inner.app_name,
            dir,
            settings,
            stores,
            crate::checkpoint::OpenOptions {
                discard_torn_last: self.inner.discard_torn_last,
                ..crate::checkpoint::OpenOptions::default()
            },
            || self.inner.app_name.clone(),
        )
    }

    /// Stops the job. With `graceful`, first stops receiving and processes every record already
    /// received; otherwise stops after the batch that is running. Returns once stopped.
    /// Stopping a stopped context does nothing; an error from user code is returned by
    /// [`await_termination`](Self::await_termination), not here.
    ///
    /// ```
    /// use streamflow::{Duration, StreamQueue, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let queue = StreamQueue::new();
    /// queue.push(vec![1]);
    /// queue.push(vec![2, 3]);
    /// let out = t.collect(&t.context().queue_stream(queue, true, None));
    /// t.start()?;
    /// // The clock never moved, yet a graceful stop runs both queued batches first.
    /// t.context().stop(true)?;
    /// assert_eq!(out.batches(), vec![vec![1], vec![2, 3]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn stop(&self, graceful: bool) -> Result<()> {
        match self.state() {
            ContextState::Stopped => return Ok(()),
            ContextState::Initialized => {
                self.inner.control.finish();
                return Ok(());
            }
            ContextState::Active => {}
        }
        self.inner.control.request_stop(graceful);
        self.inner.control.join(self.inner.exec.is_worker_thread());
        Ok(())
    }

    /// Blocks until the context stops; returns the error that stopped it, if any.
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![0]]).map(|x: i32| 10 / x).print();
    /// t.start()?;
    /// assert!(t.advance_batches(1).is_err()); // the job fails in batch 1 ...
    /// let err = t.context().await_termination().unwrap_err(); // ... and stops with the error
    /// assert!(err.to_string().contains("in operator `map`"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn await_termination(&self) -> Result<()> {
        self.inner.control.await_termination(None).map(|_| ())
    }

    /// Like [`await_termination`](Self::await_termination), giving up after `timeout`:
    /// `Ok(true)` if the context stopped, `Ok(false)` on timeout.
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![1]]).print();
    /// t.start()?;
    /// assert!(!t.context().await_termination_or_timeout("10 ms")?); // still running
    /// t.context().stop(false)?;
    /// assert!(t.context().await_termination_or_timeout("10 ms")?);
    /// assert!(t.context().await_termination_or_timeout("soon").is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn await_termination_or_timeout(&self, timeout: impl IntoDuration) -> Result<bool> {
        let timeout = timeout.into_duration()?.to_std();
        self.inner.control.await_termination(Some(timeout))
    }

    /// Blocks until the batch at `time` has run (or the context stopped), without sleeping:
    /// tests advance a [`ManualClock`](crate::ManualClock) and then wait here.
    ///
    /// Returns the error that stopped the job, if it stopped with one.
    ///
    /// ```
    /// use streamflow::{Duration, ManualClock, StreamQueue, StreamingContext, Time};
    ///
    /// let clock = ManualClock::new(0);
    /// let ssc = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let queue = StreamQueue::new();
    /// queue.push(vec![1, 2, 3]);
    /// ssc.queue_stream(queue, true, None).foreach_batch(|_, _| {});
    /// ssc.start()?;
    /// clock.advance(Duration::seconds(1))?;
    /// ssc.await_batch(Time::from_millis(1_000))?;
    /// assert_eq!(ssc.recent_batches()[0].num_records, 3);
    /// # ssc.stop(false)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn await_batch(&self, time: Time) -> Result<()> {
        self.inner
            .metrics
            .await_batch(time, || self.state() == ContextState::Stopped);
        self.inner.control.error().map_or(Ok(()), Err)
    }

    /// Blocks until the receivers together have stored at least `records` records or
    /// `timeout` passed (a string such as `"10 seconds"`, a `std::time::Duration` or a
    /// [`Duration`]); returns whether they did, or an error if `timeout` is no duration. For
    /// tests that feed a socket and must know the data arrived before they advance the manual
    /// clock.
    ///
    /// ```
    /// use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    ///
    /// /// Stores 1, 2 and 3 as soon as it starts.
    /// struct Three;
    /// impl Receiver<i32> for Three {
    ///     fn on_start(&self, ctx: ReceiverContext<i32>) {
    ///         ctx.store_all([1, 2, 3]);
    ///     }
    ///     fn on_stop(&self) {}
    /// }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.context().receiver_stream(Three));
    /// t.start()?;
    /// assert!(t.context().await_records_received(3, std::time::Duration::from_secs(10))?);
    /// t.advance_batches(1)?; // so all three are in batch 1
    /// assert_eq!(out.batches(), vec![vec![1, 2, 3]]);
    /// assert!(!t.context().await_records_received(4, "10 ms")?); // a string,
    /// assert!(!t.context().await_records_received(4, Duration::milliseconds(10))?); // or ours
    /// assert!(t.context().await_records_received(4, "ten seconds").is_err());
    /// # t.context().stop(false)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn await_records_received(&self, records: u64, timeout: impl IntoDuration) -> Result<bool> {
        let timeout = timeout.into_duration()?.to_std();
        Ok(self.inner.metrics.await_received(records, timeout))
    }

    /// Adds a listener that hears about batches and receivers.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use streamflow::{Duration, StreamingListener, Time, testing::TestContext};
    ///
    /// /// Notes when the job started.
    /// #[derive(Default)]
    /// struct Started(Mutex<Option<Time>>);
    /// impl StreamingListener for Started {
    ///     fn on_streaming_started(&self, zero_time: Time) {
    ///         *self.0.lock().unwrap() = Some(zero_time);
    ///     }
    /// }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let started = Arc::new(Started::default());
    /// t.context().add_streaming_listener(started.clone());
    /// t.input(vec![vec![1]]).print();
    /// t.run(1)?;
    /// // The clock was at 0, so the first batch ran at 1 s and the zero time is 0.
    /// assert_eq!(*started.0.lock().unwrap(), Some(Time::from_millis(0)));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn add_streaming_listener(&self, listener: Arc<dyn StreamingListener>) {
        self.inner.metrics.add_listener(listener);
    }

    /// The most recent completed batches (up to 1000), oldest first.
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec!["a", "b"], vec!["c"]]).print();
    /// t.run(2)?;
    /// let summary: Vec<_> = t
    ///     .context()
    ///     .recent_batches()
    ///     .iter()
    ///     .map(|b| (b.batch_time.millis(), b.num_records))
    ///     .collect();
    /// assert_eq!(summary, [(1_000, 2), (2_000, 1)]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn recent_batches(&self) -> Vec<BatchInfo> {
        self.inner.metrics.recent()
    }

    /// The status of every source that reports one — receivers, sockets, file streams —
    /// in the order they were added (active, records, undecodable input, errors, last error …).
    ///
    /// ```
    /// use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    ///
    /// /// Reports an error, then stores one line.
    /// struct Flaky;
    /// impl Receiver<String> for Flaky {
    ///     fn on_start(&self, ctx: ReceiverContext<String>) {
    ///         ctx.report_error("connection refused");
    ///         ctx.store("hello".to_string());
    ///     }
    ///     fn on_stop(&self) {}
    ///     fn name(&self) -> String {
    ///         "flaky".into()
    ///     }
    /// }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.context().receiver_stream(Flaky).print();
    /// assert_eq!(t.context().receiver_statuses()[0].name, "flaky"); // listed before start
    /// t.start()?;
    /// assert!(t.context().await_records_received(1, std::time::Duration::from_secs(10))?);
    /// let status = &t.context().receiver_statuses()[0];
    /// assert_eq!((status.records, status.errors), (1, 1));
    /// assert_eq!(status.last_error.as_deref(), Some("connection refused"));
    /// # t.context().stop(false)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn receiver_statuses(&self) -> Vec<ReceiverStatus> {
        self.inner
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|c| c.status())
            .collect()
    }
}

/// The checkpoint's record of a context's zero time: the batch times of a restarted context
/// are those of the run that wrote the checkpoint.
const ZERO_TIME: &str = "zero time";

#[cfg(test)]
mod tests {
    use super::parse_master;

    #[test]
    fn master_urls() {
        assert_eq!(parse_master("local").ok(), Some(1));
        assert_eq!(parse_master("local[4]").ok(), Some(4));
        assert!(parse_master("local[*]").is_ok_and(|n| n >= 1));
        for bad in ["local[0]", "local[x]", "yarn", "local[2"] {
            let err = parse_master(bad).unwrap_err().to_string();
            assert!(err.contains("unsupported master"), "{err}");
        }
    }
}
