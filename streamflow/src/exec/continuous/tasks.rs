//! The long-lived tasks of a continuous query: source tasks (one per partition, fed by the
//! reader), the router to the aggregation tasks, and the aggregation tasks.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use serde_json::Value;

use super::{CHUNK, Downstream, Feeder, Out, Push, Report, SOURCE_CHANNEL_CHUNKS, TaskEnv, Wiring};
use crate::data::{Data, Key, StateData};
use crate::error::{Error, Result};
use crate::exec::{BatchId, guard};
use crate::source::{ReadLimit, Source, SourceRange, SourceRun, SourceSlot};
use crate::state::aggregation::{AggOperator, KeyFn};
use crate::state::aggregators::{AggRow, Aggregator};
use crate::time::{Duration, Time};

/// What the reader sends a source task.
enum Feed<T> {
    Records(Vec<T>),
    Marker(BatchId),
}

/// How long a blocked send waits before looking whether the query stops.
const SEND_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Sends `msg`, waiting while the channel is full (backpressure), unless the query stops at
/// once (a failure, `stop()`) or the task is gone; a graceful stop waits, since what was read
/// is processed and committed.
fn send<M>(tx: &Sender<M>, mut msg: M, control: &crate::exec::JobControl) -> Result<()> {
    loop {
        match tx.send_timeout(msg, SEND_POLL) {
            Ok(()) => return Ok(()),
            Err(SendTimeoutError::Timeout(back))
                if control.stop_requested() != Some(false) && control.error().is_none() =>
            {
                msg = back
            }
            Err(_) => return Err(Error::illegal_state("a continuous task stopped")),
        }
    }
}

/// Runs a task's body; a panic in user code (or an error it raised) is reported to the
/// committer as the error naming the operator.
fn run_task(name: &str, env: &TaskEnv, body: impl FnOnce() -> Result<()>) {
    crate::exec::failure::set_current_operator("");
    let outcome = panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(crate::exec::driver::user_code_error(
            payload,
            name,
            env.clock.now(),
        ))
    });
    if let Err(e) = outcome {
        let _ = env.reports.send(Report::Failed(e));
    }
}

/// Spawns a named thread for a task.
fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(body)
        .map_err(|e| Error::io("cannot start a continuous task", e))
}

/// The reading side of a source: its position, the epoch's start, and its tasks' channels.
pub(crate) struct SourceFeeder<S: Source> {
    name: String,
    source: Arc<S>,
    slot: Arc<SourceSlot<S>>,
    read: S::Offset,
    epoch_start: S::Offset,
    senders: Vec<Sender<Feed<S::Item>>>,
    /// The next task to hand records (records in memory are spread round-robin).
    next: usize,
    control: Option<Arc<crate::exec::JobControl>>,
}

/// Builds the tasks of a source: `n` source tasks, each pushing into `down()`; returns the
/// feeder the reader drives.
pub(crate) fn source_tasks<S: Source>(
    name: &str,
    source: Arc<S>,
    slot: Arc<SourceSlot<S>>,
    n: usize,
    down: &Downstream<S::Item>,
    w: &mut Wiring<'_>,
) -> SourceFeeder<S> {
    let mut senders = Vec::with_capacity(n);
    for partition in 0..n {
        let (tx, rx) = crossbeam_channel::bounded::<Feed<S::Item>>(SOURCE_CHANNEL_CHUNKS);
        senders.push(tx);
        let mut push = down();
        let task_name = format!("{name}-{partition}");
        w.tasks.push((
            task_name.clone(),
            Box::new(move |env: TaskEnv| {
                spawn(task_name.clone(), move || {
                    run_task(&task_name, &env, || {
                        while let Ok(feed) = rx.recv() {
                            match feed {
                                Feed::Records(records) => records.into_iter().for_each(|r| push.record(r)),
                                Feed::Marker(epoch) => push.marker(epoch),
                            }
                        }
                        Ok(())
                    })
                })
            }),
        ));
    }
    let initial = source.initial_offset();
    SourceFeeder {
        name: name.to_string(),
        read: initial.clone(),
        epoch_start: initial,
        source,
        slot,
        senders,
        next: 0,
        control: None,
    }
}

impl<S: Source> SourceFeeder<S> {
    fn decode(&self, value: &Value) -> Result<S::Offset> {
        serde_json::from_value(value.clone()).map_err(|e| {
            Error::InvalidConfig(format!(
                "source `{}`: the recorded offset {value} is not an offset of this source ({e})",
                self.name
            ))
        })
    }

    fn encode(&self, offset: &S::Offset) -> Value {
        serde_json::to_value(offset).unwrap_or_else(|_| Value::String(format!("{offset:?}")))
    }

    /// Reads `(read, end]` and hands it to the tasks; returns the records read.
    fn read_to(&mut self, end: S::Offset) -> Result<u64> {
        let batch = self.source.get_batch(&self.read, &end)?;
        self.read = end;
        let crate::source::SourceBatch { items, parts } = batch;
        let mut rows = items.len() as u64;
        self.hand(items)?;
        for part in parts {
            let mut records = Vec::new();
            let mut failed = None;
            part.run(&mut |record| {
                records.push(record);
                if records.len() == CHUNK && failed.is_none() {
                    rows += CHUNK as u64;
                    failed = self.hand(std::mem::take(&mut records)).err();
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            rows += records.len() as u64;
            self.hand(records)?;
        }
        Ok(rows)
    }

    /// Hands `records` to the tasks in chunks of at most [`CHUNK`], round-robin.
    fn hand(&mut self, records: Vec<S::Item>) -> Result<()> {
        let control = self
            .control
            .clone()
            .ok_or_else(|| Error::illegal_state("feeder not started"))?;
        let mut send_next = |records: Vec<S::Item>| {
            let i = self.next % self.senders.len();
            self.next = self.next.wrapping_add(1);
            send(&self.senders[i], Feed::Records(records), &control)
        };
        if records.len() <= CHUNK {
            return match records.is_empty() {
                true => Ok(()),
                false => send_next(records),
            };
        }
        let mut rest = records.into_iter();
        loop {
            let chunk: Vec<S::Item> = rest.by_ref().take(CHUNK).collect();
            if chunk.is_empty() {
                return Ok(());
            }
            send_next(chunk)?;
        }
    }

    pub(crate) fn start(&mut self, control: Arc<crate::exec::JobControl>) {
        self.control = Some(control);
    }
}

impl<S: Source> Feeder for SourceFeeder<S> {
    fn restore(&mut self) -> Result<()> {
        let committed = self.decode(&self.slot.committed())?;
        self.read = committed.clone();
        self.epoch_start = committed;
        Ok(())
    }

    fn start(&mut self, control: Arc<crate::exec::JobControl>) {
        SourceFeeder::start(self, control)
    }

    fn poll(&mut self, time: Time, all: bool) -> Result<u64> {
        let limit = if all {
            ReadLimit::AllAvailable
        } else {
            self.source.default_read_limit()
        };
        let end = self.source.latest_offset(&self.read, limit, time)?;
        if end == self.read {
            return Ok(0);
        }
        self.read_to(end)
    }

    fn replay(&mut self, range: &SourceRange) -> Result<u64> {
        let (start, end) = (self.decode(&range.start)?, self.decode(&range.end)?);
        self.read = start.clone();
        self.epoch_start = start;
        self.read_to(end)
    }

    fn cut(&mut self) -> SourceRange {
        let range = SourceRange {
            source: self.slot.name(),
            start: self.encode(&self.epoch_start),
            end: self.encode(&self.read),
        };
        self.epoch_start = self.read.clone();
        range
    }

    fn marker(&mut self, epoch: BatchId) -> Result<()> {
        let control = self
            .control
            .clone()
            .ok_or_else(|| Error::illegal_state("feeder not started"))?;
        for tx in &self.senders {
            send(tx, Feed::Marker(epoch), &control)?;
        }
        Ok(())
    }

    fn close(&mut self) {
        self.senders.clear();
    }

    fn stop_source(&self) {
        self.slot.stop();
    }
}

/// What the router sends an aggregation task: a keyed record, or an input's marker.
pub(crate) enum Keyed<K, T> {
    Record(usize, K, T),
    Marker(usize, BatchId),
}

/// The end of a source task's fused operators before a keyed aggregation: computes the key
/// and sends the record to the task owning the key's state partition; forwards markers to
/// every aggregation task.
pub(crate) struct Route<T, K, A: Aggregator<T>> {
    pub(crate) upstream: usize,
    pub(crate) key: KeyFn<T, K>,
    pub(crate) op: Arc<AggOperator<T, K, A>>,
    pub(crate) senders: Vec<Sender<Keyed<K, T>>>,
}

impl<T: Data, K: Key + StateData, A: Aggregator<T>> Push<T> for Route<T, K, A> {
    #[inline]
    fn record(&mut self, record: T) {
        let key = guard("group_by", || (self.key)(&record));
        let partition = self.op.partition_of_key(&key);
        // A task that is gone failed and says so itself; the query is stopping.
        let _ = self.senders[partition].send(Keyed::Record(self.upstream, key, record));
    }

    fn marker(&mut self, epoch: BatchId) {
        for tx in &self.senders {
            let _ = tx.send(Keyed::Marker(self.upstream, epoch));
        }
    }
}

/// An aggregation task: owns one state partition of a keyed running aggregation.
pub(crate) struct AggTask<T, K, A: Aggregator<T>> {
    pub(crate) partition: usize,
    pub(crate) input: Receiver<Keyed<K, T>>,
    pub(crate) resumed: Receiver<u64>,
    pub(crate) out: Out<AggRow<K, A::Output>>,
    pub(crate) op: Arc<AggOperator<T, K, A>>,
    pub(crate) upstreams: Arc<AtomicUsize>,
    pub(crate) updated: Arc<AtomicU64>,
    pub(crate) emit: Option<Duration>,
}

impl<T: Data, K: Key + StateData, A: Aggregator<T>> AggTask<T, K, A> {
    pub(crate) fn spawn(self, env: TaskEnv) -> Result<std::thread::JoinHandle<()>> {
        let name = format!("aggregate-{}", self.partition);
        spawn(name.clone(), move || {
            let mut task = self;
            run_task("aggregate", &env, || task.run(&env))
        })
    }

    fn run(&mut self, env: &TaskEnv) -> Result<()> {
        let inputs = self.upstreams.load(Ordering::Acquire);
        // Inputs whose marker of the current epoch arrived, and what they sent after it (in
        // order of arrival): it waits until every input's marker arrived.
        let mut passed = vec![false; inputs];
        let mut count = 0;
        let mut held: VecDeque<Keyed<K, T>> = VecDeque::new();
        // Messages to handle before reading the channel again (what was held, once released).
        let mut replay: VecDeque<Keyed<K, T>> = VecDeque::new();
        let mut epoch = env.first_epoch;
        let mut updated = 0_u64;
        // With an emit interval: the latest row of each group changed since the last emit.
        let mut pending: hashbrown::HashMap<K, AggRow<K, A::Output>> = hashbrown::HashMap::new();
        let every = self.emit.map(|d| std::time::Duration::from_millis(d.millis()));
        let mut next_emit = every.map(|d| Instant::now() + d);
        loop {
            let msg = match replay.pop_front() {
                Some(msg) => msg,
                None => {
                    let received = match next_emit {
                        Some(at) => match self
                            .input
                            .recv_timeout(at.saturating_duration_since(Instant::now()))
                        {
                            Ok(msg) => Some(msg),
                            Err(RecvTimeoutError::Timeout) => None,
                            Err(RecvTimeoutError::Disconnected) => return Ok(()),
                        },
                        None => match self.input.recv() {
                            Ok(msg) => Some(msg),
                            Err(_) => return Ok(()),
                        },
                    };
                    if let (Some(at), Some(d)) = (next_emit, every) {
                        if Instant::now() >= at {
                            pending.drain().for_each(|(_, row)| self.out.record(row));
                            next_emit = Some(Instant::now() + d);
                        }
                    }
                    match received {
                        Some(msg) => msg,
                        None => continue,
                    }
                }
            };
            let from = match &msg {
                Keyed::Record(from, ..) | Keyed::Marker(from, _) => *from,
            };
            if passed.get(from).copied().unwrap_or(true) {
                held.push_back(msg);
                continue;
            }
            match msg {
                Keyed::Record(_, key, record) => {
                    let (row, first) = self.op.fold_one(self.partition, key, &record, epoch)?;
                    updated += u64::from(first);
                    match every {
                        None => self.out.record(row),
                        Some(_) => {
                            pending.insert(row.key.clone(), row);
                        }
                    }
                }
                Keyed::Marker(_, marker) => {
                    passed[from] = true;
                    count += 1;
                    if count < inputs {
                        continue;
                    }
                    // Every input reached the marker: the epoch's changes are all in.
                    pending.drain().for_each(|(_, row)| self.out.record(row));
                    self.updated.fetch_add(updated, Ordering::AcqRel);
                    updated = 0;
                    self.out.marker(marker);
                    if env.durable {
                        let _ = env.reports.send(Report::StateReady(marker.id));
                        // Paused until the partition's state is captured for the checkpoint.
                        if self.resumed.recv().is_err() {
                            return Ok(());
                        }
                    }
                    passed.iter_mut().for_each(|p| *p = false);
                    count = 0;
                    epoch = marker.id + 1;
                    // What the inputs sent after their markers runs next, before anything
                    // that arrived later.
                    let mut released = std::mem::take(&mut held);
                    released.append(&mut replay);
                    replay = released;
                }
            }
        }
    }
}
