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
        let exec = self.inner.exec.clone();
        let parallelism = self.parallelism() as u64;
        let graph_clock = self.inner.lock_graph().clock.clone();
        let f = std::sync::Arc::new(f);
        self.source("generator_stream".into(), move |time: Time| {
            let k = ((time - graph_clock.zero()) / graph_clock.batch.millis() as i64).max(1) as u64;
            let first = (k - 1) * per_batch;
            let partitions: Vec<Vec<T>> = exec.run((0..parallelism).collect(), |p| {
                let lo = first + per_batch * p / parallelism;
                let hi = first + per_batch * (p + 1) / parallelism;
                (lo..hi).map(|i| guard("generator_stream", || f(i))).collect()
            });
            Ok(Batch::from_partitions(partitions, time, exec.clone()))
        })
    }

    /// A stream of `(timestamp, value)` rows at `rows_per_second` (Spark's `rate` source):
    /// values count up from 0, timestamps spread evenly over each batch interval.
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
        let batch_ms = self.batch_duration().millis();
        let per_batch = rows_per_second.saturating_mul(batch_ms) / 1_000;
        let zero = self.inner.lock_graph().clock.clone();
        self.generator_stream(per_batch, move |i| {
            let start = zero.zero().millis() + (i / per_batch.max(1) * batch_ms) as i64;
            let offset = (i % per_batch.max(1)) * batch_ms / per_batch.max(1);
            (Time::from_millis(start + offset as i64), i)
        })
    }
}
