//! Test your pipelines the way Spark's own suites do: input per batch, output per batch, on a
//! manual clock.
//!
//! [`run_batches`] is the one-liner; [`TestContext`] gives full control (several inputs,
//! sockets or files, a checkpoint directory, stepping batch by batch). For Structured queries,
//! [`StreamTest`] is Spark's `StreamTest`: add data, check the answer, advance the clock, stop
//! and restart on the checkpoint, expect a failure, look at the state. Nothing here sleeps:
//! the harness moves a [`ManualClock`] one batch interval and waits for the engine to say the
//! batch is done.
//!
//! # Examples
//!
//! ```
//! use streamflow::testing::{run_batches, sorted};
//!
//! fn word_counts(lines: streamflow::DStream<&'static str>) -> streamflow::DStream<(String, i32)> {
//!     lines
//!         .flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
//!         .map(|w| (w, 1))
//!         .reduce_by_key(|a, b| a + b)
//! }
//!
//! let out = run_batches(vec![vec!["a b", "a"], vec![], vec!["b"]], word_counts, 3);
//! assert_eq!(sorted(&out[0]), [("a".to_string(), 2), ("b".to_string(), 1)]);
//! assert!(out[1].is_empty());
//! ```

use std::sync::{Arc, Mutex};

mod stream_test;
pub use stream_test::StreamTest;

use crate::data::Data;
use crate::dstream::DStream;
use crate::error::Result;
use crate::time::{Clock, Duration, IntoDuration, ManualClock, Time};
use crate::{ContextState, StreamQueue, StreamingContext};

/// A streaming context on a manual clock, with helpers to feed input and collect output.
///
/// ```
/// use streamflow::{testing::TestContext, Duration};
///
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// let out = t.collect(&t.input(vec![vec![1, 2], vec![3]]).map(|x| x * 10));
/// t.start()?;
/// t.advance_batches(1)?;
/// assert_eq!(out.batches(), vec![vec![10, 20]]);
/// t.advance_batches(1)?;
/// assert_eq!(out.batches(), vec![vec![10, 20], vec![30]]);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct TestContext {
    ssc: StreamingContext,
    clock: ManualClock,
}

impl TestContext {
    /// A context with batch interval `batch` and `parallelism` workers on a manual clock at 0,
    /// so batch k runs at time `k * batch`.
    ///
    /// ```
    /// use streamflow::{Clock, Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::milliseconds(500), 3)?;
    /// assert_eq!(t.clock().now().millis(), 0);
    /// assert_eq!(t.context().batch_duration(), Duration::milliseconds(500));
    /// assert_eq!(t.context().parallelism(), 3);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn new(batch: impl IntoDuration, parallelism: usize) -> Result<Self> {
        let clock = ManualClock::new(0);
        let ssc = StreamingContext::builder()
            .batch_duration(batch)
            .parallelism(parallelism)
            .clock(clock.clone())
            .app_name("test")
            .build()?;
        Ok(TestContext { ssc, clock })
    }

    /// A context made by `builder` (its batch interval, parallelism, source limits …) on a
    /// manual clock at 0, in place of any clock the builder had.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext, source::SourceLimits, testing::TestContext};
    ///
    /// let t = TestContext::from_builder(
    ///     StreamingContext::builder()
    ///         .batch_duration(Duration::seconds(1))
    ///         .source_limits(SourceLimits::default().max_buffered_records(100)),
    /// )?;
    /// assert_eq!(t.context().source_limits(), &SourceLimits::default().max_buffered_records(100));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn from_builder(builder: crate::ContextBuilder) -> Result<Self> {
        let clock = ManualClock::new(0);
        let ssc = builder.clock(clock.clone()).build()?;
        Ok(TestContext { ssc, clock })
    }

    /// The context, to add sources, set a checkpoint directory, add listeners …
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.context().checkpoint(dir.path())?; // stateful operators need a checkpoint directory
    /// let totals = t
    ///     .input(vec![vec![("a".to_string(), 1)], vec![("a".to_string(), 2)]])
    ///     .update_state_by_key(|new: Vec<i32>, old: Option<i32>| {
    ///         Some(old.unwrap_or(0) + new.iter().sum::<i32>())
    ///     });
    /// let out = t.collect(&totals);
    /// t.run(2)?;
    /// assert_eq!(out.batches(), vec![vec![("a".to_string(), 1)], vec![("a".to_string(), 3)]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn context(&self) -> &StreamingContext {
        &self.ssc
    }

    /// The manual clock.
    ///
    /// ```
    /// use streamflow::{Clock, Duration, Time, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![1]]).print();
    /// t.start()?;
    /// t.advance_batches(2)?;
    /// assert_eq!(t.clock().now(), Time::from_millis(2_000));
    /// # t.context().stop(false)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// A stream whose batch k is `batches[k-1]`, and empty once they run out.
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.input(vec![vec!["a"], vec![], vec!["b", "c"]]));
    /// t.run(4)?;
    /// assert_eq!(out.batches(), vec![vec!["a"], vec![], vec!["b", "c"], vec![]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn input<T: Data>(&self, batches: Vec<Vec<T>>) -> DStream<T> {
        let queue = StreamQueue::new();
        for batch in batches {
            queue.push(batch);
        }
        self.ssc.queue_stream(queue, true, None)
    }

    /// Collects every batch `stream` produces (one entry per time at which it produces one).
    ///
    /// ```
    /// use streamflow::{Duration, testing::{TestContext, sorted}};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let windows = t.input(vec![vec![1], vec![2], vec![3], vec![4]]).window("2s", "2s");
    /// let out = t.collect(&windows);
    /// t.run(4)?;
    /// let batches = out.batches(); // a window sliding every 2 s produces every other batch
    /// assert_eq!(batches.len(), 2);
    /// assert_eq!((sorted(&batches[0]), sorted(&batches[1])), (vec![1, 2], vec![3, 4]));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn collect<T: Data>(&self, stream: &DStream<T>) -> Collected<T> {
        let collected = Collected {
            batches: Arc::new(Mutex::new(Vec::new())),
        };
        let sink = collected.batches.clone();
        stream.foreach_batch(move |batch, time| {
            let items = batch.collect();
            sink.lock().unwrap_or_else(|e| e.into_inner()).push((time, items));
        });
        collected
    }

    /// Starts the context (if it is not running yet).
    ///
    /// ```
    /// use streamflow::{ContextState, Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![1]]).print();
    /// t.start()?;
    /// t.start()?; // already running: nothing happens
    /// assert_eq!(t.context().state(), ContextState::Active);
    /// # t.context().stop(false)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn start(&self) -> Result<()> {
        if self.ssc.state() == ContextState::Initialized {
            self.ssc.start()?;
        }
        Ok(())
    }

    /// Moves the clock `n` batch intervals forward, waiting for each batch to finish.
    /// Returns the job's error if it failed.
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.input(vec![vec![1], vec![0]]).map(|x: i32| 10 / x));
    /// t.start()?;
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec![10]]);
    /// let err = t.advance_batches(1).unwrap_err(); // batch 2 divides by zero
    /// assert!(err.to_string().contains("at batch time 2000 ms in operator `map`"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn advance_batches(&self, n: usize) -> Result<()> {
        for _ in 0..n {
            self.clock.advance(self.ssc.batch_duration())?;
            self.ssc.await_batch(self.clock.now())?;
        }
        Ok(())
    }

    /// Starts, runs `n` batches, and stops.
    ///
    /// ```
    /// use streamflow::{ContextState, Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.input(vec![vec![1, 2], vec![3]]).count());
    /// t.run(2)?;
    /// assert_eq!(out.batches(), vec![vec![2], vec![1]]);
    /// assert_eq!(t.context().state(), ContextState::Stopped);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn run(&self, n: usize) -> Result<()> {
        self.start()?;
        let result = self.advance_batches(n);
        self.ssc.stop(false)?;
        result?;
        self.ssc.await_termination()
    }
}

/// The batches a stream produced in a test, filled in as the test advances the clock.
pub struct Collected<T> {
    batches: Arc<Mutex<Vec<(Time, Vec<T>)>>>,
}

impl<T: Clone> Collected<T> {
    /// The elements of each batch so far, in batch order.
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.input(vec![vec!['a'], vec!['b']]));
    /// assert!(out.batches().is_empty()); // nothing ran yet
    /// t.run(2)?;
    /// assert_eq!(out.batches(), vec![vec!['a'], vec!['b']]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn batches(&self) -> Vec<Vec<T>> {
        self.timed().into_iter().map(|(_, b)| b).collect()
    }

    /// Each batch so far with its time.
    ///
    /// ```
    /// use streamflow::{Duration, Time, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.input(vec![vec![1], vec![2]]));
    /// t.run(2)?;
    /// let at = Time::from_millis;
    /// assert_eq!(out.timed(), vec![(at(1_000), vec![1]), (at(2_000), vec![2])]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn timed(&self) -> Vec<(Time, Vec<T>)> {
        self.batches.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `pipeline` over `input` (batch k gets `input[k-1]`, empty when absent) for
/// `num_batches` batches of one second on two workers; returns the output of each batch.
///
/// # Panics
///
/// When the job fails (e.g. user code panics): this is a test helper. Use [`try_run_batches`]
/// to get the error instead.
///
/// ```
/// use streamflow::testing::run_batches;
///
/// let out = run_batches(vec![vec![1, 2], vec![3]], |s| s.map(|x| x * 10), 3);
/// assert_eq!(out, vec![vec![10, 20], vec![30], vec![]]); // batch 3 had no input
/// ```
pub fn run_batches<I: Data, O: Data>(
    input: Vec<Vec<I>>,
    pipeline: impl FnOnce(DStream<I>) -> DStream<O>,
    num_batches: usize,
) -> Vec<Vec<O>> {
    match try_run_batches(input, pipeline, num_batches) {
        Ok(out) => out,
        Err(e) => panic!("the streaming job failed: {e}"),
    }
}

/// [`run_batches`], returning the job's error instead of panicking.
///
/// ```
/// let err = streamflow::testing::try_run_batches(vec![vec![0]], |s| s.map(|x: i32| 10 / x), 1).unwrap_err();
/// assert!(err.to_string().contains("in operator `map`"), "{err}");
/// ```
pub fn try_run_batches<I: Data, O: Data>(
    input: Vec<Vec<I>>,
    pipeline: impl FnOnce(DStream<I>) -> DStream<O>,
    num_batches: usize,
) -> Result<Vec<Vec<O>>> {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let out = t.collect(&pipeline(t.input(input)));
    t.run(num_batches)?;
    Ok(out.batches())
}

/// [`run_batches`] for pipelines with two inputs (joins, unions, `transform_with`).
///
/// # Panics
///
/// When the job fails: this is a test helper.
///
/// ```
/// use streamflow::testing::run_batches2;
///
/// let clicks = vec![vec![("ann", 1), ("bob", 2)]];
/// let names = vec![vec![("ann", "Ann Lee")]];
/// let out = run_batches2(clicks, names, |c, n| c.join(&n), 1);
/// assert_eq!(out, vec![vec![("ann", (1, "Ann Lee"))]]);
/// ```
pub fn run_batches2<A: Data, B: Data, O: Data>(
    left: Vec<Vec<A>>,
    right: Vec<Vec<B>>,
    pipeline: impl FnOnce(DStream<A>, DStream<B>) -> DStream<O>,
    num_batches: usize,
) -> Vec<Vec<O>> {
    let run = || -> Result<Vec<Vec<O>>> {
        let t = TestContext::new(Duration::seconds(1), 2)?;
        let out = t.collect(&pipeline(t.input(left), t.input(right)));
        t.run(num_batches)?;
        Ok(out.batches())
    };
    match run() {
        Ok(out) => out,
        Err(e) => panic!("the streaming job failed: {e}"),
    }
}

/// A sorted copy, to compare batches whose order depends on partitioning.
///
/// ```
/// assert_eq!(streamflow::testing::sorted(&[3, 1, 2]), vec![1, 2, 3]);
/// ```
pub fn sorted<T: Clone + PartialOrd>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}
