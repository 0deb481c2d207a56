//! The error type of streamflow.
//!
//! Every error says what went wrong and, where there is one, what to do about it. Nothing that a
//! user, a file or the network can cause panics.

use std::path::PathBuf;

/// The result type used throughout streamflow.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting of the context or of an operator is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A duration string could not be parsed.
    #[error("invalid duration: {0}")]
    InvalidDuration(String),

    /// `start()` was called on a graph without any output operation.
    #[error(
        "no output operations registered, so nothing to execute: add print(), foreach_batch() or another output operation before start()"
    )]
    NoOutputOperations,

    /// The graph was changed, or the context started, in a state that does not allow it.
    #[error("{0}")]
    IllegalState(String),

    /// The graph is invalid: collected while it was built, reported by `start()`.
    #[error("invalid streaming graph:\n{}", .0.join("\n"))]
    InvalidGraph(Vec<String>),

    /// A directory that a source or sink needs does not exist or cannot be read.
    #[error("directory {path} cannot be used: {reason}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// User code panicked or failed inside an operator.
    #[error("job failed at batch time {time} ms in operator `{operator}`: {message}")]
    UserCode {
        /// The operator whose function failed (e.g. `map`, `foreach_batch`).
        operator: String,
        /// The batch time, in milliseconds since the epoch.
        time: i64,
        /// The panic or error message.
        message: String,
    },

    /// A receiver or source failed for good.
    #[error("source `{source_name}` failed: {message}")]
    Source {
        /// The source.
        source_name: String,
        /// What happened.
        message: String,
    },

    /// The state of a stateful operator could not be saved or restored: its bytes are corrupt,
    /// or were written for other key or state types, another operator or another number of
    /// partitions.
    #[error("state of `{operator}`: {message}")]
    State {
        /// The operator whose state it is.
        operator: String,
        /// What went wrong, and what to do.
        message: String,
    },

    /// A file of the checkpoint directory is torn, corrupt or of an unknown version: it is
    /// named, and nothing was read from it.
    #[error("checkpoint file {path} is corrupt: {message}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what can be done.
        message: String,
    },

    /// A job restarted on a checkpoint with a setting that may not change across restarts (the
    /// number of state partitions, the stateful operators …) changed.
    #[error("cannot restart from the checkpoint: `{setting}` {message}")]
    IncompatibleRestart {
        /// The setting that changed.
        setting: String,
        /// What it was and what it is now.
        message: String,
    },

    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What streamflow was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn illegal_state(message: impl Into<String>) -> Self {
        Error::IllegalState(message.into())
    }
}
