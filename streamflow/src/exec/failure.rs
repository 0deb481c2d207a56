//! Naming the operator whose user function failed.
//!
//! Every call into user code goes through `guard`, which only notes the operator's name in a
//! thread-local (one store; it does not stop the user's closure from being inlined into the
//! fused loop, which a `catch_unwind` per call would). Each task on the worker pool runs under
//! `run_task`, which catches a panic once per partition and re-raises it as an `OperatorPanic`
//! carrying the name noted last on that thread. The driver turns it into
//! `Error::UserCode`, which `await_termination` returns.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    static CURRENT_OPERATOR: Cell<&'static str> = const { Cell::new("") };
}

/// A panic in user code, tagged with the operator it happened in.
#[derive(Debug)]
pub(crate) struct OperatorPanic {
    pub(crate) operator: &'static str,
    pub(crate) message: String,
}

/// An error met inside a task, where there is no `Result` to return it through (a source's
/// partition that reads a file, say): it unwinds to the driver like a panic, which fails the
/// batch with the error itself.
pub(crate) struct TaskError(pub(crate) crate::error::Error);

/// Fails the running task, and with it the batch, with `error` (see [`TaskError`]). Unlike a
/// panic it prints nothing: the driver reports the error.
pub(crate) fn raise(error: crate::error::Error) -> ! {
    panic::resume_unwind(Box::new(TaskError(error)))
}

/// Runs user code `f` of `operator`, noting the operator so that a panic can be attributed.
#[inline(always)]
pub(crate) fn guard<R>(operator: &'static str, f: impl FnOnce() -> R) -> R {
    CURRENT_OPERATOR.with(|c| c.set(operator));
    f()
}

/// The operator whose user code this thread ran last ("" if none).
pub(crate) fn current_operator() -> &'static str {
    CURRENT_OPERATOR.with(|c| c.get())
}

/// Notes `operator` as running on this thread (for code that is not a user function call).
pub(crate) fn set_current_operator(operator: &'static str) {
    CURRENT_OPERATOR.with(|c| c.set(operator));
}

/// Calls a user hook (a listener, say) whose failure must not stop the job: a panic in it is
/// logged with `what` and swallowed, as Spark's listener bus does. Returns whether it returned.
pub(crate) fn call_hook(what: &str, f: impl FnOnce()) -> bool {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => true,
        Err(payload) => {
            log::error!(
                "{what} panicked: {}; the job goes on without it for this event",
                panic_message(payload.as_ref())
            );
            false
        }
    }
}

/// Runs one task; a panic in it is re-raised as an `OperatorPanic` naming the operator.
pub(crate) fn run_task<R>(f: impl FnOnce() -> R) -> R {
    set_current_operator("");
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(tag(payload)),
    }
}

/// Makes sure a panic payload is an `OperatorPanic`.
pub(crate) fn tag(payload: Box<dyn Any + Send>) -> Box<dyn Any + Send> {
    if payload.is::<OperatorPanic>() || payload.is::<TaskError>() {
        return payload;
    }
    let operator = match current_operator() {
        "" => "task",
        name => name,
    };
    Box::new(OperatorPanic {
        operator,
        message: panic_message(payload.as_ref()),
    })
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(p) = payload.downcast_ref::<OperatorPanic>() {
        p.message.clone()
    } else if let Some(TaskError(e)) = payload.downcast_ref::<TaskError>() {
        e.to_string()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Locks `m`, also when a panic poisoned it: every panic is already caught and reported by the
/// guards above, and the data behind these locks stays consistent between statements.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
