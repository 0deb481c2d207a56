//! User-defined receivers (Spark's `Receiver`): code that runs on its own threads and pushes
//! records into the stream with `store`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver as Inbox, Sender};

use super::SourceControl;
use crate::StreamingContext;
use crate::batch::Batch;
use crate::context::ContextInner;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::panic_message;
use crate::metrics::{Metrics, ReceiverStatus};
use crate::time::Duration;

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

struct Shared<T> {
    buffer: Mutex<Vec<T>>,
    status: Mutex<ReceiverStatus>,
    stopped: AtomicBool,
    stop_signal: (Mutex<bool>, Condvar),
    metrics: Arc<Metrics>,
    commands: Sender<Command>,
    /// The context, to fail the job when the receiver's own code panics.
    context: Weak<ContextInner>,
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
        let mut buffer = self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let before = buffer.len();
        buffer.extend(records);
        let added = (buffer.len() - before) as u64;
        drop(buffer);
        self.status().records += added;
        self.shared.metrics.record_received(added);
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
        self.shared.metrics.receiver_error(&snapshot);
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

    fn status(&self) -> MutexGuard<'_, ReceiverStatus> {
        self.shared.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The context's side of a receiver: starts, supervises and stops it.
struct ReceiverInput<T: Data> {
    receiver: Arc<dyn Receiver<T>>,
    shared: Arc<Shared<T>>,
    inbox: Inbox<Command>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Data> ReceiverInput<T> {
    fn set_stopped(shared: &Shared<T>, stopped: bool) {
        shared.stopped.store(stopped, Ordering::Release);
        let (lock, cvar) = &shared.stop_signal;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = stopped;
        cvar.notify_all();
    }
}

impl<T: Data> ReceiverInput<T> {
    /// Runs `on_start` / `on_stop`; a panic there is a bug in the receiver, so it fails the job
    /// with an error naming the receiver rather than leaving a stream that silently gets no data.
    fn call(receiver: &Arc<dyn Receiver<T>>, shared: &Shared<T>, what: &str, f: impl FnOnce()) -> bool {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => true,
            Err(payload) => {
                let error = Error::Source {
                    source_name: receiver.name(),
                    message: format!("{what} panicked: {}", panic_message(payload.as_ref())),
                };
                if let Some(context) = shared.context.upgrade() {
                    context.fail(error);
                }
                false
            }
        }
    }
}

impl<T: Data> SourceControl for ReceiverInput<T> {
    fn start(&self) -> Result<()> {
        Self::set_stopped(&self.shared, false);
        let receiver = self.receiver.clone();
        let shared = self.shared.clone();
        let inbox = self.inbox.clone();
        let name = receiver.name();
        let handle = std::thread::Builder::new()
            .name(format!("receiver-{name}"))
            .spawn(move || {
                let ctx = ReceiverContext {
                    shared: shared.clone(),
                };
                let on_start = |ctx: ReceiverContext<T>| {
                    Self::call(&receiver, &shared, "on_start", || receiver.on_start(ctx))
                };
                if !on_start(ctx.clone()) {
                    return;
                }
                while let Ok(command) = inbox.recv() {
                    match command {
                        Command::Stop => break,
                        Command::Restart(reason) => {
                            log::warn!("{}: restarting: {reason}", receiver.name());
                            Self::set_stopped(&shared, true);
                            if !Self::call(&receiver, &shared, "on_stop", || receiver.on_stop()) {
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
                Self::call(&receiver, &shared, "on_stop", || receiver.on_stop());
                ctx.set_active(false);
            })
            .map_err(|e| Error::io(format!("cannot start the thread of receiver {name}"), e))?;
        *self.supervisor.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    fn stop(&self) {
        let handle = self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            Self::set_stopped(&self.shared, true);
            let _ = self.shared.commands.send(Command::Stop);
            let _ = handle.join();
        }
    }

    fn has_pending(&self) -> bool {
        !self
            .shared
            .buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    fn status(&self) -> Option<ReceiverStatus> {
        Some(
            self.shared
                .status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
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
        let name = receiver.name();
        let (commands, inbox) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::new()),
            status: Mutex::new(ReceiverStatus::new(name.clone())),
            stopped: AtomicBool::new(true),
            stop_signal: (Mutex::new(true), Condvar::new()),
            metrics: self.inner.metrics.clone(),
            commands,
            context: Arc::downgrade(&self.inner),
        });
        self.register_control(Arc::new(ReceiverInput {
            receiver: Arc::new(receiver),
            shared: shared.clone(),
            inbox,
            supervisor: Mutex::new(None),
        }));
        let exec = self.inner.exec.clone();
        let parallelism = self.parallelism();
        self.source(name, move |time| {
            let records = std::mem::take(&mut *shared.buffer.lock().unwrap_or_else(|e| e.into_inner()));
            Ok(Batch::from_vec(records, parallelism, time, exec.clone()))
        })
    }
}
