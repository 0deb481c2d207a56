//! Naming the operator whose user function failed.
//!
//! Each operator runs the user's function under `guard`, which turns a panic into an
//! `OperatorPanic` payload carrying the operator's name. The scheduler catches it at the top of
//! the batch and turns it into `Error::UserCode`, which `await_termination` returns. The happy
//! path costs nothing: `catch_unwind` only does work when something unwinds.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// A panic in user code, tagged with the operator it happened in.
#[derive(Debug)]
pub(crate) struct OperatorPanic {
    pub(crate) operator: &'static str,
    pub(crate) message: String,
}

/// Runs `f`, tagging a panic with `operator` (an already tagged panic passes unchanged).
#[inline]
pub(crate) fn guard<R>(operator: &'static str, f: impl FnOnce() -> R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            if payload.is::<OperatorPanic>() {
                panic::resume_unwind(payload)
            }
            let message = panic_message(payload.as_ref());
            panic::resume_unwind(Box::new(OperatorPanic { operator, message }))
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(p) = payload.downcast_ref::<OperatorPanic>() {
        p.message.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
