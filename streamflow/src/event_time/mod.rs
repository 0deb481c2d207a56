//! Event time, for both vocabularies: what an event-time function returns
//! (`timestamp.rs`), the watermark of a query and the event-time statistics of its batches
//! (`watermark.rs`), and the rules on output modes, late data and watermarks (`rules.rs`,
//! shared with the `#[stream_job]` macro). Event-time windows are in `window/event_time.rs`.

pub(crate) mod late;
pub(crate) mod rules;
pub(crate) mod timestamp;
pub(crate) mod watermark;

pub(crate) use timestamp::iso;
