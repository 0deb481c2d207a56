//! [`Session`]: the entry point of Structured Streaming queries (Spark's `SparkSession`).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::reader::DataStreamReader;
use crate::StreamingContext;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::{Executor, lock};
use crate::metrics::ListenerBus;
use crate::metrics::progress::StreamingQueryListener;
use crate::sink::memory::MemoryTable;
use crate::time::{Clock, SystemClock};

pub(crate) struct SessionInner {
    pub(crate) exec: Arc<Executor>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) app_name: String,
    /// The engine's listener bus, shared with the `StreamingContext` it came from.
    pub(crate) bus: Arc<ListenerBus>,
    tables: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    /// Queries stop gracefully on SIGINT / SIGTERM.
    pub(crate) stop_on_shutdown: bool,
}

/// The entry point of Structured Streaming (Spark's `SparkSession`): it owns the worker pool
/// (`local[N]`), the clock, the named in-memory tables of memory sinks, and the query
/// listeners. Clones share everything.
///
/// A session made with [`StreamingContext::session`] shares the context's worker pool, clock
/// and listener bus: both vocabularies run on one engine.
///
/// # Examples
///
/// ```
/// use streamflow::structured::Session;
/// use streamflow::ManualClock;
///
/// let session = Session::builder().parallelism(2).clock(ManualClock::new(0)).build()?;
/// assert_eq!(session.parallelism(), 2);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("app_name", &self.inner.app_name)
            .field("parallelism", &self.parallelism())
            .finish()
    }
}

/// Builds a [`Session`]: parallelism, clock, name.
///
/// ```
/// let session = streamflow::structured::Session::builder().app_name("demo").build()?;
/// assert_eq!(session.app_name(), "demo");
/// # Ok::<(), streamflow::Error>(())
/// ```
#[must_use = "a builder does nothing until .build() is called"]
pub struct SessionBuilder {
    parallelism: usize,
    clock: Arc<dyn Clock>,
    app_name: String,
    stop_on_shutdown: bool,
    /// The dashboard's address (`ui()`, in `metrics/ui/`).
    pub(crate) ui: Option<String>,
}

impl SessionBuilder {
    /// The number of worker threads, and of state partitions of aggregations (default 2).
    ///
    /// ```
    /// use streamflow::structured::Session;
    /// let session = Session::builder().parallelism(4).build()?;
    /// assert_eq!(session.parallelism(), 4);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// The clock triggers follow; a [`ManualClock`](crate::ManualClock) in tests.
    ///
    /// ```
    /// use streamflow::structured::Session;
    /// use streamflow::{Clock, Duration, ManualClock};
    ///
    /// let clock = ManualClock::new(1_000);
    /// let session = Session::builder().clock(clock.clone()).build()?;
    /// clock.advance(Duration::seconds(1))?;
    /// assert_eq!(session.clock().now().millis(), 2_000);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The name used in thread names and logs.
    ///
    /// ```
    /// use streamflow::structured::Session;
    /// let session = Session::builder().app_name("clickstream").build()?;
    /// assert_eq!(session.app_name(), "clickstream");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }

    /// Builds the session (starting its worker pool).
    ///
    /// ```
    /// use streamflow::structured::Session;
    /// assert!(Session::builder().build().is_ok());
    /// let err = Session::builder().parallelism(0).build().unwrap_err();
    /// assert!(err.to_string().contains("parallelism must be at least 1"), "{err}");
    /// let err = Session::builder().parallelism(1_000_000).build().unwrap_err();
    /// assert!(err.to_string().contains("more than"), "{err}");
    /// ```
    pub fn build(self) -> Result<Session> {
        if self.parallelism == 0 {
            return Err(Error::InvalidConfig(
                "parallelism must be at least 1 (e.g. Session::builder().parallelism(2))".into(),
            ));
        }
        crate::context::check_parallelism(self.parallelism)?;
        let exec = Arc::new(Executor::new(self.parallelism, &self.app_name)?);
        let session = Session::from_parts(
            exec,
            self.clock,
            self.app_name,
            Arc::default(),
            self.stop_on_shutdown,
        );
        crate::metrics::ui::attach_session(&session, self.ui)?;
        Ok(session)
    }

    /// With `true`, SIGINT (Ctrl-C) and SIGTERM stop every running query of the session
    /// gracefully — its sources stop receiving, what they received is processed and committed
    /// — and `await_termination` then returns, so the program ends normally; a second signal
    /// ends it at once. Off by default (Spark's `spark.streaming.stopGracefullyOnShutdown`).
    ///
    /// ```
    /// let session = streamflow::structured::Session::builder().stop_gracefully_on_shutdown(true).build()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn stop_gracefully_on_shutdown(mut self, stop: bool) -> Self {
        self.stop_on_shutdown = stop;
        self
    }
}

impl Session {
    /// A builder: parallelism 2, the system clock.
    ///
    /// ```
    /// use streamflow::Clock;
    /// use streamflow::structured::Session;
    ///
    /// let session = Session::builder().build()?;
    /// assert_eq!((session.parallelism(), session.app_name()), (2, "streamflow"));
    /// assert!(session.clock().now().millis() > 1_600_000_000_000); // the system clock
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn builder() -> SessionBuilder {
        SessionBuilder {
            parallelism: 2,
            clock: Arc::new(SystemClock),
            app_name: "streamflow".into(),
            stop_on_shutdown: false,
            ui: None,
        }
    }

    /// A session with `parallelism` workers on the system clock.
    ///
    /// ```
    /// let session = streamflow::structured::Session::new(2)?;
    /// assert_eq!(session.parallelism(), 2);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn new(parallelism: usize) -> Result<Session> {
        Session::builder().parallelism(parallelism).build()
    }

    fn from_parts(
        exec: Arc<Executor>,
        clock: Arc<dyn Clock>,
        app_name: String,
        bus: Arc<ListenerBus>,
        stop_on_shutdown: bool,
    ) -> Session {
        Session {
            inner: Arc::new(SessionInner {
                exec,
                clock,
                app_name,
                bus,
                tables: Mutex::new(HashMap::new()),
                stop_on_shutdown,
            }),
        }
    }

    /// The number of worker threads (and of state partitions).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    /// let ssc = StreamingContext::new(Duration::seconds(1), 3)?;
    /// assert_eq!(ssc.session().parallelism(), 3); // the context's pool
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn parallelism(&self) -> usize {
        self.inner.exec.parallelism()
    }

    /// The session's name.
    ///
    /// ```
    /// assert_eq!(streamflow::structured::Session::new(1)?.app_name(), "streamflow"); // the default
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn app_name(&self) -> &str {
        &self.inner.app_name
    }

    /// The clock triggers follow.
    ///
    /// ```
    /// use streamflow::structured::Session;
    /// use streamflow::{Clock, ManualClock, Time};
    ///
    /// let session = Session::builder().clock(ManualClock::new(5_000)).build()?;
    /// assert_eq!(session.clock().now(), Time::from_millis(5_000));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// A reader for a stream of `T` records (Spark's `spark.readStream`): pick a source with
    /// [`memory`](DataStreamReader::memory), [`files`](DataStreamReader::files),
    /// [`socket`](DataStreamReader::socket) or [`rate`](DataStreamReader::rate).
    ///
    /// ```
    /// use streamflow::structured::{MemoryStream, Session};
    /// let session = Session::new(1)?;
    /// let input = MemoryStream::<i64>::new();
    /// let doubled = session.read_stream::<i64>().memory(&input).map(|x| x * 2);
    /// # let _ = doubled;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn read_stream<T: Data>(&self) -> DataStreamReader<T> {
        DataStreamReader::new(self.clone())
    }

    /// Adds a listener that hears about every query of this session (Spark's
    /// `spark.streams.addListener`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use streamflow::structured::{QueryProgress, Session, StreamingQueryListener};
    ///
    /// struct Log;
    /// impl StreamingQueryListener for Log {
    ///     fn on_query_progress(&self, p: &QueryProgress) { println!("batch {}", p.batch_id) }
    /// }
    /// Session::new(1)?.add_listener(Arc::new(Log));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn add_listener(&self, listener: Arc<dyn StreamingQueryListener>) {
        self.inner.bus.add_query(listener);
    }

    /// The in-memory table a [`memory`](super::DataStreamWriter::memory) sink writes to
    /// (Spark's `spark.table(name)`). Errors when no memory sink of that name and row type
    /// exists.
    ///
    /// ```
    /// use streamflow::structured::{MemoryStream, Session};
    /// let session = Session::new(1)?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("out").start()?;
    /// input.add_data([1, 2]);
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<i64>("out")?.rows(), vec![1, 2]);
    /// assert!(session.memory_table::<String>("out").is_err());
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn memory_table<T: Data>(&self, name: &str) -> Result<MemoryTable<T>> {
        let tables = lock(&self.inner.tables);
        let table = tables.get(name).ok_or_else(|| Error::MissingTable {
            name: name.to_string(),
        })?;
        table
            .clone()
            .downcast::<MemoryTable<T>>()
            .map(|t| (*t).clone())
            .map_err(|_| {
                Error::InvalidConfig(format!(
                    "the memory table \"{name}\" does not hold rows of type {}",
                    std::any::type_name::<T>()
                ))
            })
    }

    /// Registers (or replaces) the table of a memory sink.
    pub(crate) fn register_table<T: Data>(&self, name: &str, table: MemoryTable<T>) {
        lock(&self.inner.tables).insert(name.to_string(), Arc::new(table));
    }
}

impl StreamingContext {
    /// A Structured Streaming [`Session`] on this context's worker pool and clock: DStream jobs
    /// and queries share one engine.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// let session = ssc.session();
    /// assert_eq!(session.parallelism(), 2);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn session(&self) -> Session {
        Session::from_parts(
            self.inner.exec.clone(),
            self.inner.clock.clone(),
            self.inner.app_name.clone(),
            self.inner.metrics.bus.clone(),
            self.inner.stop_on_shutdown,
        )
    }
}
