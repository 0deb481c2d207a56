//! Receivers (Spark's `Receiver`): code that runs on its own threads and pushes records into
//! the stream with `store` — user-defined ones (`receiver_stream`) and the socket sources of
//! both vocabularies.
//!
//! The receiver machinery is a [`Source`] whose offset counts blocks. Stored records go into a
//! buffer; when the driver asks for the latest offset, the buffer is sealed into a block with
//! the next sequence number and the offset is the number of blocks sealed. A batch reads the
//! blocks of its range; once it is committed they are dropped from memory. A stop keeps what
//! was stored: a graceful stop still hands it to the last batches.
//!
//! # The write-ahead log
//!
//! Without one, blocks live only in memory and the source is not replayable. With one — a
//! receiver stream that logs ([`receiver_stream_with_write_ahead_log`], the socket sources)
//! in a job with a checkpoint — every `store` is appended to the log in the source's directory
//! of the checkpoint (`<metadata>/wal/`, see `wal.rs`) and synced before it returns, and every
//! block is sealed in the log before its offset is handed to the driver. So what a receiver
//! stored survives a kill; a restarted job finds its blocks again with their sequence numbers,
//! re-runs its last batch with exactly the same records, reads older committed ranges from the
//! log (those of the last `RETAINED_COMMITS` commits), and seals what was stored but not yet in
//! a block into the next one. The source is then replayable.
//!
//! The log needs the records as bytes: [`receiver_stream_with_write_ahead_log`] asks for
//! `T: Serialize + DeserializeOwned` (records are written with postcard, as state is), and
//! [`receiver_stream`] stays as it is for any `T`; the socket sources log the lines they
//! received (with the CSV header they were read with), and decode them again on recovery.
//!
//! [`receiver_stream_with_write_ahead_log`]: crate::StreamingContext::receiver_stream_with_write_ahead_log
//! [`receiver_stream`]: crate::StreamingContext::receiver_stream

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver as Inbox, Sender};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::rate_control::{BatchStats, RateController, RateLimiter, SourceLimits};
use super::wal::{RETAINED_COMMITS, Wal};
use super::{ReadLimit, Source, SourceBatch, SourceContext};
use crate::StreamingContext;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::{JobControl, lock, panic_message};
use crate::metrics::{Metrics, ReceiverStatus};
use crate::time::{Duration, IntoDuration, Time};

/// A source that pushes data (Spark's `Receiver`): started when the context starts, stopped
/// when it stops, restarted on request.
///
/// `on_start` must not block: start a thread that receives and calls
/// [`ReceiverContext::store`], and return. `on_stop` must make that thread end (it can also
/// watch [`ReceiverContext::is_stopped`]).
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
/// use std::thread::JoinHandle;
/// use streamflow::{Receiver, ReceiverContext};
///
/// /// Stores the numbers 0..n, then idles until stopped.
/// struct Counter { n: u64, worker: Mutex<Option<JoinHandle<()>>> }
///
/// impl Receiver<u64> for Counter {
///     fn on_start(&self, ctx: ReceiverContext<u64>) {
///         let n = self.n;
///         let handle = std::thread::spawn(move || ctx.store_all(0..n));
///         *self.worker.lock().unwrap() = Some(handle);
///     }
///     fn on_stop(&self) {
///         if let Some(h) = self.worker.lock().unwrap().take() { let _ = h.join(); }
///     }
/// }
///
/// # use streamflow::{testing::TestContext, Duration};
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// let out = t.collect(&t.context().receiver_stream(Counter { n: 3, worker: Mutex::new(None) }).count());
/// t.start()?;
/// assert!(t.context().await_records_received(3, std::time::Duration::from_secs(10))?);
/// t.advance_batches(1)?;
/// assert_eq!(out.batches(), vec![vec![3]]);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub trait Receiver<T: Data>: Send + Sync + 'static {
    /// Starts receiving: spawn what is needed and return at once.
    fn on_start(&self, ctx: ReceiverContext<T>);
    /// Stops receiving: whatever `on_start` started must end.
    fn on_stop(&self);
    /// The name shown in metrics and logs.
    fn name(&self) -> String {
        "receiver_stream".to_string()
    }
    /// How long to wait between `on_stop` and `on_start` on a restart (Spark: 2 s).
    fn restart_delay(&self) -> Duration {
        Duration::seconds(2)
    }
}

/// How often a store waiting for room in a full buffer looks again, even if not woken.
const READ_ROOM_POLL: std::time::Duration = std::time::Duration::from_millis(100);

enum Command {
    Restart(String),
    Stop,
}

/// Records stored and not sealed yet, and the sealed blocks not committed yet.
struct Blocks<T> {
    /// Stored since the last block was sealed.
    current: Vec<T>,
    /// The bytes `current` stands for (its lines' text, or `size_of::<T>()` per record): with
    /// its length, what the buffer bounds hold to.
    current_bytes: usize,
    /// Sealed blocks, oldest first: `sealed[0]` has sequence number `base`.
    sealed: VecDeque<Vec<T>>,
    base: u64,
}

impl<T> Blocks<T> {
    /// The offset after the last sealed block.
    fn end(&self) -> u64 {
        self.base + self.sealed.len() as u64
    }
}

/// The DStream context a receiver reports to, beyond what every source does: records received
/// (for `await_records_received`), errors (for listeners), and failures, which stop the job
/// at once rather than at its next batch.
pub(crate) struct JobHooks {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) control: Arc<JobControl>,
    /// The context's limits on what receivers take in.
    pub(crate) limits: SourceLimits,
}

/// Decodes the records of one logged chunk.
pub(crate) type DecodeChunk<T> = dyn Fn(&[u8]) -> std::result::Result<Vec<T>, String> + Send + Sync;

/// How a receiver's records are written to its write-ahead log and read back.
pub(crate) struct WalCodec<T> {
    /// Encodes what `store` is given; `None` for a receiver that logs its own input (the
    /// socket: its lines, through `store_logged`).
    encode: Option<fn(&[T]) -> std::result::Result<Vec<u8>, String>>,
    decode: Arc<DecodeChunk<T>>,
}

impl<T: Serialize + DeserializeOwned> WalCodec<T> {
    /// The records themselves, with postcard.
    pub(crate) fn records() -> Self {
        WalCodec {
            encode: Some(|records| postcard::to_allocvec(records).map_err(|e| e.to_string())),
            decode: Arc::new(|bytes| postcard::from_bytes::<Vec<T>>(bytes).map_err(|e| e.to_string())),
        }
    }
}

impl<T> WalCodec<T> {
    /// Input the receiver encodes itself (`ReceiverContext::store_logged`), read back by `decode`.
    pub(crate) fn own_input(decode: Arc<DecodeChunk<T>>) -> Self {
        WalCodec { encode: None, decode }
    }
}

struct Shared<T> {
    /// The receiver's name, for logs.
    name: String,
    blocks: Mutex<Blocks<T>>,
    /// Signalled when the buffer was emptied into a block, or the receiver stopped: a store
    /// waiting for room looks again.
    room: Condvar,
    /// The rate in force (fixed, or estimated with backpressure) and the buffer bounds.
    rate: RateController,
    /// Spaces stores out to the rate.
    limiter: RateLimiter,
    /// How records are logged, if this receiver stream logs.
    codec: Option<WalCodec<T>>,
    /// The log, once started with a checkpoint (and a codec).
    wal: OnceLock<Wal>,
    status: Mutex<ReceiverStatus>,
    stopped: AtomicBool,
    stop_signal: (Mutex<bool>, Condvar),
    commands: Sender<Command>,
    job: Option<JobHooks>,
    /// Tells the driver that records arrived; set when the job starts.
    waker: Mutex<Option<SourceContext>>,
    /// Why the receiver failed for good: the next batch fails with it.
    failure: Mutex<Option<Error>>,
}

impl<T> Shared<T> {
    fn wake(&self) {
        if let Some(ctx) = lock(&self.waker).as_ref() {
            ctx.wake();
        }
    }

    fn fail(&self, error: Error) {
        if let Some(job) = &self.job {
            job.control.fail(error.clone());
        }
        lock(&self.failure).get_or_insert(error);
        self.wake();
    }
}

/// What a receiver uses to hand over data and report on itself; cheap to clone and send to
/// the receiver's threads.
pub struct ReceiverContext<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for ReceiverContext<T> {
    fn clone(&self) -> Self {
        ReceiverContext {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Data> ReceiverContext<T> {
    /// Stores one record; it goes into the next batch.
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// let out = t.collect(&t.context().receiver_stream(Handover(Mutex::new(tx))));
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// ctx.store(1);
    /// ctx.store(2);
    /// t.advance_batches(1)?;
    /// ctx.store(3);
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec![1, 2], vec![3]]);
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(&self, record: T) {
        self.store_all(std::iter::once(record));
    }

    /// Stores many records at once (cheaper than one by one).
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// let out = t.collect(&t.context().receiver_stream(Handover(Mutex::new(tx))));
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// ctx.store_all(1..=3);
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec![1, 2, 3]]);
    /// assert_eq!(t.context().receiver_statuses()[0].records, 3);
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// With a write-ahead log (see
    /// [`receiver_stream_with_write_ahead_log`](crate::StreamingContext::receiver_stream_with_write_ahead_log)),
    /// it returns once the records are written to the log and synced: a receiver may then
    /// acknowledge them to where they came from, and they survive a kill of the job.
    pub fn store_all(&self, records: impl IntoIterator<Item = T>) {
        let records: Vec<T> = records.into_iter().collect();
        let bytes = records.len().saturating_mul(std::mem::size_of::<T>());
        let Some(wal) = self.shared.wal.get() else {
            self.push(records, bytes, None);
            return;
        };
        let encoded = match self.shared.codec.as_ref().and_then(|codec| codec.encode) {
            Some(encode) => encode(&records),
            None => Err("this receiver logs its own input, so what it stores must come with it".into()),
        };
        match encoded {
            Ok(logged) => self.push(records, bytes, Some((wal, &logged))),
            Err(e) => self.shared.fail(Error::Source {
                source_name: self.status().name.clone(),
                message: format!(
                    "cannot write {} stored records to the write-ahead log: {e}",
                    records.len()
                ),
            }),
        }
    }

    /// Whether what is stored is written to a write-ahead log (the job has a checkpoint, and
    /// this receiver stream logs).
    pub(crate) fn logs_input(&self) -> bool {
        self.shared.wal.get().is_some()
    }

    /// Stores `records`, which stand for `bytes` of input (the text they were decoded from),
    /// logged as what `encode` makes of them (read back by the codec's decode) — for a receiver
    /// that logs its own input. Without a log, `encode` is not called.
    pub(crate) fn store_logged(
        &self,
        records: Vec<T>,
        bytes: usize,
        encode: impl FnOnce() -> std::result::Result<Vec<u8>, String>,
    ) {
        let Some(wal) = self.shared.wal.get() else {
            self.push(records, bytes, None);
            return;
        };
        match encode() {
            Ok(logged) => self.push(records, bytes, Some((wal, &logged))),
            Err(e) => self.shared.fail(Error::Source {
                source_name: self.status().name.clone(),
                message: format!("cannot write received input to the write-ahead log: {e}"),
            }),
        }
    }

    /// Appends `records` (`bytes` of input) to the current block — and, given a log, to the
    /// log as `logged`, returning once it is synced (sharing the sync with whoever else waits).
    /// First waits for the rate, then for room in the buffer: a receiver that stores faster than
    /// batches take its records is held here, so it reads its input no faster.
    fn push(&self, records: Vec<T>, bytes: usize, log: Option<(&Wal, &[u8])>) {
        if records.is_empty() {
            self.shared.wake();
            return;
        }
        self.pace(records.len());
        let added = records.len() as u64;
        // Under the lock of the blocks, so the log's order is the blocks' order.
        let ticket = {
            let mut blocks = self.wait_for_room(records.len(), bytes);
            let ticket = match log {
                None => None,
                Some((wal, logged)) => match wal.append_chunk(logged) {
                    Ok(ticket) => Some(ticket),
                    Err(e) => {
                        drop(blocks);
                        self.shared.fail(e);
                        return;
                    }
                },
            };
            blocks.current.extend(records);
            blocks.current_bytes = blocks.current_bytes.saturating_add(bytes);
            ticket
        };
        if let (Some((wal, _)), Some(ticket)) = (log, ticket) {
            if let Err(e) = wal.flush(ticket) {
                self.shared.fail(e);
                return;
            }
        }
        self.stored(added);
    }

    /// Waits until `n` more records are within the rate in force (if any).
    fn pace(&self, n: usize) {
        if let Some(rate) = self.shared.rate.rate() {
            let wait = self.shared.limiter.reserve(n as u64, rate);
            if !wait.is_zero() {
                self.wait_stopped_for(wait);
            }
        }
    }

    /// The blocks, once the buffer has room for `n` records of `bytes` (an empty buffer always
    /// has room, so one store larger than the bounds still goes through; so does any store once
    /// the receiver is stopping, so that a stop never waits on a batch).
    fn wait_for_room(&self, n: usize, bytes: usize) -> MutexGuard<'_, Blocks<T>> {
        let limits = self.shared.rate.limits();
        let (max_records, max_bytes) = (limits.max_buffered_records, limits.max_buffered_bytes);
        let mut blocks = lock(&self.shared.blocks);
        let mut waited = false;
        while !blocks.current.is_empty()
            && !self.is_stopped()
            && (blocks.current.len().saturating_add(n) > max_records
                || blocks.current_bytes.saturating_add(bytes) > max_bytes)
        {
            if !waited {
                waited = true;
                log::debug!(
                    "{}: the buffer is full ({} records, {} bytes): waiting for a batch to take them",
                    self.shared.name,
                    blocks.current.len(),
                    blocks.current_bytes
                );
            }
            blocks = self
                .shared
                .room
                .wait_timeout(blocks, READ_ROOM_POLL)
                .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
        }
        blocks
    }

    /// Counts `added` records stored, and tells the driver.
    fn stored(&self, added: u64) {
        self.status().records += added;
        if let Some(job) = &self.shared.job {
            job.metrics.record_received(added);
        }
        self.shared.wake();
    }

    /// Whether the receiver should stop (the context is stopping or restarting it).
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// t.context().receiver_stream(Handover(Mutex::new(tx))).print();
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// assert!(!ctx.is_stopped());
    /// t.context().stop(false)?;
    /// assert!(ctx.is_stopped()); // the receiver's threads should end now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` (for a back-off), waking early when the receiver is stopped;
    /// returns whether it was stopped.
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// t.context().receiver_stream(Handover(Mutex::new(tx))).print();
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// assert!(!ctx.wait_stopped(std::time::Duration::from_millis(10))?); // timed out: still running
    /// assert!(!ctx.wait_stopped("10 ms")?); // a string,
    /// assert!(!ctx.wait_stopped(Duration::milliseconds(10))?); // or streamflow's own
    /// assert!(ctx.wait_stopped("soon").is_err()); // no duration
    /// t.context().stop(false)?;
    /// assert!(ctx.wait_stopped("60 seconds")?); // returns at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_stopped(&self, timeout: impl IntoDuration) -> Result<bool> {
        Ok(self.wait_stopped_for(timeout.into_duration()?.to_std()))
    }

    /// [`wait_stopped`](Self::wait_stopped) for a `std::time::Duration`, which cannot fail.
    pub(crate) fn wait_stopped_for(&self, timeout: std::time::Duration) -> bool {
        let (lock, cvar) = &self.shared.stop_signal;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    /// Reports an error; the receiver keeps going. Counted and shown in metrics, and logged.
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// t.context().receiver_stream(Handover(Mutex::new(tx))).print();
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// ctx.report_error("connection refused; retrying");
    /// let status = &t.context().receiver_statuses()[0];
    /// assert_eq!(status.errors, 1);
    /// assert_eq!(status.last_error.as_deref(), Some("connection refused; retrying"));
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report_error(&self, message: impl Into<String>) {
        let message = message.into();
        let mut status = self.status();
        log::warn!("{}: {message}", status.name);
        status.errors += 1;
        status.last_error = Some(message);
        let snapshot = status.clone();
        drop(status);
        if let Some(job) = &self.shared.job {
            job.metrics.receiver_error(&snapshot);
        }
    }

    /// Marks the receiver connected (receiving) or not.
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// t.context().receiver_stream(Handover(Mutex::new(tx))).print();
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// ctx.set_active(true);
    /// assert!(t.context().receiver_statuses()[0].active);
    /// t.context().stop(false)?;
    /// assert!(!t.context().receiver_statuses()[0].active); // a stopped receiver is inactive
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_active(&self, active: bool) {
        self.status().active = active;
    }

    /// Counts `n` pieces of input that could not be decoded and were skipped.
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// t.context().receiver_stream(Handover(Mutex::new(tx))).print();
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// ctx.count_undecodable(2);
    /// assert_eq!(t.context().receiver_statuses()[0].undecodable, 2);
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count_undecodable(&self, n: u64) {
        self.status().undecodable += n;
    }

    /// Asks for a restart: `on_stop`, a pause of `restart_delay`, then `on_start` again.
    ///
    /// ```
    /// # use std::sync::{Mutex, mpsc};
    /// # use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    /// # struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);
    /// # impl Receiver<i32> for Handover {
    /// #     fn on_start(&self, ctx: ReceiverContext<i32>) {
    /// #         let _ = self.0.lock().unwrap().send(ctx);
    /// #     }
    /// #     fn on_stop(&self) {}
    /// #     fn restart_delay(&self) -> Duration {
    /// #         Duration::ZERO
    /// #     }
    /// # }
    /// # let (tx, rx) = mpsc::channel();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// // `Handover` (hidden) hands the context it is started with to this test.
    /// t.context().receiver_stream(Handover(Mutex::new(tx))).print();
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// ctx.restart("connection lost");
    /// let ctx = rx.recv()?; // on_stop, then on_start again (this receiver has no restart delay)
    /// assert!(!ctx.is_stopped());
    /// assert_eq!(t.context().receiver_statuses()[0].restarts, 1);
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restart(&self, reason: impl Into<String>) {
        let _ = self.shared.commands.send(Command::Restart(reason.into()));
    }

    /// Fails the job for good with `error` (a malformed record under fail-fast, say).
    pub(crate) fn fail(&self, error: Error) {
        self.shared.fail(error);
    }

    fn status(&self) -> MutexGuard<'_, ReceiverStatus> {
        lock(&self.shared.status)
    }
}

/// A [`Receiver`] as a [`Source`]: starts, supervises and stops it, and cuts what it stores
/// into blocks.
pub(crate) struct ReceiverSource<T> {
    name: String,
    receiver: Arc<dyn Receiver<T>>,
    shared: Arc<Shared<T>>,
    inbox: Inbox<Command>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Data> ReceiverSource<T> {
    /// Runs `receiver`; `job` is the DStream context it reports to, if any (and whose limits
    /// it keeps to). Blocks live in memory only.
    pub(crate) fn new(receiver: Arc<dyn Receiver<T>>, job: Option<JobHooks>) -> Self {
        let limits = job.as_ref().map(|j| j.limits.clone()).unwrap_or_default();
        Self::with_codec(receiver, job, None, limits)
    }

    /// Runs `receiver`, logging what it stores to a write-ahead log when the job has a
    /// checkpoint.
    pub(crate) fn logged(receiver: Arc<dyn Receiver<T>>, job: Option<JobHooks>) -> Self
    where
        T: Serialize + DeserializeOwned,
    {
        let limits = job.as_ref().map(|j| j.limits.clone()).unwrap_or_default();
        Self::with_codec(receiver, job, Some(WalCodec::records()), limits)
    }

    /// Runs `receiver`, logging with `codec` (if any) when the job has a checkpoint, taking in
    /// no more than `limits` allow.
    pub(crate) fn with_codec(
        receiver: Arc<dyn Receiver<T>>,
        job: Option<JobHooks>,
        codec: Option<WalCodec<T>>,
        limits: SourceLimits,
    ) -> Self {
        let name = receiver.name();
        let (commands, inbox) = crossbeam_channel::unbounded();
        ReceiverSource {
            shared: Arc::new(Shared {
                name: name.clone(),
                room: Condvar::new(),
                rate: RateController::new(limits),
                limiter: RateLimiter::new(),
                blocks: Mutex::new(Blocks {
                    current: Vec::new(),
                    current_bytes: 0,
                    sealed: VecDeque::new(),
                    base: 0,
                }),
                codec,
                wal: OnceLock::new(),
                status: Mutex::new(ReceiverStatus::new(name.clone())),
                stopped: AtomicBool::new(true),
                stop_signal: (Mutex::new(true), Condvar::new()),
                commands,
                job,
                waker: Mutex::new(None),
                failure: Mutex::new(None),
            }),
            name,
            receiver,
            inbox,
            supervisor: Mutex::new(None),
        }
    }

    fn set_stopped(shared: &Shared<T>, stopped: bool) {
        shared.stopped.store(stopped, Ordering::Release);
        let (lock, cvar) = &shared.stop_signal;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = stopped;
        cvar.notify_all();
        // A store waiting for room goes through once stopping.
        shared.room.notify_all();
    }

    /// Runs `on_start` / `on_stop`; a panic there is a bug in the receiver, so it fails the job
    /// with an error naming the receiver rather than leaving a stream that silently gets no data.
    fn call(name: &str, shared: &Shared<T>, what: &str, f: impl FnOnce()) -> bool {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => true,
            Err(payload) => {
                shared.fail(Error::Source {
                    source_name: name.to_string(),
                    message: format!("{what} panicked: {}", panic_message(payload.as_ref())),
                });
                false
            }
        }
    }

    /// The supervisor: starts the receiver, restarts it on request, stops it on `Stop`.
    fn supervise(
        receiver: Arc<dyn Receiver<T>>,
        name: String,
        shared: Arc<Shared<T>>,
        inbox: Inbox<Command>,
    ) {
        let ctx = ReceiverContext {
            shared: shared.clone(),
        };
        let on_start =
            |ctx: ReceiverContext<T>| Self::call(&name, &shared, "on_start", || receiver.on_start(ctx));
        if !on_start(ctx.clone()) {
            return;
        }
        while let Ok(command) = inbox.recv() {
            match command {
                Command::Stop => break,
                Command::Restart(reason) => {
                    log::warn!("{name}: restarting: {reason}");
                    Self::set_stopped(&shared, true);
                    if !Self::call(&name, &shared, "on_stop", || receiver.on_stop()) {
                        return;
                    }
                    ctx.status().restarts += 1;
                    Self::set_stopped(&shared, false);
                    // A stop during the pause wins over the restart.
                    if let Ok(Command::Stop) = inbox.recv_timeout(receiver.restart_delay().to_std()) {
                        break;
                    }
                    if !on_start(ctx.clone()) {
                        return;
                    }
                }
            }
        }
        Self::set_stopped(&shared, true);
        Self::call(&name, &shared, "on_stop", || receiver.on_stop());
        ctx.set_active(false);
    }
}

impl<T: Data> Source for ReceiverSource<T> {
    type Item = T;
    type Offset = u64;

    fn name(&self) -> String {
        self.name.clone()
    }

    /// Opens the write-ahead log, if this stream logs and the job has a checkpoint (its blocks
    /// served again, what was stored after the last block stored again), then starts the
    /// receiver.
    fn start(&self, ctx: &SourceContext) -> Result<()> {
        if let (Some(codec), Some(metadata), None) =
            (&self.shared.codec, ctx.metadata_path(), self.shared.wal.get())
        {
            self.open_wal(codec, &metadata.join("wal"))?;
        }
        *lock(&self.shared.waker) = Some(ctx.clone());
        Self::set_stopped(&self.shared, false);
        let (receiver, name, shared, inbox) = (
            self.receiver.clone(),
            self.name.clone(),
            self.shared.clone(),
            self.inbox.clone(),
        );
        let handle = std::thread::Builder::new()
            .name(format!("receiver-{name}"))
            .spawn(move || Self::supervise(receiver, name, shared, inbox))
            .map_err(|e| Error::io(format!("cannot start the thread of receiver {}", self.name), e))?;
        *lock(&self.supervisor) = Some(handle);
        Ok(())
    }

    /// Stops the receiver and waits for it; what it stored stays for the next batches.
    fn stop(&self) {
        let handle = lock(&self.supervisor).take();
        if let Some(handle) = handle {
            Self::set_stopped(&self.shared, true);
            let _ = self.shared.commands.send(Command::Stop);
            let _ = handle.join();
        }
        // The commit records not synced yet (stored records always are).
        if let Some(wal) = self.shared.wal.get() {
            if let Err(e) = wal.flush_all() {
                log::warn!("{}: {e}", self.name);
            }
        }
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    /// Seals what was stored since the last call into a block (in the write-ahead log first,
    /// if there is one); the offset counts blocks.
    fn latest_offset(&self, start: &u64, limit: ReadLimit, _batch_time: Time) -> Result<u64> {
        if let Some(error) = lock(&self.shared.failure).as_ref() {
            return Err(error.clone());
        }
        let wal = self.shared.wal.get();
        let (end, sealed) = {
            let mut blocks = lock(&self.shared.blocks);
            if *start > blocks.end() {
                // A job restarted from a checkpoint: its committed offset is past every block
                // held here. Without a log those blocks are gone, and new blocks are numbered
                // after it; a log that numbered its blocks must have them.
                match wal.and_then(Wal::next_block) {
                    Some(next) => {
                        return Err(Error::CorruptCheckpoint {
                            path: wal.map(|w| w.dir().to_path_buf()).unwrap_or_default(),
                            message: format!(
                                "the checkpoint says the blocks before {start} were committed, but this write-ahead log ends at block {next}: it was deleted, or belongs to another job"
                            ),
                        });
                    }
                    None => blocks.base = *start - blocks.sealed.len() as u64,
                }
            }
            let mut sealed = None;
            if !blocks.current.is_empty() {
                let seq = blocks.end();
                let block = std::mem::take(&mut blocks.current);
                blocks.current_bytes = 0;
                blocks.sealed.push_back(block);
                self.shared.room.notify_all();
                sealed = wal.map(|wal| wal.append_seal(seq));
            }
            (blocks.end(), sealed)
        };
        if let (Some(wal), Some(ticket)) = (wal, sealed) {
            wal.flush(ticket)?;
        }
        Ok(start + limit.cap(end.saturating_sub(*start)))
    }

    /// The records of the blocks of `(start, end]`: from memory, and (with a write-ahead log)
    /// those committed or recovered since from the log.
    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<T>> {
        let (held, base) = {
            let blocks = lock(&self.shared.blocks);
            let from = start.saturating_sub(blocks.base) as usize;
            let to = (end.saturating_sub(blocks.base) as usize).min(blocks.sealed.len());
            let held: Vec<T> = blocks.sealed.range(from.min(to)..to).flatten().cloned().collect();
            (held, blocks.base)
        };
        let (Some(wal), Some(codec)) = (self.shared.wal.get(), self.shared.codec.as_ref()) else {
            return Ok(SourceBatch::from_vec(held));
        };
        let mut records = Vec::new();
        for seq in *start..(*end).min(base) {
            let chunks = wal.read_block(seq)?.ok_or_else(|| Error::Source {
                source_name: self.name.clone(),
                message: format!(
                    "block {seq} is no longer in the write-ahead log {}: it keeps the blocks of the last {RETAINED_COMMITS} commits",
                    wal.dir().display()
                ),
            })?;
            for (path, bytes) in chunks {
                records.extend(decode_logged(codec, &path, &bytes)?);
            }
        }
        records.extend(held);
        Ok(SourceBatch::from_vec(records))
    }

    /// Drops the blocks up to `end` from memory (a write-ahead log keeps them a while).
    fn commit(&self, end: &u64) {
        let mut blocks = lock(&self.shared.blocks);
        while blocks.base < *end && blocks.sealed.pop_front().is_some() {
            blocks.base += 1;
        }
        drop(blocks);
        if let Some(wal) = self.shared.wal.get() {
            wal.append_commit(*end);
        }
    }

    /// With a write-ahead log (once started with a checkpoint), yes: blocks are read back from
    /// it. Without, blocks live in memory only and are dropped once committed.
    fn is_replayable(&self) -> bool {
        self.shared.wal.get().is_some()
    }

    fn status(&self) -> Option<ReceiverStatus> {
        Some(lock(&self.shared.status).clone())
    }

    /// With backpressure, sets the rate of the next stores from the batch (Spark's
    /// `ReceiverRateController`).
    fn batch_completed(&self, stats: &BatchStats) {
        if let Some(rate) = self.shared.rate.update(stats, stats.records) {
            log::debug!("{}: rate set to {rate:.0} records/s", self.name);
        }
    }
}

impl<T: Data> ReceiverSource<T> {
    /// Opens the write-ahead log in `dir` and takes back what it holds: the next block is
    /// numbered after its last one, and what was stored after that is stored again.
    fn open_wal(&self, codec: &WalCodec<T>, dir: &Path) -> Result<()> {
        let (wal, recovered) = Wal::open(dir)?;
        let mut current = Vec::new();
        for chunk in &recovered.open_chunks {
            current.extend(decode_logged(codec, dir, chunk)?);
        }
        {
            let mut blocks = lock(&self.shared.blocks);
            if let Some(next) = recovered.next_block {
                blocks.base = next;
            }
            let stored_since = std::mem::take(&mut blocks.current);
            blocks.current = current;
            blocks.current.extend(stored_since);
        }
        if self.shared.wal.set(wal).is_err() {
            return Err(Error::illegal_state(format!(
                "receiver {}: its write-ahead log was opened twice",
                self.name
            )));
        }
        Ok(())
    }
}

/// The records of a chunk read from the log at `path`.
fn decode_logged<T>(codec: &WalCodec<T>, path: &Path, bytes: &[u8]) -> Result<Vec<T>> {
    (codec.decode)(bytes).map_err(|e| Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        message: format!(
            "a logged block does not decode as this receiver's records: {e}; was the record type changed? (a changed type needs a new checkpoint directory)"
        ),
    })
}

impl StreamingContext {
    /// A stream fed by a user-defined [`Receiver`] (Spark's `receiverStream`). Each batch holds
    /// the records stored since the previous batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Mutex, mpsc};
    /// use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    ///
    /// /// Hands the context it is started with to the test, which then stores records itself.
    /// struct Handover(Mutex<mpsc::Sender<ReceiverContext<&'static str>>>);
    /// impl Receiver<&'static str> for Handover {
    ///     fn on_start(&self, ctx: ReceiverContext<&'static str>) {
    ///         let _ = self.0.lock().unwrap().send(ctx);
    ///     }
    ///     fn on_stop(&self) {}
    ///     fn name(&self) -> String {
    ///         "handover".into()
    ///     }
    /// }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = mpsc::channel();
    /// let out = t.collect(&t.context().receiver_stream(Handover(Mutex::new(tx))));
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// ctx.store_all(["a", "b"]);
    /// t.advance_batches(1)?;
    /// ctx.store("c");
    /// t.advance_batches(2)?;
    /// assert_eq!(out.batches(), vec![vec!["a", "b"], vec!["c"], vec![]]);
    /// assert_eq!(t.context().receiver_statuses()[0].name, "handover");
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receiver_stream<T: Data>(&self, receiver: impl Receiver<T>) -> DStream<T> {
        self.source_stream(ReceiverSource::new(Arc::new(receiver), Some(self.job_hooks())))
    }

    /// A stream fed by a user-defined [`Receiver`] whose records are written to a write-ahead
    /// log when the job has a checkpoint (Spark's `receiverStream` with
    /// `spark.streaming.receiver.writeAheadLog.enable`).
    ///
    /// Each [`store`](ReceiverContext::store) / [`store_all`](ReceiverContext::store_all)
    /// returns once its records are in the log and synced (stores from several threads share a
    /// sync), so a receiver that acknowledges its input after storing it loses nothing when the
    /// job is killed; each block is sealed in the log before a batch can plan it. A job
    /// restarted on the same checkpoint re-runs its last batch with exactly the same records,
    /// reads the blocks of the last 100 committed batches again if it needs them (windows), and
    /// hands what was stored but not yet in a batch to the next one. The stream is then
    /// replayable: with an idempotent sink, its output is exactly once.
    ///
    /// Records are written with postcard, as state is: `T` must serialize and deserialize
    /// (owned data, no `#[serde(flatten)]` or untagged enums). Without a checkpoint it behaves
    /// as [`receiver_stream`](Self::receiver_stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Mutex, mpsc};
    /// use streamflow::{Duration, Receiver, ReceiverContext, testing::TestContext};
    ///
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Reading { sensor: String, value: i64 }
    ///
    /// /// Hands the context it is started with to the test, which then stores records itself.
    /// struct Handover(Mutex<mpsc::Sender<ReceiverContext<Reading>>>);
    /// impl Receiver<Reading> for Handover {
    ///     fn on_start(&self, ctx: ReceiverContext<Reading>) {
    ///         let _ = self.0.lock().unwrap().send(ctx);
    ///     }
    ///     fn on_stop(&self) {}
    /// }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = mpsc::channel();
    /// let readings = t.context().receiver_stream_with_write_ahead_log(Handover(Mutex::new(tx)));
    /// let out = t.collect(&readings.map(|r| r.value));
    /// t.start()?;
    /// let ctx = rx.recv()?;
    /// // With a checkpoint, this returns once the reading is on disk: acknowledge it then.
    /// ctx.store(Reading { sensor: "s1".into(), value: 7 });
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec![7]]);
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "receiverStream")]
    pub fn receiver_stream_with_write_ahead_log<T>(&self, receiver: impl Receiver<T>) -> DStream<T>
    where
        T: Data + Serialize + DeserializeOwned,
    {
        self.source_stream(ReceiverSource::logged(Arc::new(receiver), Some(self.job_hooks())))
    }

    /// What a receiver of this context reports to.
    pub(crate) fn job_hooks(&self) -> JobHooks {
        JobHooks {
            metrics: self.inner.metrics.clone(),
            control: self.inner.control.clone(),
            limits: self.inner.source_limits.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::sync::mpsc;

    use super::*;
    use crate::source::testing::read_all;

    const NOW: Time = Time::from_millis(0);
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

    /// Hands the context it is started with to the test, which stores records itself.
    struct Handover(Mutex<mpsc::Sender<ReceiverContext<i32>>>);

    impl Receiver<i32> for Handover {
        fn on_start(&self, ctx: ReceiverContext<i32>) {
            let _ = lock(&self.0).send(ctx);
        }
        fn on_stop(&self) {}
        fn name(&self) -> String {
            "handover".into()
        }
    }

    /// A started receiver source, its receiver's context, and a channel that hears every wake-up.
    fn started() -> (ReceiverSource<i32>, ReceiverContext<i32>, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::channel();
        let source = ReceiverSource::new(Arc::new(Handover(Mutex::new(tx))), None);
        let (woke, wakes) = mpsc::channel();
        let woke = Mutex::new(woke);
        let ctx = SourceContext::new(
            Arc::new(move || {
                let _ = lock(&woke).send(());
            }),
            NOW,
            2,
        );
        source.start(&ctx).unwrap();
        let receiver_ctx = rx.recv_timeout(PATIENCE).unwrap();
        (source, receiver_ctx, wakes)
    }

    fn latest(source: &ReceiverSource<i32>, start: u64, limit: ReadLimit) -> u64 {
        source.latest_offset(&start, limit, NOW).unwrap()
    }

    #[test]
    fn each_latest_offset_seals_a_block_and_a_range_reads_its_blocks() {
        let (source, ctx, wakes) = started();
        assert_eq!(
            latest(&source, 0, ReadLimit::AllAvailable),
            0,
            "nothing stored, no block"
        );
        ctx.store_all([1, 2]);
        wakes.recv_timeout(PATIENCE).unwrap(); // storing wakes the driver
        assert_eq!(latest(&source, 0, ReadLimit::AllAvailable), 1);
        ctx.store(3);
        assert_eq!(latest(&source, 1, ReadLimit::AllAvailable), 2);
        assert_eq!(latest(&source, 2, ReadLimit::AllAvailable), 2, "no empty block");
        assert_eq!(latest(&source, 0, ReadLimit::Max(1)), 1);
        assert_eq!(read_all(source.get_batch(&0, &1).unwrap()), [1, 2]);
        assert_eq!(read_all(source.get_batch(&1, &2).unwrap()), [3]);
        assert_eq!(read_all(source.get_batch(&0, &2).unwrap()), [1, 2, 3]);
        assert_eq!(source.status().unwrap().records, 3);
        source.stop();
    }

    #[test]
    fn commit_forgets_the_blocks_and_it_is_not_replayable() {
        let (source, ctx, _wakes) = started();
        ctx.store_all([1, 2]);
        latest(&source, 0, ReadLimit::AllAvailable);
        ctx.store(3);
        latest(&source, 1, ReadLimit::AllAvailable);
        source.commit(&1);
        assert!(read_all(source.get_batch(&0, &1).unwrap()).is_empty());
        assert_eq!(read_all(source.get_batch(&1, &2).unwrap()), [3]);
        assert!(!source.is_replayable());
        source.stop();
    }

    #[test]
    fn records_stored_before_a_stop_stay_for_the_next_batches() {
        let (source, ctx, _wakes) = started();
        ctx.store_all([7, 8]);
        source.stop();
        assert!(ctx.is_stopped());
        assert_eq!(latest(&source, 0, ReadLimit::AllAvailable), 1);
        assert_eq!(read_all(source.get_batch(&0, &1).unwrap()), [7, 8]);
        source.stop(); // idempotent
    }

    /// Asks for a restart as soon as it starts, and panics when stopped.
    struct Unstoppable;

    impl Receiver<i32> for Unstoppable {
        fn on_start(&self, ctx: ReceiverContext<i32>) {
            ctx.restart("feed lost");
        }
        fn on_stop(&self) {
            panic!("cannot close the feed");
        }
        fn name(&self) -> String {
            "stuck feed".into()
        }
    }

    #[test]
    fn a_panic_in_the_receiver_fails_the_next_batch_naming_it() {
        let source = ReceiverSource::new(Arc::new(Unstoppable), None);
        source.start(&SourceContext::detached(NOW, 1)).unwrap();
        source.stop(); // waits for the supervisor, which ran (and caught) on_stop
        let err = source
            .latest_offset(&0, ReadLimit::AllAvailable, NOW)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Source { source_name, .. } if source_name == "stuck feed"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("on_stop panicked: cannot close the feed"),
            "{err}"
        );
    }

    // ------------------------------------------------------------ the write-ahead log

    /// A started receiver source that logs to the checkpoint directory `metadata`, and its
    /// receiver's context.
    fn started_logged(metadata: &std::path::Path) -> (ReceiverSource<i32>, ReceiverContext<i32>) {
        let (tx, rx) = mpsc::channel();
        let source = ReceiverSource::logged(Arc::new(Handover(Mutex::new(tx))), None);
        let ctx = SourceContext::detached(NOW, 2).with_metadata_path(metadata.to_path_buf());
        source.start(&ctx).unwrap();
        (source, rx.recv_timeout(PATIENCE).unwrap())
    }

    #[test]
    fn a_logged_receiver_serves_its_blocks_again_after_a_restart() {
        let checkpoint = tempfile::tempdir().unwrap();
        let (source, ctx) = started_logged(checkpoint.path());
        assert!(source.is_replayable());
        ctx.store_all([1, 2]);
        assert_eq!(latest(&source, 0, ReadLimit::AllAvailable), 1);
        ctx.store(3);
        assert_eq!(latest(&source, 1, ReadLimit::AllAvailable), 2);
        source.commit(&1);
        ctx.store_all([4, 5]);
        // `store_all` returned: the records are on disk, before any block holds them (a
        // second reader of the log finds them while the job still runs).
        let (_, on_disk) = Wal::open(&checkpoint.path().join("wal")).unwrap();
        assert_eq!(on_disk.next_block, Some(2));
        assert_eq!(on_disk.open_chunks.len(), 1);
        source.stop();

        let (source, ctx) = started_logged(checkpoint.path());
        assert!(source.is_replayable());
        // The last planned batch (1, 2] re-runs with the same records, and so does an older,
        // committed range (a window rebuilt after the restart).
        assert_eq!(read_all(source.get_batch(&1, &2).unwrap()), [3]);
        assert_eq!(read_all(source.get_batch(&0, &2).unwrap()), [1, 2, 3]);
        // What was stored after the last block goes into the next one.
        ctx.store(6);
        assert_eq!(latest(&source, 2, ReadLimit::AllAvailable), 3);
        assert_eq!(read_all(source.get_batch(&2, &3).unwrap()), [4, 5, 6]);
        source.stop();
    }

    #[test]
    fn without_a_checkpoint_a_logged_receiver_keeps_its_blocks_in_memory() {
        let (tx, rx) = mpsc::channel();
        let source = ReceiverSource::<i32>::logged(Arc::new(Handover(Mutex::new(tx))), None);
        source.start(&SourceContext::detached(NOW, 1)).unwrap();
        let ctx = rx.recv_timeout(PATIENCE).unwrap();
        assert!(!source.is_replayable());
        assert!(!ctx.logs_input());
        ctx.store(1);
        assert_eq!(latest(&source, 0, ReadLimit::AllAvailable), 1);
        assert_eq!(read_all(source.get_batch(&0, &1).unwrap()), [1]);
        source.stop();
    }

    #[test]
    fn a_restored_offset_past_the_blocks_renumbers_them_unless_a_log_numbered_them() {
        // No log: the blocks of the run before are gone; new ones come after the offset.
        let (source, ctx, _wakes) = started();
        ctx.store_all([1, 2]);
        assert_eq!(latest(&source, 5, ReadLimit::AllAvailable), 6);
        assert_eq!(read_all(source.get_batch(&5, &6).unwrap()), [1, 2]);
        source.stop();

        // A log that ends before the offset was deleted, or is another job's.
        let checkpoint = tempfile::tempdir().unwrap();
        let (source, ctx) = started_logged(checkpoint.path());
        ctx.store(1);
        assert_eq!(latest(&source, 0, ReadLimit::AllAvailable), 1);
        source.stop();
        let (source, _ctx) = started_logged(checkpoint.path());
        let err = source
            .latest_offset(&7, ReadLimit::AllAvailable, NOW)
            .unwrap_err();
        assert!(matches!(err, Error::CorruptCheckpoint { .. }), "{err}");
        assert!(err.to_string().contains("ends at block 1"), "{err}");
        source.stop();
    }

    #[test]
    fn a_block_retention_deleted_is_an_error_naming_the_log() {
        let checkpoint = tempfile::tempdir().unwrap();
        let (source, ctx) = started_logged(checkpoint.path());
        let batches = RETAINED_COMMITS as u64 + 2 * super::super::wal::SEGMENT_BLOCKS;
        for end in 1..=batches {
            ctx.store(end as i32);
            assert_eq!(latest(&source, end - 1, ReadLimit::AllAvailable), end);
            source.commit(&end);
        }
        assert_eq!(
            read_all(source.get_batch(&(batches - 1), &batches).unwrap()),
            [batches as i32]
        );
        let err = source.get_batch(&0, &1).err().unwrap();
        assert!(
            err.to_string()
                .contains("block 0 is no longer in the write-ahead log"),
            "{err}"
        );
        source.stop();
    }
}
