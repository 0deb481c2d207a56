//! `tracing` spans (feature `tracing`): where a batch's time goes, for a subscriber such as a
//! flame-graph layer or an OpenTelemetry exporter.
//!
//! | span | fields | around |
//! |---|---|---|
//! | `batch` | `job`, `batch_id`, `batch_time` (ms) | one batch, from its plan to its report |
//! | `read` | `input` | a source node (by its index in the job) reading its planned range |
//! | `output` | `output` | one output pulling its batch through the graph to its sink |
//! | `commit` | | committing the sinks and the sources' offsets |
//! | `stage` | `tasks` | one round of tasks on the worker pool (a fused stage, a shuffle side) |
//! | `task` | `partition` | one task: a partition of a stage, on a worker thread |
//!
//! All spans are at `INFO` level under the target `streamflow`. Without the feature these
//! helpers are empty and compile away.

#[cfg(feature = "tracing")]
mod on {
    use crate::time::Time;

    /// An entered span; leaving it when dropped.
    pub(crate) struct Entered(tracing::span::EnteredSpan);

    impl Entered {
        /// Leaves the span before the end of the scope.
        pub(crate) fn exit(self) {
            let _ = self.0.exit();
        }
    }

    pub(crate) fn batch(job: &str, id: u64, time: Time) -> Entered {
        Entered(tracing::info_span!(target: "streamflow", "batch", job, batch_id = id, batch_time = time.millis()).entered())
    }

    pub(crate) fn read(input: usize) -> Entered {
        Entered(tracing::info_span!(target: "streamflow", "read", input).entered())
    }

    pub(crate) fn output(output: &str) -> Entered {
        Entered(tracing::info_span!(target: "streamflow", "output", output).entered())
    }

    pub(crate) fn commit() -> Entered {
        Entered(tracing::info_span!(target: "streamflow", "commit").entered())
    }

    /// The span a stage's tasks run under (on other threads: they enter it themselves).
    #[derive(Clone)]
    pub(crate) struct Stage(tracing::Span);

    pub(crate) fn stage(tasks: usize) -> Stage {
        Stage(tracing::info_span!(target: "streamflow", "stage", tasks))
    }

    impl Stage {
        /// Runs `f` as task `partition` of this stage.
        pub(crate) fn task<R>(&self, partition: usize, f: impl FnOnce() -> R) -> R {
            tracing::info_span!(target: "streamflow", parent: &self.0, "task", partition).in_scope(f)
        }

        /// Runs `f` inside the stage's span.
        pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
            self.0.in_scope(f)
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod on {
    use crate::time::Time;

    pub(crate) struct Entered;

    impl Entered {
        #[inline(always)]
        pub(crate) fn exit(self) {}
    }

    #[inline(always)]
    pub(crate) fn batch(_job: &str, _id: u64, _time: Time) -> Entered {
        Entered
    }

    #[inline(always)]
    pub(crate) fn read(_input: usize) -> Entered {
        Entered
    }

    #[inline(always)]
    pub(crate) fn output(_output: &str) -> Entered {
        Entered
    }

    #[inline(always)]
    pub(crate) fn commit() -> Entered {
        Entered
    }

    #[derive(Clone, Copy)]
    pub(crate) struct Stage;

    #[inline(always)]
    pub(crate) fn stage(_tasks: usize) -> Stage {
        Stage
    }

    impl Stage {
        #[inline(always)]
        pub(crate) fn task<R>(&self, _partition: usize, f: impl FnOnce() -> R) -> R {
            f()
        }

        #[inline(always)]
        pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
            f()
        }
    }
}

pub(crate) use on::*;
