//! Output operations: what makes a stream run.
//!
//! | output | method |
//! |---|---|
//! | first elements of each batch, in Spark's format | [`print`](crate::DStream::print), [`print_n`](crate::DStream::print_n) |
//! | one directory per batch | [`save_as_text_files`](crate::DStream::save_as_text_files) |
//! | user code per batch | [`foreach_batch`](crate::DStream::foreach_batch) (Spark's `foreachRDD`) |
//! | user code per partition | [`foreach_partition`](crate::DStream::foreach_partition) |

mod foreach;
mod print;
mod text_files;

pub use foreach::OutputResult;
pub use print::{Show, format_batch};

use crate::batch::Batch;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::Result;
use crate::time::Time;

impl<T: Data> DStream<T> {
    /// Registers an output operation that receives this stream's batch at each of its times.
    pub(crate) fn output(
        &self,
        name: &str,
        f: impl Fn(Batch<T>, Time) -> Result<()> + Send + Sync + 'static,
    ) {
        if let Err(e) = self.ssc.ensure_initialized(name) {
            self.ssc.defer_error(e.to_string());
            return;
        }
        let node = self.node.clone();
        let run = Box::new(move |time| match node.get_or_compute(time)? {
            Some(batch) => f(batch, time),
            None => Ok(()),
        });
        self.ssc.inner.lock_graph().add_output(name, &self.node.meta, run);
    }
}
