//! Event time: the rules on output modes, shared with the `#[stream_job]` macro.

pub(crate) mod rules;
