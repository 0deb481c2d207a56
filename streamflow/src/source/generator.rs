//! Deterministic generator sources: the same batches in every run.

use crate::StreamingContext;
use crate::batch::Batch;
use crate::data::Data;
use crate::dstream::DStream;
use crate::exec::guard;
use crate::time::Time;

impl StreamingContext {
    /// A stream whose batch k (k = 1, 2, …) holds `f(i)` for the `per_batch` indices
    /// `i` in `[(k−1)·per_batch, k·per_batch)`. Deterministic and replayable: the same batch
    /// time always yields the same data. Good for demos, benchmarks and tests.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.context().generator_stream(3, |i| i * 10));
    /// t.run(2)?;
    /// assert_eq!(out.batches(), vec![vec![0, 10, 20], vec![30, 40, 50]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn generator_stream<T: Data>(
        &self,
        per_batch: u64,
        f: impl Fn(u64) -> T + Send + Sync + 'static,
    ) -> DStream<T> {
        self.index_stream("generator_stream", move |k| k.saturating_mul(per_batch), f)
    }

    /// A source whose batch k holds `f(i)` for `i` in `[rows_before(k − 1), rows_before(k))`,
    /// computed in parallel, one slice of the range per partition.
    fn index_stream<T: Data>(
        &self,
        name: &'static str,
        rows_before: impl Fn(u64) -> u64 + Send + Sync + 'static,
        f: impl Fn(u64) -> T + Send + Sync + 'static,
    ) -> DStream<T> {
        let exec = self.inner.exec.clone();
        let parallelism = self.parallelism() as u64;
        let graph_clock = self.inner.lock_graph().clock.clone();
        let f = std::sync::Arc::new(f);
        self.source(name.into(), move |time: Time| {
            let k = ((time - graph_clock.zero()) / graph_clock.batch().millis() as i64).max(1) as u64;
            let (first, end) = (rows_before(k - 1), rows_before(k));
            let rows = end.saturating_sub(first);
            let partitions: Vec<Vec<T>> = exec.run((0..parallelism).collect(), |p| {
                let lo = first + rows * p / parallelism;
                let hi = first + rows * (p + 1) / parallelism;
                (lo..hi).map(|i| guard(name, || f(i))).collect()
            });
            Ok(Batch::from_partitions(partitions, time, exec.clone()))
        })
    }

    /// A stream of `(timestamp, value)` rows at `rows_per_second` (Spark's `rate` source):
    /// values count up from 0 and row `i` is stamped `i / rows_per_second` seconds after the zero
    /// time; a rate that does not divide the batch interval carries the fraction into the next
    /// batch, so no row is lost.
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.context().rate_stream(2));
    /// t.run(1)?;
    /// let rows = &out.batches()[0];
    /// assert_eq!(rows.iter().map(|r| r.1).collect::<Vec<_>>(), vec![0, 1]);
    /// assert_eq!(rows[0].0.millis(), 0);
    /// assert_eq!(rows[1].0.millis(), 500);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn rate_stream(&self, rows_per_second: u64) -> DStream<(Time, u64)> {
        let batch_ms = u128::from(self.batch_duration().millis());
        let rate = u128::from(rows_per_second);
        let zero = self.inner.lock_graph().clock.clone();
        // Rows due by the end of batch k, rounded down: no row is lost to rounding, a
        // fractional row is carried into the next batch.
        let rows_before =
            move |k: u64| u64::try_from(u128::from(k) * rate * batch_ms / 1_000).unwrap_or(u64::MAX);
        self.index_stream("rate_stream", rows_before, move |i| {
            let offset = u128::from(i) * 1_000 / rate.max(1);
            (Time::from_millis(zero.zero().millis() + offset as i64), i)
        })
    }
}
