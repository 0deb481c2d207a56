//! The error type of streamflow.
//!
//! Every error says what went wrong and, where there is one, what to do about it. Nothing that a
//! user, a file or the network can cause panics.
//!
//! [`Error`] is `Clone` (a failed job hands the same error to every caller of
//! `await_termination`), keeps the error your own code returned as its
//! [`source()`](std::error::Error::source), and has one variant per kind of failure, so code can
//! tell a missing table from a corrupt checkpoint without reading the message.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The result type used throughout streamflow.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error a user function returned, shared so that [`Error`] stays `Clone`.
pub type UserError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while building or running a streaming job.
///
/// # Examples
///
/// ```
/// use streamflow::{Duration, Error, StreamingContext};
///
/// let err = StreamingContext::new(Duration::ZERO, 2).unwrap_err();
/// assert!(matches!(err, Error::InvalidConfig(_)));
/// assert!(err.to_string().contains("batch interval"));
/// let copy = err.clone(); // errors are `Clone`
/// assert_eq!(copy.to_string(), err.to_string());
/// ```
///
/// The error a user function returns stays reachable, with its own type, as the `source()`:
///
/// ```
/// use std::error::Error as _;
/// # use streamflow::{testing::TestContext, Duration};
///
/// #[derive(Debug)]
/// struct DbDown;
/// impl std::fmt::Display for DbDown {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("db down") }
/// }
/// impl std::error::Error for DbDown {}
///
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// t.input(vec![vec![1]]).foreach_batch(|_, _| Err::<(), _>(DbDown));
/// let err = t.run(1).unwrap_err();
/// assert!(matches!(err, streamflow::Error::UserCode { .. }));
/// assert!(err.source().is_some_and(|s| s.downcast_ref::<DbDown>().is_some()));
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// A setting of the context or of an operator is out of range.
    InvalidConfig(String),

    /// A duration string could not be parsed.
    InvalidDuration(String),

    /// `start()` was called on a graph without any output operation.
    NoOutputOperations,

    /// The graph was changed, or the context started, in a state that does not allow it.
    IllegalState(String),

    /// The graph is invalid: collected while it was built, reported by `start()`.
    InvalidGraph(Vec<String>),

    /// A directory that a source or sink needs does not exist or cannot be read.
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// User code panicked or failed inside an operator. The error it returned, if it returned
    /// one, is the [`source()`](std::error::Error::source).
    #[non_exhaustive]
    UserCode {
        /// The operator whose function failed (e.g. `map`, `foreach_batch`).
        operator: String,
        /// The batch time, in milliseconds since the epoch.
        time: i64,
        /// The panic or error message.
        message: String,
        /// The error the function returned (`None` for a panic).
        cause: Option<UserError>,
    },

    /// A receiver or source failed for good.
    Source {
        /// The source.
        source_name: String,
        /// What happened.
        message: String,
    },

    /// A sink could not write or commit a batch (after its own retries).
    Sink {
        /// The sink.
        sink_name: String,
        /// What happened.
        message: String,
    },

    /// The state of a stateful operator could not be saved or restored: its bytes are corrupt,
    /// or were written for other key or state types, another operator or another number of
    /// partitions.
    State {
        /// The operator whose state it is.
        operator: String,
        /// What went wrong, and what to do.
        message: String,
    },

    /// A file of the checkpoint directory is torn, corrupt or of an unknown version: it is
    /// named, and nothing was read from it.
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what can be done.
        message: String,
    },

    /// A job restarted on a checkpoint with a setting that may not change across restarts (the
    /// number of state partitions, the stateful operators, the sources …) changed.
    IncompatibleRestart {
        /// The setting that changed.
        setting: String,
        /// What it was and what it is now.
        message: String,
    },

    /// A record could not be serialized (or read back) by a sink or a format.
    Serialization {
        /// What was being serialized, and by whom.
        context: String,
        /// The serializer's message.
        message: String,
    },

    /// No table of that name: no query writes to it.
    ///
    /// ```
    /// use streamflow::structured::Session;
    /// let session = Session::builder().build()?;
    /// let err = session.memory_table::<i64>("nowhere").err();
    /// assert!(matches!(&err, Some(streamflow::Error::MissingTable { name }) if name == "nowhere"));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    MissingTable {
        /// The table asked for.
        name: String,
    },

    /// A SQL query over a batch (feature `sql`) failed: it does not parse or plan, it failed
    /// while running, or its rows do not fit the type they were asked as.
    Sql {
        /// The query, or what was being done (`create_data_frame`, `to_df` …).
        query: String,
        /// What went wrong.
        message: String,
    },

    /// A database sink (features `sqlite`, `postgres`) could not write a batch: transient
    /// errors were retried with back-off first.
    Database {
        /// The table written to.
        table: String,
        /// The batch id.
        batch: u64,
        /// What went wrong (and after how many attempts).
        message: String,
    },

    /// The body of a `#[stream_job]` without a declared return type failed with an error of
    /// its own (a `?` on parsing one of its parameters), while building the pipeline: the
    /// error is the [`source()`](std::error::Error::source).
    Job {
        /// The job's function.
        job: String,
        /// The error its body returned.
        cause: UserError,
    },

    /// An I/O error, with what was being done.
    Io {
        /// What streamflow was doing.
        context: String,
        /// The underlying error (shared, so that `Error` is `Clone`).
        source: Arc<std::io::Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            Error::InvalidDuration(m) => write!(f, "invalid duration: {m}"),
            Error::NoOutputOperations => f.write_str(
                "no output operations registered, so nothing to execute: add print(), foreach_batch() or another output operation before start()",
            ),
            Error::IllegalState(m) => f.write_str(m),
            Error::InvalidGraph(problems) => write!(f, "invalid streaming graph:\n{}", problems.join("\n")),
            Error::Directory { path, reason } => {
                write!(f, "directory {} cannot be used: {reason}", path.display())
            }
            Error::UserCode {
                operator,
                time,
                message,
                ..
            } => write!(f, "job failed at batch time {time} ms in operator `{operator}`: {message}"),
            Error::Source { source_name, message } => write!(f, "source `{source_name}` failed: {message}"),
            Error::Sink { sink_name, message } => write!(f, "sink `{sink_name}` failed: {message}"),
            Error::State { operator, message } => write!(f, "state of `{operator}`: {message}"),
            Error::CorruptCheckpoint { path, message } => {
                write!(f, "checkpoint file {} is corrupt: {message}", path.display())
            }
            Error::IncompatibleRestart { setting, message } => {
                write!(f, "cannot restart from the checkpoint: `{setting}` {message}")
            }
            Error::Serialization { context, message } => write!(f, "{context}: {message}"),
            Error::MissingTable { name } => write!(
                f,
                "no memory table named \"{name}\": start a query with .write_stream().memory(\"{name}\") first"
            ),
            Error::Sql { query, message } => write!(f, "SQL `{query}` failed: {message}"),
            Error::Database { table, batch, message } => {
                write!(f, "writing batch {batch} to table `{table}` failed: {message}")
            }
            Error::Job { job, cause } => write!(f, "the job `{job}` failed while building its pipeline: {cause}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::UserCode {
                cause: Some(cause), ..
            } => Some(&**cause),
            Error::Io { source, .. } => Some(&**source),
            Error::Job { cause, .. } => Some(&**cause),
            _ => None,
        }
    }
}

impl Error {
    /// An I/O error, with what was being done — for your own sources and sinks.
    ///
    /// ```
    /// use std::error::Error as _;
    /// let err = streamflow::Error::io("reading /tmp/x", std::io::ErrorKind::NotFound.into());
    /// assert!(err.to_string().starts_with("reading /tmp/x: "));
    /// assert!(err.source().is_some());
    /// ```
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn illegal_state(message: impl Into<String>) -> Self {
        Error::IllegalState(message.into())
    }

    /// What a user function failed with, in `operator` at batch time `time` (ms).
    pub(crate) fn user_code(operator: impl Into<String>, time: i64, failure: Failure) -> Self {
        let (message, cause) = match failure {
            Failure::Panic(message) => (message, None),
            Failure::Returned(cause) => (cause.to_string(), Some(cause)),
        };
        Error::UserCode {
            operator: operator.into(),
            time,
            message,
            cause,
        }
    }

    pub(crate) fn serialization(context: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Serialization {
            context: context.into(),
            message: message.to_string(),
        }
    }
}

/// How a user function failed: it panicked (with this message) or returned an error.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    Panic(String),
    Returned(UserError),
}
