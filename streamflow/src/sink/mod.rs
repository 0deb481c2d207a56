//! Sinks: where a job's rows go, in both vocabularies.
//!
//! Every output is a [`Sink`] (`api.rs`): it is started once, given each batch's rows with
//! their [`BatchId`], and committed. One implementation per mechanism:
//!
//! | sink | DStream | Structured |
//! |---|---|---|
//! | first rows of each batch, as Spark prints them (`print.rs`, `console.rs`) | [`print`](crate::DStream::print), [`print_n`](crate::DStream::print_n) | [`console`](crate::structured::DataStreamWriter::console) |
//! | files per batch (`text_files.rs`; `files.rs`: JSON lines / CSV committed through a manifest) | [`save_as_text_files`](crate::DStream::save_as_text_files) | [`json`](crate::structured::DataStreamWriter::json), [`csv`](crate::structured::DataStreamWriter::csv) |
//! | user code per batch (`foreach.rs`, `foreach_writer.rs`) | [`foreach_batch`](crate::DStream::foreach_batch) (Spark's `foreachRDD`) | [`foreach_batch`](crate::structured::DataStreamWriter::foreach_batch) |
//! | user code per partition (`foreach.rs`, `foreach_writer.rs`) | [`foreach_partition`](crate::DStream::foreach_partition) | [`foreach`](crate::structured::DataStreamWriter::foreach) with a [`ForeachWriter`](crate::structured::ForeachWriter) |
//! | an in-memory table (`memory.rs`) | — | [`memory`](crate::structured::DataStreamWriter::memory) |
//! | a database table, exactly once, through a connection pool (`database/`, features `sqlite`, `postgres`) | [`sink`](crate::DStream::sink)`(DatabaseSink::…)` | [`sink`](crate::structured::DataStreamWriter::sink)`(DatabaseSink::…)` |
//! | your own [`Sink`] | [`sink`](crate::DStream::sink) | [`sink`](crate::structured::DataStreamWriter::sink) |
//!
//! Sinks that show or write tables (console, CSV) see a record as columns the same way
//! (`row.rs`).

mod api;
pub(crate) mod console;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod database;
pub(crate) mod files;
mod foreach;
pub(crate) mod foreach_writer;
pub(crate) mod memory;
mod print;
mod row;
mod text_files;

pub use api::{Sink, SinkContext};
pub use foreach::OutputResult;
pub use print::{Show, format_batch};

pub(crate) use api::SinkOutput;

use std::sync::Arc;

use crate::batch::Batch;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::Result;
use crate::exec::BatchId;
use crate::time::Time;

/// A DStream output operation as a sink: user code given each batch and its time.
struct BatchFn<F> {
    name: String,
    f: F,
}

impl<T: Data, F: Fn(Batch<T>, Time) -> Result<()> + Send + Sync + 'static> Sink<T> for BatchFn<F> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        (self.f)(rows, batch.time)
    }
}

impl<T: Data> DStream<T> {
    /// Writes every batch of this stream to `sink` (a user-defined [`Sink`]): an output
    /// operation, like [`foreach_batch`](Self::foreach_batch), that also gets each batch's id
    /// and a commit once the batch's outputs all ran. The same sink type works for a
    /// Structured query through [`DataStreamWriter::sink`](crate::structured::DataStreamWriter::sink).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use streamflow::sink::Sink;
    /// use streamflow::testing::TestContext;
    /// use streamflow::{Batch, BatchId, Duration};
    ///
    /// /// Notes the id and size of every batch.
    /// #[derive(Default)]
    /// struct Sizes(Mutex<Vec<(u64, usize)>>);
    /// impl Sink<char> for Sizes {
    ///     fn name(&self) -> String { "sizes".into() }
    ///     fn add_batch(&self, batch: BatchId, rows: Batch<char>) -> streamflow::Result<()> {
    ///         self.0.lock().unwrap().push((batch.id, rows.collect().len()));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let sizes = Arc::new(Sizes::default());
    /// t.input(vec![vec!['a', 'b'], vec![], vec!['c']]).sink(sizes.clone());
    /// t.run(3)?;
    /// assert_eq!(*sizes.0.lock().unwrap(), [(0, 2), (1, 0), (2, 1)]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn sink(&self, sink: impl Sink<T>) {
        self.add_sink(Arc::new(sink));
    }

    fn add_sink(&self, sink: Arc<dyn Sink<T>>) {
        let name = sink.name();
        if let Err(e) = self.ssc.ensure_initialized(&name) {
            self.ssc.defer_error(e.to_string());
            return;
        }
        let output = SinkOutput {
            node: self.node.clone(),
            sink,
            count_rows: false,
        };
        self.ssc
            .inner
            .lock_graph()
            .add_output(&self.node.meta, Box::new(output));
    }

    /// Registers an output operation that receives this stream's batch at each of its times.
    pub(crate) fn output(
        &self,
        name: &str,
        f: impl Fn(Batch<T>, Time) -> Result<()> + Send + Sync + 'static,
    ) {
        self.add_sink(Arc::new(BatchFn {
            name: name.to_string(),
            f,
        }));
    }
}
