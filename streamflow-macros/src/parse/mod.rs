//! Parsing: the attribute into a [`JobConfig`](crate::model::JobConfig), the signature into
//! the context parameter, and the function body into a [`Pipeline`](crate::model::Pipeline).
//!
//! | module | reads |
//! |---|---|
//! | `attribute` | `#[stream_job(key = value, ..)]` |
//! | `signature` | the vocabulary, the context parameter, the stream parameters |
//! | `body` | the body's method chains into the pipeline model |
//! | `durations` | `Duration::from_secs(10)` and the like, in milliseconds |

mod attribute;
mod body;
mod durations;
mod signature;

pub(crate) use attribute::parse_attribute;
pub(crate) use body::parse_body;
pub(crate) use durations::duration_constructor;
pub(crate) use signature::{ContextParam, parse_signature, stream_params, vocabulary};
