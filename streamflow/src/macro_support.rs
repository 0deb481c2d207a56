//! What the code `#[stream_job]` generates refers to: not part of the API, and not to be used
//! by hand.

use std::marker::PhantomData;

/// Holds for a job function only when the context it builds has a checkpoint directory. A
/// job with stateful operators and no checkpoint in its attribute or body gets the bound
/// `ContextFromAttribute<'_>: CheckpointDirectory` on its builder, which nothing satisfies:
/// calling the builder is the error, with this message, while its `_on` function, which runs
/// the job on a context the caller made (with a checkpoint), compiles. The lifetime keeps the
/// bound from being checked where the function is defined.
#[diagnostic::on_unimplemented(
    message = "this job keeps state across batches, and the context its builder makes has no checkpoint directory",
    label = "builds the context from #[stream_job(...)], which sets no checkpoint directory",
    note = "add `checkpoint = \"dir\"` to #[stream_job(...)] or call `ssc.checkpoint(dir)` in the body, or build a context with a checkpoint and pass it to the job's `_on` function"
)]
pub trait CheckpointDirectory {}

/// The context a job's builder makes from its attribute (see [`CheckpointDirectory`]).
pub struct ContextFromAttribute<'a>(PhantomData<&'a ()>);

// An implementation, so rustc does not suggest writing one; hidden from its diagnostics.
#[diagnostic::do_not_recommend]
impl CheckpointDirectory for () {}

/// The error of a job body without a declared return type that uses `?`: any error, so `?`
/// works on the user's own (`port.parse()?`) as on streamflow's.
pub type BodyError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error a job's `_on` function returns for its body's: a streamflow error as it is, any
/// other as [`Error::Job`](crate::Error::Job) naming the job.
pub fn body_error(job: &str, error: BodyError) -> crate::Error {
    match error.downcast::<crate::Error>() {
        Ok(error) => *error,
        Err(cause) => crate::Error::Job {
            job: job.to_owned(),
            cause: cause.into(),
        },
    }
}
