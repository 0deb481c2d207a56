//! SQL over a batch (feature `sql`): Spark's "DataFrame and SQL operations" inside a
//! streaming program, on [Apache DataFusion](https://datafusion.apache.org).
//!
//! A batch of serde records becomes an Arrow record batch ([`SqlSession::create_data_frame`]),
//! is registered as a temporary view ([`DataFrame::create_or_replace_temp_view`]), and
//! [`SqlSession::sql`] runs any query DataFusion supports over the views. The result is read
//! back as typed rows ([`DataFrame::collect_as`]) or printed as Spark's `show()` prints it
//! ([`DataFrame::show`], the console sink's table). Columns are a struct's fields; a tuple's
//! elements are `_1`, `_2` …; a plain value (a `String`) is one column `value`, which
//! [`DataFrame::to_df`] renames as Spark's `toDF("word")` does.
//!
//! | Spark | streamflow |
//! |---|---|
//! | `SparkSession.builder.getOrCreate()` | [`SqlSession::get_or_create()`](SqlSession::get_or_create) |
//! | `rdd.toDF("word")` | [`spark.create_data_frame(&batch.collect())?.to_df(&["word"])?`](SqlSession::create_data_frame) |
//! | `df.createOrReplaceTempView("words")` | [`df.create_or_replace_temp_view("words")?`](DataFrame::create_or_replace_temp_view) |
//! | `spark.sql("select …").show()` | [`spark.sql("select …")?.show()?`](SqlSession::sql) |
//! | `df.as[WordCount].collect()` | [`df.collect_as::<WordCount>()?`](DataFrame::collect_as) |
//! | `dstream.transform(rdd => …sql…)` | [`dstream.transform_sql::<U>("words", "select …")`](crate::DStream::transform_sql) |
//!
//! It works from [`DStream::foreach_batch`](crate::DStream::foreach_batch) and
//! [`DataStreamWriter::foreach_batch`](crate::structured::DataStreamWriter::foreach_batch), and
//! as a per-batch transformation whose result is a typed stream:
//! [`DStream::transform_sql`](crate::DStream::transform_sql),
//! [`Dataset::transform_sql`](crate::structured::Dataset::transform_sql). A query sees one
//! batch: an aggregation in it is the batch's, not a running one.
//!
//! DataFusion is asynchronous; the engine is not. Each session runs its queries on a small
//! tokio runtime of its own on the calling thread (`block_on`), so do not call it from inside
//! another tokio runtime. The full DataFusion API is at [`datafusion`] and
//! [`DataFrame::inner`].
//!
//! ```
//! use streamflow::sql::SqlSession;
//! # use streamflow::{testing::TestContext, Duration};
//!
//! let t = TestContext::new(Duration::seconds(1), 2)?;
//! let words = t.input(vec![vec!["a", "b", "a"]]).map(str::to_string);
//! words.foreach_batch(|batch, _time| -> streamflow::Result<()> {
//!     let spark = SqlSession::get_or_create()?;
//!     let words = spark.create_data_frame(&batch.collect())?.to_df(&["word"])?;
//!     words.create_or_replace_temp_view("words")?;
//!     let counts = spark.sql("select word, count(*) as total from words group by word order by word")?;
//!     assert_eq!(counts.collect_as::<(String, i64)>()?, [("a".into(), 2), ("b".into(), 1)]);
//!     counts.show()
//! });
//! t.run(1)?;
//! # Ok::<(), streamflow::Error>(())
//! ```

mod convert;
mod transform;

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::prelude::{Expr, col};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use datafusion;

use crate::error::{Error, Result};
use crate::sink::console::format_table;

fn sql_error(query: &str, message: impl ToString) -> Error {
    Error::Sql {
        query: query.to_string(),
        message: message.to_string(),
    }
}

/// A SQL session (Spark's `SparkSession` for SQL): temporary views and the queries over them.
///
/// Cheap to clone (clones share the views). Its queries run on a single-threaded tokio
/// runtime of its own, inside the call.
///
/// ```
/// use streamflow::sql::SqlSession;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Sale { shop: String, amount: i64 }
///
/// let spark = SqlSession::new()?;
/// let sales = [Sale { shop: "a".into(), amount: 3 }, Sale { shop: "a".into(), amount: 4 }];
/// spark.create_data_frame(&sales)?.create_or_replace_temp_view("sales")?;
/// let totals: Vec<(String, i64)> = spark.sql("select shop, sum(amount) from sales group by shop")?.collect_as()?;
/// assert_eq!(totals, [("a".to_string(), 7)]);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone)]
pub struct SqlSession {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSession")
            .field("session_id", &self.inner.ctx.session_id())
            .finish()
    }
}

static SHARED: OnceLock<SqlSession> = OnceLock::new();

impl SqlSession {
    /// A new session with no views. Queries plan for one partition: a batch is small, and the
    /// session's runtime has one thread.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// assert_eq!(spark.sql("select 1 + 1 as two")?.collect_as::<(i64,)>()?, [(2,)]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Error::io("cannot start the SQL session's runtime", e))?;
        let config = SessionConfig::new().with_target_partitions(1);
        Ok(SqlSession {
            inner: Arc::new(Inner {
                ctx: SessionContext::new_with_config(config),
                runtime,
            }),
        })
    }

    /// The process's shared session, made on first use (Spark's
    /// `SparkSession.builder.getOrCreate()` inside `foreachRDD`): every call returns the same
    /// session, so views registered in one batch are replaced by the next.
    ///
    /// ```
    /// use streamflow::sql::SqlSession;
    /// SqlSession::get_or_create()?.sql("create or replace view one as select 1 as x")?.collect()?;
    /// assert_eq!(SqlSession::get_or_create()?.table("one")?.count()?, 1);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn get_or_create() -> Result<Self> {
        if let Some(session) = SHARED.get() {
            return Ok(session.clone());
        }
        let session = SqlSession::new()?;
        Ok(SHARED.get_or_init(|| session).clone())
    }

    /// The rows as a data frame (Spark's `createDataFrame` / `rdd.toDF()`): a struct's fields
    /// are its columns, a tuple's elements `_1`, `_2` …, a plain value one column `value`.
    /// The columns come from `T`'s type, so no rows still make a frame with its columns.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// let df = spark.create_data_frame(&[("a".to_string(), 1_i64)])?;
    /// assert_eq!(df.columns(), ["_1", "_2"]);
    /// assert_eq!(spark.create_data_frame::<String>(&[])?.columns(), ["value"]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn create_data_frame<T: Serialize + DeserializeOwned>(&self, rows: &[T]) -> Result<DataFrame> {
        let what = "create_data_frame";
        let batch = convert::to_record_batch(rows).map_err(|e| sql_error(what, e))?;
        let df = self.inner.ctx.read_batch(batch).map_err(|e| sql_error(what, e))?;
        Ok(self.frame(df, what))
    }

    /// Runs `query` — any statement DataFusion supports, over the temporary views — and
    /// returns its result as a data frame (run again by each action on it).
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// let err = spark.sql("select nope from nowhere").unwrap_err();
    /// assert!(err.to_string().contains("nowhere"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn sql(&self, query: &str) -> Result<DataFrame> {
        let df = self
            .block_on(self.inner.ctx.sql(query))
            .map_err(|e| sql_error(query, e))?;
        Ok(self.frame(df, query))
    }

    /// The temporary view `name` as a data frame (Spark's `spark.table`).
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// spark.create_data_frame(&[1_i64, 2])?.create_or_replace_temp_view("numbers")?;
    /// assert_eq!(spark.table("numbers")?.count()?, 2);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn table(&self, name: &str) -> Result<DataFrame> {
        let what = format!("table {name}");
        let df = self
            .block_on(self.inner.ctx.table(name))
            .map_err(|e| sql_error(&what, e))?;
        Ok(self.frame(df, &what))
    }

    /// Drops the temporary view `name`; whether there was one.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// spark.create_data_frame(&[1_i64])?.create_or_replace_temp_view("t")?;
    /// assert!(spark.drop_temp_view("t")?);
    /// assert!(!spark.drop_temp_view("t")?);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn drop_temp_view(&self, name: &str) -> Result<bool> {
        self.inner
            .ctx
            .deregister_table(name)
            .map(|old| old.is_some())
            .map_err(|e| sql_error(&format!("drop view {name}"), e))
    }

    /// The underlying DataFusion context, for everything else (user functions, settings).
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// assert_eq!(spark.context().copied_config().target_partitions(), 1);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn context(&self) -> &SessionContext {
        &self.inner.ctx
    }

    fn frame(&self, df: datafusion::dataframe::DataFrame, origin: &str) -> DataFrame {
        DataFrame {
            session: self.clone(),
            df,
            origin: origin.into(),
        }
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.inner.runtime.block_on(future)
    }
}

/// A query's result, or rows registered for queries (Spark's `DataFrame`): a plan, run by
/// each action ([`collect_as`](Self::collect_as), [`show`](Self::show), [`count`](Self::count)
/// …).
///
/// ```
/// let spark = streamflow::sql::SqlSession::new()?;
/// let df = spark.sql("select 'a' as word, 3 as total")?;
/// assert_eq!(df.show_string(20, true)?, "\
/// +----+-----+
/// |word|total|
/// +----+-----+
/// |   a|    3|
/// +----+-----+
/// ");
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone)]
pub struct DataFrame {
    session: SqlSession,
    df: datafusion::dataframe::DataFrame,
    /// The query (or call) it came from, for errors.
    origin: Arc<str>,
}

impl std::fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFrame")
            .field("columns", &self.columns())
            .finish()
    }
}

impl DataFrame {
    /// The column names, in order.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// assert_eq!(spark.sql("select 1 as a, 2 as b")?.columns(), ["a", "b"]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn columns(&self) -> Vec<String> {
        self.df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The same frame with its columns renamed, in order (Spark's `toDF("word", "n")`); as
    /// many names as columns.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// let df = spark.create_data_frame(&["x".to_string()])?.to_df(&["word"])?;
    /// assert_eq!(df.columns(), ["word"]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn to_df(&self, names: &[&str]) -> Result<DataFrame> {
        let columns = self.columns();
        if names.len() != columns.len() {
            return Err(sql_error(
                "to_df",
                format!("{} names for {} columns {columns:?}", names.len(), columns.len()),
            ));
        }
        let renamed: Vec<Expr> = columns
            .iter()
            .zip(names)
            .map(|(old, new)| col(datafusion::common::Column::from_name(old)).alias(*new))
            .collect();
        let df = self
            .df
            .clone()
            .select(renamed)
            .map_err(|e| sql_error("to_df", e))?;
        Ok(self.session.frame(df, &self.origin))
    }

    /// Registers this frame as the temporary view `name` of its session, replacing a view of
    /// that name (Spark's `createOrReplaceTempView`).
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// spark.create_data_frame(&[1_i64])?.create_or_replace_temp_view("t")?;
    /// spark.create_data_frame(&[1_i64, 2, 3])?.create_or_replace_temp_view("t")?;
    /// assert_eq!(spark.sql("select sum(value) from t")?.collect_as::<(i64,)>()?, [(6,)]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn create_or_replace_temp_view(&self, name: &str) -> Result<()> {
        let what = format!("create or replace view {name}");
        let ctx = &self.session.inner.ctx;
        ctx.deregister_table(name).map_err(|e| sql_error(&what, e))?;
        ctx.register_table(name, self.df.clone().into_view())
            .map(drop)
            .map_err(|e| sql_error(&what, e))
    }

    /// Runs the plan and returns its Arrow record batches.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// let batches = spark.sql("select 1 as x")?.collect()?;
    /// assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn collect(&self) -> Result<Vec<RecordBatch>> {
        self.session
            .block_on(self.df.clone().collect())
            .map_err(|e| sql_error(&self.describe(), e))
    }

    /// Runs the plan and reads its rows as `U`s (Spark's `df.as[U].collect()`): a struct's
    /// fields by column name, a tuple's elements by position (`(i64,)` for one column).
    ///
    /// ```
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct Total { word: String, total: i64 }
    ///
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// let rows: Vec<Total> = spark.sql("select 'a' as word, 2 as total")?.collect_as()?;
    /// assert_eq!(rows, [Total { word: "a".into(), total: 2 }]);
    /// let err = spark.sql("select 'a' as word")?.collect_as::<(i64,)>().unwrap_err();
    /// assert!(err.to_string().contains("word: Utf8"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn collect_as<U: DeserializeOwned>(&self) -> Result<Vec<U>> {
        let batches = self.collect()?;
        convert::from_record_batches(&batches).map_err(|e| sql_error(&self.describe(), e))
    }

    /// Runs the plan and counts its rows.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// assert_eq!(spark.sql("select * from (values (1), (2)) as t(x)")?.count()?, 2);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn count(&self) -> Result<u64> {
        self.session
            .block_on(self.df.clone().count())
            .map(|n| n as u64)
            .map_err(|e| sql_error(&self.describe(), e))
    }

    /// The first `num_rows` rows as Spark's `show(numRows, truncate)` prints them — the
    /// console sink's table: with `truncate`, cells longer than 20 characters are cut and
    /// columns right-aligned; `only showing top N rows` when there are more.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// let text = spark.sql("select * from (values (1), (2), (3)) as t(x)")?.show_string(2, false)?;
    /// assert!(text.ends_with("|1  |\n|2  |\n+---+\nonly showing top 2 rows\n"), "{text}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn show_string(&self, num_rows: usize, truncate: bool) -> Result<String> {
        // One more row than shown tells whether to say "only showing".
        let df = self
            .df
            .clone()
            .limit(0, Some(num_rows.saturating_add(1)))
            .map_err(|e| sql_error(&self.describe(), e))?;
        let batches = self
            .session
            .block_on(df.collect())
            .map_err(|e| sql_error(&self.describe(), e))?;
        let rows = convert::cells(&batches, num_rows.saturating_add(1))
            .map_err(|e| sql_error(&self.describe(), e))?;
        Ok(format_table(
            &self.columns(),
            &rows,
            rows.len(),
            num_rows,
            truncate,
        ))
    }

    /// Prints the first 20 rows to standard output, as Spark's `show()`.
    ///
    /// ```
    /// streamflow::sql::SqlSession::new()?.sql("select 1 as x")?.show()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn show(&self) -> Result<()> {
        use std::io::Write;
        let text = self.show_string(20, true)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("show() cannot write to standard output", e))
    }

    /// The DataFusion data frame, for its whole API.
    ///
    /// ```
    /// let spark = streamflow::sql::SqlSession::new()?;
    /// let plan = spark.sql("select 1 as x")?.inner().logical_plan().display_indent().to_string();
    /// assert!(plan.contains("Projection"), "{plan}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn inner(&self) -> &datafusion::dataframe::DataFrame {
        &self.df
    }

    fn describe(&self) -> String {
        self.origin.to_string()
    }
}
