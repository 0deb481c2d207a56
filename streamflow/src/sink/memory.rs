//! The memory sink: results kept in a named in-memory table, for tests and notebooks.

use std::sync::{Arc, Mutex};

use crate::batch::Batch;
use crate::data::Data;
use crate::error::Result;
use crate::exec::{BatchId, lock};
use crate::sink::{Sink, SinkContext};
use crate::structured::OutputMode;

struct Table<T> {
    rows: Vec<T>,
    batches: Vec<(u64, Vec<T>)>,
}

/// The table a memory sink writes (Spark's memory sink, read with `spark.table(name)`); get it
/// with [`Session::memory_table`](crate::structured::Session::memory_table). In Append and Update mode each
/// batch's rows are added; in Complete mode each batch replaces the table.
///
/// ```
/// use streamflow::structured::{MemoryStream, Session};
/// let session = Session::new(1)?;
/// let input = MemoryStream::<i64>::new();
/// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("t").start()?;
/// input.add_data([1]);
/// query.process_all_available()?;
/// input.add_data([2, 3]);
/// query.process_all_available()?;
/// let table = session.memory_table::<i64>("t")?;
/// assert_eq!(table.rows(), vec![1, 2, 3]);
/// assert_eq!(table.batches(), vec![(0, vec![1]), (1, vec![2, 3])]);
/// assert_eq!(table.last_batch(), Some((1, vec![2, 3])));
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct MemoryTable<T> {
    inner: Arc<Mutex<Table<T>>>,
}

impl<T> Clone for MemoryTable<T> {
    fn clone(&self) -> Self {
        MemoryTable {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Data> MemoryTable<T> {
    pub(crate) fn new() -> Self {
        MemoryTable {
            inner: Arc::new(Mutex::new(Table {
                rows: Vec::new(),
                batches: Vec::new(),
            })),
        }
    }

    /// The table's rows now.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let words = MemoryStream::<&'static str>::new();
    /// let query = session.read_stream::<&'static str>().memory(&words)
    ///     .group_by(|w| w.to_string()).count()
    ///     .write_stream().output_mode(OutputMode::Complete).memory("counts").start()?;
    /// let table = session.memory_table::<AggRow<String, u64>>("counts")?; // a live view
    /// words.add_data(["a"]);
    /// query.process_all_available()?;
    /// words.add_data(["a"]);
    /// query.process_all_available()?;
    /// // Complete mode: each batch replaces the rows.
    /// assert_eq!(table.rows().iter().map(|r| (r.key.as_str(), r.value)).collect::<Vec<_>>(), [("a", 2)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn rows(&self) -> Vec<T> {
        lock(&self.inner).rows.clone()
    }

    /// Each batch's rows, with the batch id, in order.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input)
    ///     .filter(|x| x % 2 == 0).write_stream().memory("evens").start()?;
    /// input.add_data([1]);
    /// query.process_all_available()?;
    /// input.add_data([2, 3, 4]);
    /// query.process_all_available()?;
    /// let batches = session.memory_table::<i64>("evens")?.batches();
    /// assert_eq!(batches, [(0, vec![]), (1, vec![2, 4])]); // empty batches are kept too
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn batches(&self) -> Vec<(u64, Vec<T>)> {
        lock(&self.inner).batches.clone()
    }

    /// The last batch's id and rows.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("last").start()?;
    /// let table = session.memory_table::<i64>("last")?;
    /// assert_eq!(table.last_batch(), None);
    /// input.add_data([7]);
    /// query.process_all_available()?;
    /// assert_eq!(table.last_batch(), Some((0, vec![7])));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn last_batch(&self) -> Option<(u64, Vec<T>)> {
        lock(&self.inner).batches.last().cloned()
    }
}

pub(crate) struct MemorySink<T> {
    pub(crate) name: String,
    pub(crate) table: MemoryTable<T>,
    /// The query's output mode, learnt at start.
    pub(crate) mode: std::sync::OnceLock<OutputMode>,
}

impl<T> MemorySink<T> {
    fn mode(&self) -> OutputMode {
        self.mode.get().copied().unwrap_or(OutputMode::Append)
    }
}

impl<T: Data> Sink<T> for MemorySink<T> {
    fn name(&self) -> String {
        format!("MemorySink[{}]", self.name)
    }

    fn start(&self, ctx: &SinkContext) -> Result<()> {
        let _ = self.mode.set(ctx.output_mode());
        Ok(())
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        let batch_id = batch.id;
        let mode = self.mode();
        let rows = rows.collect();
        let mut table = lock(&self.table.inner);
        // A batch id seen before is a replay: its rows are already here.
        if table.batches.last().is_some_and(|(last, _)| *last >= batch_id) {
            return Ok(());
        }
        if mode == OutputMode::Complete {
            table.rows = rows.clone();
        } else {
            table.rows.extend(rows.iter().cloned());
        }
        table.batches.push((batch_id, rows));
        Ok(())
    }
}
