//! Receivers (Spark's `Receiver`): code that runs on its own threads and pushes records into
//! the stream with `store` — user-defined ones (`receiver_stream`) and the socket sources of
//! both vocabularies.
//!
//! The receiver machinery is a [`Source`] whose offset counts blocks. Stored records go into a
//! buffer; when the driver asks for the latest offset, the buffer is sealed into a block with
//! the next sequence number and the offset is the number of blocks sealed. A batch reads the
//! blocks of its range; once it is committed they are dropped. Blocks live only in memory, so
//! the source is not replayable (a write-ahead log of blocks would make it so). A stop keeps
//! what was stored: a graceful stop still hands it to the last batches.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver as Inbox, Sender};

use super::{ReadLimit, Source, SourceBatch, SourceContext};
use crate::StreamingContext;
use crate::context::clone_error;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::{JobControl, lock, panic_message};
use crate::metrics::{Metrics, ReceiverStatus};
use crate::time::{Duration, Time};

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
/// assert!(t.context().await_records_received(3, std::time::Duration::from_secs(10)));
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

enum Command {
    Restart(String),
    Stop,
}

/// Records stored and not sealed yet, and the sealed blocks not committed yet.
struct Blocks<T> {
    /// Stored since the last block was sealed.
    current: Vec<T>,
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
}

struct Shared<T> {
    blocks: Mutex<Blocks<T>>,
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
            job.control.fail(clone_error(&error));
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
    pub fn store_all(&self, records: impl IntoIterator<Item = T>) {
        let added = {
            let mut blocks = lock(&self.shared.blocks);
            let before = blocks.current.len();
            blocks.current.extend(records);
            (blocks.current.len() - before) as u64
        };
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
    /// assert!(!ctx.wait_stopped(std::time::Duration::from_millis(10))); // timed out: still running
    /// t.context().stop(false)?;
    /// assert!(ctx.wait_stopped(std::time::Duration::from_secs(60))); // returns at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_stopped(&self, timeout: std::time::Duration) -> bool {
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
    /// Runs `receiver`; `job` is the DStream context it reports to, if any.
    pub(crate) fn new(receiver: Arc<dyn Receiver<T>>, job: Option<JobHooks>) -> Self {
        let name = receiver.name();
        let (commands, inbox) = crossbeam_channel::unbounded();
        ReceiverSource {
            shared: Arc::new(Shared {
                blocks: Mutex::new(Blocks {
                    current: Vec::new(),
                    sealed: VecDeque::new(),
                    base: 0,
                }),
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

    fn start(&self, ctx: &SourceContext) -> Result<()> {
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
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    /// Seals what was stored since the last call into a block; the offset counts blocks.
    fn latest_offset(&self, start: &u64, limit: ReadLimit, _batch_time: Time) -> Result<u64> {
        if let Some(error) = lock(&self.shared.failure).as_ref() {
            return Err(clone_error(error));
        }
        let mut blocks = lock(&self.shared.blocks);
        if !blocks.current.is_empty() {
            let block = std::mem::take(&mut blocks.current);
            blocks.sealed.push_back(block);
        }
        Ok(start + limit.cap(blocks.end().saturating_sub(*start)))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<T>> {
        let blocks = lock(&self.shared.blocks);
        let from = start.saturating_sub(blocks.base) as usize;
        let to = (end.saturating_sub(blocks.base) as usize).min(blocks.sealed.len());
        let records = blocks.sealed.range(from.min(to)..to).flatten().cloned().collect();
        Ok(SourceBatch::from_vec(records))
    }

    /// Drops the blocks up to `end`.
    fn commit(&self, end: &u64) {
        let mut blocks = lock(&self.shared.blocks);
        while blocks.base < *end && blocks.sealed.pop_front().is_some() {
            blocks.base += 1;
        }
    }

    /// Blocks live in memory only, and are dropped once committed.
    fn is_replayable(&self) -> bool {
        false
    }

    fn status(&self) -> Option<ReceiverStatus> {
        Some(lock(&self.shared.status).clone())
    }
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

    /// What a receiver of this context reports to.
    pub(crate) fn job_hooks(&self) -> JobHooks {
        JobHooks {
            metrics: self.inner.metrics.clone(),
            control: self.inner.control.clone(),
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
}
