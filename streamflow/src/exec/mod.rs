//! Execution: the one driver of both vocabularies, the lifecycle every job shares, the worker
//! pool, and how failures in user code are named.

pub(crate) mod continuous;
mod control;
mod driver;
mod failure;
mod shutdown;

pub(crate) use control::JobControl;
pub use driver::BatchId;
pub(crate) use driver::{BatchPlan, Completed, Driver, Durability, Schedule, Vocabulary};
#[cfg(test)]
pub(crate) use failure::TaskError;
pub(crate) use failure::{call_hook, guard, lock, panic_message, raise};
pub(crate) use shutdown::stop_gracefully_on_shutdown;

use std::sync::Arc;

use crate::source::{SourceContext, SourceRun};

/// Starts every source of a job — source `i` with its directory `sources/<i>` in the
/// checkpoint, if there is one; if one fails, stops those already started and returns its
/// error. On success returns a function that stops them all (for a later failure of start).
pub(crate) fn start_all(
    sources: &[Arc<dyn SourceRun>],
    ctx: &SourceContext,
    checkpoint: Option<&crate::checkpoint::Checkpoint>,
) -> crate::Result<impl FnOnce() + use<>> {
    let stop = {
        let sources = sources.to_vec();
        move |started: usize| sources[..started].iter().for_each(|s| s.stop())
    };
    for (i, source) in sources.iter().enumerate() {
        let ctx = match checkpoint {
            Some(c) => ctx.clone().with_metadata_path(c.source_dir(i)),
            None => ctx.clone(),
        };
        if let Err(e) = source.start(&ctx) {
            stop(i);
            return Err(e);
        }
        if checkpoint.is_some() && !source.is_replayable() {
            log::warn!(
                "source `{}` cannot read its input again: after a restart, the batch that was running when the job stopped cannot be re-run with the same records (use a replayable source — files, rate, Kafka — or a receiver with a write-ahead log)",
                source.name()
            );
        }
    }
    let n = sources.len();
    Ok(move || stop(n))
}

use rayon::prelude::*;

use crate::error::{Error, Result};

/// The worker pool of a context: `local[N]` is a rayon pool of N threads.
pub(crate) struct Executor {
    pool: rayon::ThreadPool,
    parallelism: usize,
}

impl Executor {
    pub(crate) fn new(parallelism: usize, name: &str) -> Result<Self> {
        let prefix = format!("{name}-worker");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism)
            .thread_name(move |i| format!("{prefix}-{i}"))
            .build()
            .map_err(|e| Error::InvalidConfig(format!("cannot start {parallelism} worker threads: {e}")))?;
        Ok(Executor { pool, parallelism })
    }

    /// The number of worker threads, and the default number of partitions.
    pub(crate) fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// Whether the calling thread is one of this pool's workers.
    pub(crate) fn is_worker_thread(&self) -> bool {
        self.pool.current_thread_index().is_some()
    }

    /// Runs `f` on every item in parallel on the worker pool, keeping the order.
    pub(crate) fn run<I, R, F>(&self, items: Vec<I>, f: F) -> Vec<R>
    where
        I: Send,
        R: Send,
        F: Fn(I) -> R + Sync + Send,
    {
        let stage = crate::metrics::spans::stage(items.len());
        let task = |(i, item)| stage.task(i, || failure::run_task(|| f(item)));
        if items.len() <= 1 {
            // One task: run it here rather than hopping threads.
            return stage.run(|| items.into_iter().enumerate().map(task).collect());
        }
        stage.run(|| {
            self.pool
                .install(|| items.into_par_iter().enumerate().map(task).collect())
        })
    }
}
