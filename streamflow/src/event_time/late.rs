//! The late-data side output (beyond Spark, like Flink's `sideOutputLateData`): the rows a
//! stateful operator drops as too late for the watermark can be routed to a second dataset
//! of the same query instead of being only counted.
//!
//! A [`LateRows<T>`] names the side output. [`Dataset::late_rows_to`] marks a dataset so that
//! the stateful operator applied to it next (a deduplication, an aggregation, a side of a
//! stream–stream join) hands its late rows to the tag; [`Dataset::late_rows`] on anything
//! downstream of that operator is the dataset of those rows, batch by batch. Within one query
//! the operator and the side dataset share a slot: after the operator ran a batch, the slot
//! holds that batch's late rows, and the side dataset takes them. Only a query that reads the
//! side output keeps late rows, and only for the batch running.
//!
//! A row is routed when the operator drops it: for an aggregation by sliding windows, when it
//! is too late for every window it falls in (each window it is too late for still counts in
//! `num_rows_dropped_by_watermark`).

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::batch::Batch;
use crate::data::Data;
use crate::exec::lock;
use crate::graph::NodeKind;
use crate::structured::Dataset;
use crate::structured::shape::Shape;

/// The name of a late-data side output of rows of type `T` (Flink's `OutputTag`): create one,
/// route late rows to it with [`Dataset::late_rows_to`], read them with
/// [`Dataset::late_rows`].
///
/// # Examples
///
/// ```
/// use streamflow::structured::*;
/// use streamflow::Time;
///
/// let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
/// let input = MemoryStream::<(String, Time)>::new();
/// let late = LateRows::<(String, Time)>::new();
/// let unique = session.read_stream::<(String, Time)>().memory(&input)
///     .with_watermark(|(_, ts)| *ts, "10 seconds")
///     .late_rows_to(&late)
///     .drop_duplicates_within_watermark(|(guid, _)| guid.clone());
/// // One query writes both: the unique rows, and (tagged `false`) the late ones.
/// let query = unique.map(|row| (true, row))
///     .union(&unique.late_rows(&late).map(|row| (false, row)))
///     .write_stream().memory("rows").start()?;
/// let at = |guid: &str, s: i64| (guid.to_string(), Time::from_millis(s * 1_000));
/// input.add_data([at("a", 30)]);
/// query.process_all_available()?; // the watermark moves to 20 s
/// input.add_data([at("b", 15), at("c", 25)]);
/// query.process_all_available()?;
/// let mut late_rows: Vec<String> = session.memory_table::<(bool, (String, Time))>("rows")?.rows()
///     .into_iter().filter(|(unique, _)| !unique).map(|(_, (guid, _))| guid).collect();
/// assert_eq!(late_rows, ["b"]);
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct LateRows<T> {
    id: u64,
    _rows: PhantomData<fn() -> T>,
}

impl<T> Clone for LateRows<T> {
    fn clone(&self) -> Self {
        LateRows {
            id: self.id,
            _rows: PhantomData,
        }
    }
}

impl<T: Data> Default for LateRows<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Data> LateRows<T> {
    /// A new side output, distinct from every other.
    pub fn new() -> Self {
        LateRows {
            id: crate::structured::next_dataset_id(),
            _rows: PhantomData,
        }
    }
}

/// Where an operator of one query puts the late rows of the batch running, for the side
/// dataset to take.
pub(crate) struct LateSlot<T> {
    /// Whether the query reads the side output (otherwise nothing is kept).
    wanted: AtomicBool,
    rows: Mutex<Vec<T>>,
}

impl<T> LateSlot<T> {
    pub(crate) fn new() -> Self {
        LateSlot {
            wanted: AtomicBool::new(false),
            rows: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `row`, dropped as late, if the query reads the side output.
    pub(crate) fn push(&self, row: T) {
        if self.wanted.load(Ordering::Relaxed) {
            lock(&self.rows).push(row);
        }
    }

    /// Keeps `row` if there is a slot: what operators call with their optional slot.
    pub(crate) fn route(slot: Option<&Arc<LateSlot<T>>>, row: T) {
        if let Some(slot) = slot {
            slot.push(row);
        }
    }
}

impl<T: Data, Sh: Shape> Dataset<T, Sh> {
    /// Routes the rows that the stateful operator applied next to this dataset drops as late
    /// (a deduplication, an aggregation, either side of a stream–stream join) to `tag`, as well
    /// as counting them. Read them with [`late_rows`](Self::late_rows) on the operator's
    /// output; see [`LateRows`].
    pub fn late_rows_to(&self, tag: &LateRows<T>) -> Dataset<T, Sh> {
        let mut next = self.clone();
        next.late_to = Some(tag.id);
        next
    }

    /// The rows routed to `tag` by a stateful operator this dataset is computed from (see
    /// [`LateRows`]), batch by batch: a dataset of the same query, to write or union with its
    /// other output.
    pub fn late_rows<L: Data>(&self, tag: &LateRows<L>) -> Dataset<L, Sh> {
        let parent = self.clone();
        let id = tag.id;
        let logical = self.logical.then("late_rows");
        Dataset::new(self.session.clone(), logical, None, move |p| {
            let node = parent.node(p)?;
            let slot = p.late_slot::<L>(id);
            slot.wanted.store(true, Ordering::Relaxed);
            let meta = node.meta.clone();
            let exec = p.exec.clone();
            Ok(p.add("late_rows", NodeKind::Stateless, vec![meta], move |time| {
                // The operator runs first: the slot then holds this batch's late rows.
                drop(node.get_or_compute(time)?);
                let rows = std::mem::take(&mut *lock(&slot.rows));
                Ok(Some(Batch::from_partitions(vec![rows], time, exec.clone())))
            }))
        })
    }
}
