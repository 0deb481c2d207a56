//! Parsing: the attribute into a [`JobConfig`](crate::model::JobConfig), the signature into
//! the context parameter, and the function body into a [`Pipeline`](crate::model::Pipeline).
//!
//! | module | reads |
//! |---|---|
//! | `attribute` | `#[stream_job(key = value, ..)]` |
//! | `signature` | the vocabulary, the context parameter, the stream parameters |
//! | `body` | the body's method chains into the pipeline model |
//! | `durations` | `Duration::from_secs(10)` and the like, in milliseconds |
//! | `placement` | whether the job is in an `impl` block |

mod attribute;
mod body;
mod durations;
mod placement;
mod signature;

pub(crate) use attribute::parse_attribute;
pub(crate) use body::{call_id, parse_body};
pub(crate) use durations::duration_constructor;
pub(crate) use placement::in_impl_block;
pub(crate) use signature::{ContextParam, Returns, parse_signature, stream_params, vocabulary, with_ok};
