//! `transform_sql`: a SQL query over each batch as a per-batch transformation, in both
//! vocabularies.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SqlSession;
use crate::batch::{Batch, split_evenly};
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Failure, Result};
use crate::graph::NodeKind;
use crate::structured::Dataset;
use crate::structured::shape::Shape;
use crate::time::Time;

const OPERATOR: &str = "transform_sql";

/// The query of one `transform_sql` operator, with its own session (made at the first batch).
struct SqlStep {
    view: String,
    query: String,
    session: Mutex<Option<SqlSession>>,
}

impl SqlStep {
    fn new(view: &str, query: &str) -> Arc<Self> {
        Arc::new(SqlStep {
            view: view.to_string(),
            query: query.to_string(),
            session: Mutex::new(None),
        })
    }

    /// The batch's rows as the view, the query's rows as the new batch (as many partitions).
    fn apply<T, U>(&self, batch: Batch<T>, time: Time) -> Result<Batch<U>>
    where
        T: Data + Serialize + DeserializeOwned,
        U: Data + DeserializeOwned,
    {
        let (n, exec) = (batch.num_partitions(), batch.executor().clone());
        let rows = batch.collect();
        let result = (|| {
            // One batch at a time per operator: the view is this batch's until the query ran.
            let mut session = crate::exec::lock(&self.session);
            let session = match &mut *session {
                Some(session) => session,
                empty => empty.insert(SqlSession::new()?),
            };
            session
                .create_data_frame(&rows)?
                .create_or_replace_temp_view(&self.view)?;
            session.sql(&self.query)?.collect_as::<U>()
        })();
        let out =
            result.map_err(|e| Error::user_code(OPERATOR, time.millis(), Failure::Returned(Arc::new(e))))?;
        Ok(Batch::from_partitions(split_evenly(out, n.max(1)), time, exec))
    }
}

impl<T: Data + Serialize + DeserializeOwned> DStream<T> {
    /// Runs the SQL `query` over every batch, registered as the temporary view `view`, and
    /// makes its rows, read as `U`s, the new stream's batch (Spark's `transform` with a
    /// DataFrame and `spark.sql` inside; feature `sql`). Columns are as in
    /// [`SqlSession::create_data_frame`]: a struct's fields, a tuple's `_1`, `_2` …, a plain
    /// value's `value`; `U` reads them by name (a struct) or position (a tuple). The query sees
    /// one batch, so an aggregation in it is per batch. A query that fails stops the job with
    /// an error naming `transform_sql`.
    ///
    /// ```
    /// use streamflow::testing::run_batches;
    ///
    /// let out = run_batches(
    ///     vec![vec!["a", "b", "a"], vec!["b"]],
    ///     |words| words.map(str::to_string).transform_sql::<(String, i64)>(
    ///         "words",
    ///         "select value as word, count(*) as total from words group by value order by word",
    ///     ),
    ///     2,
    /// );
    /// assert_eq!(out, [vec![("a".to_string(), 2), ("b".to_string(), 1)], vec![("b".to_string(), 1)]]);
    /// ```
    pub fn transform_sql<U: Data + DeserializeOwned>(&self, view: &str, query: &str) -> DStream<U> {
        let step = SqlStep::new(view, query);
        let parent = self.node.clone();
        self.add_node(
            OPERATOR,
            NodeKind::Shuffle,
            vec![self.node.meta.clone()],
            self.slide_duration(),
            move |time| match parent.get_or_compute(time)? {
                Some(batch) => step.apply(batch, time).map(Some),
                None => Ok(None),
            },
        )
    }
}

impl<T: Data + Serialize + DeserializeOwned, Sh: Shape> Dataset<T, Sh> {
    /// Runs the SQL `query` over every micro-batch, registered as the temporary view `view`,
    /// and makes its rows, read as `U`s, the new dataset's batch (feature `sql`). As
    /// [`DStream::transform_sql`]: the query sees one batch (an aggregation in it is not a
    /// running one — use [`group_by`](Self::group_by) for that), and a failing query stops the
    /// query with an error naming `transform_sql`.
    ///
    /// ```
    /// use streamflow::structured::{MemoryStream, Session};
    ///
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// struct Sale { shop: String, amount: i64 }
    ///
    /// let session = Session::new(2)?;
    /// let input = MemoryStream::new();
    /// let query = session.read_stream::<Sale>().memory(&input)
    ///     .transform_sql::<(String, i64)>("sales", "select shop, sum(amount) from sales group by shop")
    ///     .write_stream().memory("totals").start()?;
    /// input.add_data([Sale { shop: "a".into(), amount: 2 }, Sale { shop: "a".into(), amount: 5 }]);
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<(String, i64)>("totals")?.rows(), [("a".to_string(), 7)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn transform_sql<U: Data + DeserializeOwned>(&self, view: &str, query: &str) -> Dataset<U, Sh> {
        let step = SqlStep::new(view, query);
        let parent = self.clone();
        Dataset::new(
            self.session.clone(),
            self.logical.then(OPERATOR),
            None,
            move |p| {
                let node = parent.node(p)?;
                let step = step.clone();
                let meta = node.meta.clone();
                Ok(p.add(OPERATOR, NodeKind::Shuffle, vec![meta], move |time| {
                    match node.get_or_compute(time)? {
                        Some(batch) => step.apply(batch, time).map(Some),
                        None => Ok(None),
                    }
                }))
            },
        )
    }
}
