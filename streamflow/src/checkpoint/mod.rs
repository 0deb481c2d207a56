//! The checkpoint directory: what a job writes so that a restart carries on exactly where it
//! stopped.
//!
//! ```text
//! <dir>/metadata            the job's id and the settings that may not change across restarts
//! <dir>/offsets/<batch id>  the batch's plan, written before it runs (the write-ahead log)
//! <dir>/commits/<batch id>  written once its sinks committed
//! <dir>/state/<op>/<part>/  versioned snapshots and deltas of each stateful operator
//! <dir>/sources/<index>/    each source's own records (files taken, received blocks)
//! ```
//!
//! Every file goes through [`file`]: atomic, versioned, checksummed.

pub(crate) mod file;
