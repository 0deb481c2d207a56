//! The database sink (features `sqlite`, `postgres`): each batch's rows into a table, exactly
//! once, through a pool of connections shared by the workers.
//!
//! Spark's pattern for writing to a database from `foreachRDD` / `foreachPartition` — a
//! statically initialised connection pool, one connection per partition, given back after —
//! as a [`Sink`] for both vocabularies. Every partition of a batch is written on its worker in
//! one transaction with its connection from the pool; the same transaction records the marker
//! `(query id, table, batch id, partition)` in the table `streamflow_batches`. A batch that a
//! restart runs again finds its markers: the partitions already written are skipped, so
//! nothing is written twice. With a [`key`](DatabaseSink::key) the rows are upserted
//! (`INSERT … ON CONFLICT (key) DO UPDATE`), as Update and Complete modes need — and as a
//! DStream of running totals needs; without one they are inserted (Append).
//!
//! Transient errors — the server refusing or dropping connections, a serialization failure,
//! a deadlock, SQLite's busy database — are retried with exponential back-off
//! ([`retries`](DatabaseSink::retries)); then the job fails with
//! [`Error::Database`] naming the table and the batch.
//!
//! Re-running a batch skips its written partitions only when the batch has the same number of
//! partitions as before; in Append mode a different number is refused (it could duplicate
//! rows), with a key the whole batch is upserted again (which changes nothing twice).

#[cfg(feature = "postgres")]
mod postgres;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use serde::Serialize;

use super::row::{Cell, columns};
use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::{BatchId, lock};
use crate::sink::{Sink, SinkContext};
use crate::structured::OutputMode;

pub(crate) use sql::Plan;

/// The table of batch markers, in every database the sink writes to.
pub const MARKERS_TABLE: &str = "streamflow_batches";

/// A value of a row, as the database is given it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Value {
    fn from_cell(cell: &Cell) -> Value {
        match cell {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Number(n) => n
                .parse::<i64>()
                .map(Value::Int)
                .or_else(|_| n.parse::<f64>().map(Value::Float))
                .unwrap_or_else(|_| Value::Text(n.clone())),
            Cell::Text(t) => Value::Text(t.clone()),
            nested => Value::Text(nested.csv_text()),
        }
    }

    /// The value as text (PostgreSQL is given every value as text and casts it to the
    /// column's type); `None` for null.
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Text(t) => Some(t.clone()),
        }
    }
}

/// One partition of a batch, as rows of values in the sink's column order.
pub(crate) struct Part {
    pub(crate) index: usize,
    pub(crate) rows: Vec<Vec<Value>>,
}

/// A database error, and whether trying again may help.
#[derive(Debug)]
pub(crate) struct DbError {
    pub(crate) message: String,
    pub(crate) transient: bool,
}

impl DbError {
    pub(crate) fn new(message: impl ToString, transient: bool) -> Self {
        DbError {
            message: message.to_string(),
            transient,
        }
    }

    /// The pool gave no connection in time: the server is down or every connection is busy.
    pub(crate) fn pool(e: r2d2::Error) -> Self {
        DbError::new(format!("no connection from the pool: {e}"), true)
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a partition's transaction found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Its rows were written now.
    Now,
    /// Its marker was there: a re-run batch, written before.
    Before,
}

/// How connections are counted (for `stats`).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) opened: AtomicU64,
    in_use: AtomicU32,
    max_in_use: AtomicU32,
    written: AtomicU64,
    skipped: AtomicU64,
}

impl Counters {
    fn checkout(&self) -> InUse<'_> {
        let now = self.in_use.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_use.fetch_max(now, Ordering::SeqCst);
        InUse(self)
    }
}

struct InUse<'a>(&'a Counters);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One database: its dialect, its pool, how to open a connection outside the pool.
pub(crate) trait Backend: Send + Sync + 'static {
    /// `SQLite` or `PostgreSQL`.
    fn kind(&self) -> &'static str;
    /// Runs the user's setup statements and creates the markers table if missing.
    fn setup(&self, statements: &[String]) -> std::result::Result<(), DbError>;
    /// Writes `parts`, each in a transaction of its own with its marker, on one connection:
    /// from the pool (`pooled`), or opened for this call and closed after.
    fn write(&self, pooled: bool, plan: &Plan, parts: &[Part]) -> std::result::Result<Vec<Written>, DbError>;
    /// Drops the markers of batches before `before` (a restart never re-runs them).
    fn forget(&self, plan: &Plan, before: u64) -> std::result::Result<(), DbError>;
    /// Connections the pool holds now.
    fn pool_connections(&self) -> u32;
    /// The counters.
    fn counters(&self) -> &Counters;
}

/// One database's SQL and connections; [`Pooled`] gives it a pool and makes it a [`Backend`].
pub(crate) trait Dialect: Send + Sync + 'static {
    /// How its connections are made.
    type Manager: r2d2::ManageConnection;
    /// `SQLite` or `PostgreSQL`.
    const KIND: &'static str;
    /// A manager for a new pool, or for a connection outside it.
    fn manager(&self) -> Self::Manager;
    /// What a failed connect means.
    fn connect_error(e: <Self::Manager as r2d2::ManageConnection>::Error) -> DbError;
    /// Runs the setup statements and creates the markers table.
    fn setup(&self, conn: &mut Conn<Self>, statements: &[String]) -> std::result::Result<(), DbError>;
    /// Writes one partition and its marker in one transaction (or finds its marker).
    fn write_part(
        &self,
        conn: &mut Conn<Self>,
        plan: &Plan,
        part: &Part,
    ) -> std::result::Result<Written, DbError>;
    /// Drops the markers of the plan's job and table before batch `before`.
    fn forget(&self, conn: &mut Conn<Self>, plan: &Plan, before: u64) -> std::result::Result<(), DbError>;
}

/// A connection of dialect `D`.
pub(crate) type Conn<D> = <<D as Dialect>::Manager as r2d2::ManageConnection>::Connection;

/// Counts the connections the pool opens.
#[derive(Debug)]
struct CountOpened(Arc<Counters>);

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").field("opened", &self.opened).finish()
    }
}

impl<C, E> r2d2::CustomizeConnection<C, E> for CountOpened {
    fn on_acquire(&self, _conn: &mut C) -> std::result::Result<(), E> {
        self.0.opened.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A dialect with its pool: connections made on demand, at most `size`, checked before use
/// (a connection the server dropped is replaced).
pub(crate) struct Pooled<D: Dialect> {
    dialect: D,
    pool: r2d2::Pool<D::Manager>,
    counters: Arc<Counters>,
}

impl<D: Dialect> Pooled<D> {
    pub(crate) fn new(dialect: D, size: u32) -> Self {
        let counters = Arc::new(Counters::default());
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(0))
            .test_on_check_out(true)
            .connection_timeout(Duration::from_secs(30))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .connection_customizer(Box::new(CountOpened(counters.clone())))
            .build_unchecked(dialect.manager());
        Pooled {
            dialect,
            pool,
            counters,
        }
    }

    /// Runs `f` with a connection from the pool, or (`pooled` false) a new one closed after.
    fn with_conn<R>(
        &self,
        pooled: bool,
        f: impl FnOnce(&mut Conn<D>) -> std::result::Result<R, DbError>,
    ) -> std::result::Result<R, DbError> {
        use r2d2::ManageConnection;
        if pooled {
            let mut conn = self.pool.get().map_err(DbError::pool)?;
            let _in_use = self.counters.checkout();
            f(&mut conn)
        } else {
            let mut conn = self.dialect.manager().connect().map_err(D::connect_error)?;
            self.counters.opened.fetch_add(1, Ordering::SeqCst);
            let _in_use = self.counters.checkout();
            f(&mut conn)
        }
    }
}

impl<D: Dialect> Backend for Pooled<D> {
    fn kind(&self) -> &'static str {
        D::KIND
    }

    fn setup(&self, statements: &[String]) -> std::result::Result<(), DbError> {
        self.with_conn(true, |conn| self.dialect.setup(conn, statements))
    }

    fn write(&self, pooled: bool, plan: &Plan, parts: &[Part]) -> std::result::Result<Vec<Written>, DbError> {
        self.with_conn(pooled, |conn| {
            parts
                .iter()
                .map(|part| self.dialect.write_part(conn, plan, part))
                .collect()
        })
    }

    fn forget(&self, plan: &Plan, before: u64) -> std::result::Result<(), DbError> {
        self.with_conn(true, |conn| self.dialect.forget(conn, plan, before))
    }

    fn pool_connections(&self) -> u32 {
        self.pool.state().connections
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Markers of the last this-many batches are kept (the checkpoint keeps as many).
const KEEP_MARKERS: u64 = 100;

/// What a database sink did so far (see [`DatabaseSink::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseStats {
    /// Connections opened, by the pool or for a batch.
    pub connections_opened: u64,
    /// Connections the pool holds now.
    pub pool_connections: u32,
    /// The most connections in use at once.
    pub max_in_use: u32,
    /// Partitions written.
    pub partitions_written: u64,
    /// Partitions skipped because their marker was there (a re-run batch).
    pub partitions_skipped: u64,
}

/// A sink that writes each batch's rows into a table of SQLite or PostgreSQL, exactly once,
/// through a pool of connections shared by the workers (see the [module](self) docs).
///
/// Rows are serde records: a struct's fields name the columns; a tuple's elements take the
/// names given to [`columns`](Self::columns). Plug it into a DStream with
/// [`DStream::sink`](crate::DStream::sink) or into a query with
/// [`DataStreamWriter::sink`](crate::structured::DataStreamWriter::sink).
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use streamflow::sink::database::DatabaseSink;
/// use streamflow::testing::TestContext;
/// use streamflow::Duration;
///
/// let dir = tempfile::tempdir()?;
/// let db = dir.path().join("counts.db");
/// let sink = DatabaseSink::sqlite(&db, "counts")
///     .create_table("CREATE TABLE IF NOT EXISTS counts (word TEXT PRIMARY KEY, n BIGINT NOT NULL)")
///     .columns(&["word", "n"])
///     .key(&["word"]);
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// t.input(vec![vec![("a".to_string(), 1_i64), ("b".to_string(), 1)], vec![("a".to_string(), 2)]])
///     .sink(sink);
/// t.run(2)?;
/// # use r2d2_sqlite::rusqlite;
/// let conn = rusqlite::Connection::open(&db)?;
/// let n: i64 = conn.query_row("SELECT n FROM counts WHERE word = 'a'", [], |r| r.get(0))?;
/// assert_eq!(n, 2); // upserted by key
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DatabaseSink<T> {
    backend: Arc<dyn Backend>,
    table: String,
    setup: Vec<String>,
    names: Option<Vec<String>>,
    key: Vec<String>,
    pooled: bool,
    retries: usize,
    first_delay: Duration,
    started: Mutex<Option<Started>>,
    _rows: PhantomData<fn(T)>,
}

#[derive(Clone)]
struct Started {
    job: String,
}

impl<T> DatabaseSink<T> {
    fn with_backend(backend: Arc<dyn Backend>, table: &str) -> Self {
        DatabaseSink {
            backend,
            table: table.to_string(),
            setup: Vec::new(),
            names: None,
            key: Vec::new(),
            pooled: true,
            retries: 8,
            first_delay: Duration::from_millis(100),
            started: Mutex::new(None),
            _rows: PhantomData,
        }
    }

    /// A statement run once when the job starts, before anything is written — typically the
    /// table's `CREATE TABLE IF NOT EXISTS`. May be given several times; run in order.
    pub fn create_table(mut self, statement: &str) -> Self {
        self.setup.push(statement.to_string());
        self
    }

    /// The column names of the rows, in order (Spark's `toDF(names)`): needed for tuples,
    /// whose elements have no names; for a struct they replace its field names.
    pub fn columns(mut self, names: &[&str]) -> Self {
        self.names = Some(names.iter().map(|n| n.to_string()).collect());
        self
    }

    /// The columns of the table's primary key (or of a unique constraint): rows are upserted
    /// by them — a key's row is replaced by the newest. Required for Update and Complete
    /// modes; without it rows are inserted.
    pub fn key(mut self, columns: &[&str]) -> Self {
        self.key = columns.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Open a new connection for each batch and close it after, instead of taking one per
    /// partition from the pool: the pattern Spark's guide warns against, kept to measure it
    /// (`benches/RESULTS.md`). The partitions are then written one after another.
    pub fn connection_per_batch(mut self) -> Self {
        self.pooled = false;
        self
    }

    /// How many times a transient error is retried, with exponential back-off from
    /// `first_delay` (doubling, at most 5 s apart), before the job fails. Default 8 from
    /// 100 ms (about 20 s in all). `first_delay` is a string, a `std::time::Duration` or a
    /// [`Duration`](crate::Duration), as everywhere; an error if it is no duration.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use streamflow::sink::database::DatabaseSink;
    ///
    /// let sink = DatabaseSink::<(String, i64)>::sqlite("counts.db", "counts").retries(12, "250 ms")?;
    /// let sink = sink.retries(3, std::time::Duration::from_secs(1))?;
    /// assert!(sink.retries(3, "a second").is_err());
    /// # }
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn retries(mut self, times: usize, first_delay: impl crate::IntoDuration) -> Result<Self> {
        self.retries = times;
        self.first_delay = first_delay.into_duration()?.to_std();
        Ok(self)
    }

    /// What the sink did so far: connections opened and in use, partitions written and
    /// skipped.
    pub fn stats(&self) -> DatabaseStats {
        let c = self.backend.counters();
        DatabaseStats {
            connections_opened: c.opened.load(Ordering::SeqCst),
            pool_connections: self.backend.pool_connections(),
            max_in_use: c.max_in_use.load(Ordering::SeqCst),
            partitions_written: c.written.load(Ordering::SeqCst),
            partitions_skipped: c.skipped.load(Ordering::SeqCst),
        }
    }

    fn failed(&self, batch: u64, message: impl ToString) -> Error {
        Error::Database {
            table: self.table.clone(),
            batch,
            message: message.to_string(),
        }
    }

    /// Runs `op`, retrying transient errors with back-off; the error says how often it tried.
    fn with_retries<R>(
        &self,
        what: &str,
        mut op: impl FnMut() -> std::result::Result<R, DbError>,
    ) -> std::result::Result<R, String> {
        let attempts = AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(self.retries);
        let table = &self.table;
        let kind = self.backend.kind();
        (|| {
            attempts.fetch_add(1, Ordering::SeqCst);
            op()
        })
        .retry(backoff)
        .sleep(std::thread::sleep)
        .when(|e: &DbError| e.transient)
        .notify(|e: &DbError, delay: Duration| {
            log::warn!("{kind} table `{table}`, {what}: {e}; trying again in {delay:?}");
        })
        .call()
        .map_err(|e| {
            let n = attempts.load(Ordering::SeqCst);
            let tries = if n == 1 {
                "1 attempt".to_string()
            } else {
                format!("{n} attempts")
            };
            format!("{kind}: {e} ({tries})")
        })
    }

    fn rows_of(&self, rows: Vec<T>, names: &mut Option<Vec<String>>) -> Result<Vec<Vec<Value>>, String>
    where
        T: Serialize,
    {
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let cols = columns(row).map_err(|e| e.to_string())?;
            if names.is_none() {
                let found: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
                *names = Some(match &self.names {
                    Some(given) if given.len() != found.len() => {
                        return Err(format!(
                            "{} column names {given:?} for rows of {} columns {found:?}",
                            given.len(),
                            found.len()
                        ));
                    }
                    Some(given) => given.clone(),
                    None => found,
                });
            }
            let width = names.as_ref().map_or(0, Vec::len);
            if cols.len() != width {
                return Err(format!("a row has {} columns, the first had {width}", cols.len()));
            }
            out.push(cols.iter().map(|(_, c)| Value::from_cell(c)).collect());
        }
        Ok(out)
    }
}

#[cfg(feature = "sqlite")]
impl<T> DatabaseSink<T> {
    /// A sink into `table` of the SQLite database file `path` (created if missing; WAL
    /// journal, a 5-second busy timeout), with a pool of 4 connections.
    ///
    /// ```
    /// let sink = streamflow::sink::database::DatabaseSink::<(String, i64)>::sqlite("/tmp/x.db", "t");
    /// assert_eq!(streamflow::sink::Sink::name(&sink), "SQLite table `t`");
    /// ```
    pub fn sqlite(path: impl AsRef<std::path::Path>, table: &str) -> Self {
        Self::sqlite_with_pool(path, table, 4)
    }

    /// [`sqlite`](Self::sqlite) with a pool of at most `pool_size` connections (a partition
    /// waits for one when all are taken).
    pub fn sqlite_with_pool(path: impl AsRef<std::path::Path>, table: &str, pool_size: u32) -> Self {
        Self::with_backend(
            Arc::new(Pooled::new(sqlite::Sqlite::new(path.as_ref()), pool_size)),
            table,
        )
    }
}

#[cfg(feature = "postgres")]
impl<T> DatabaseSink<T> {
    /// A sink into `table` of the PostgreSQL database at `url`
    /// (`postgresql://user@127.0.0.1:5432/db`), with a pool of 4 connections. A malformed URL
    /// is an error here; an unreachable server is retried when the job starts and writes.
    ///
    /// ```
    /// use streamflow::sink::database::DatabaseSink;
    /// assert!(DatabaseSink::<(String, i64)>::postgres("postgresql://u@127.0.0.1:1/db", "t").is_ok());
    /// assert!(DatabaseSink::<(String, i64)>::postgres("postgresql://u@127.0.0.1:bad/db", "t").is_err());
    /// ```
    pub fn postgres(url: &str, table: &str) -> Result<Self> {
        Self::postgres_with_pool(url, table, 4)
    }

    /// [`postgres`](Self::postgres) with a pool of at most `pool_size` connections.
    pub fn postgres_with_pool(url: &str, table: &str, pool_size: u32) -> Result<Self> {
        let dialect = postgres::Postgres::new(url)?;
        Ok(Self::with_backend(
            Arc::new(Pooled::new(dialect, pool_size)),
            table,
        ))
    }
}

impl<T: Data + Serialize> Sink<T> for DatabaseSink<T> {
    fn name(&self) -> String {
        format!("{} table `{}`", self.backend.kind(), self.table)
    }

    fn start(&self, ctx: &SinkContext) -> Result<()> {
        if ctx.output_mode() != OutputMode::Append && self.key.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "the database sink of table `{}` needs a key to upsert by in {:?} mode: .key(&[\"column\", …])",
                self.table,
                ctx.output_mode()
            )));
        }
        self.with_retries("setup", || self.backend.setup(&self.setup))
            .map_err(|e| Error::InvalidConfig(format!("the database sink of table `{}`: {e}", self.table)))?;
        *lock(&self.started) = Some(Started {
            job: ctx.job_id().to_string(),
        });
        Ok(())
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        let job = match &*lock(&self.started) {
            Some(started) => started.job.clone(),
            None => return Err(self.failed(batch.id, "the sink was not started")),
        };
        let exec = rows.executor().clone();
        let parts = rows.into_parts();
        let partitions = parts.len();
        let plan = |columns: Vec<String>| Plan {
            job: job.clone(),
            table: self.table.clone(),
            batch: batch.id,
            partitions,
            columns,
            key: self.key.clone(),
        };
        let counters = self.backend.counters();
        let count = |written: &[Written]| {
            for w in written {
                let counter = if *w == Written::Now {
                    &counters.written
                } else {
                    &counters.skipped
                };
                counter.fetch_add(1, Ordering::SeqCst);
            }
        };
        if self.pooled {
            // One task per partition on the worker pool, each with a connection of its own.
            let results = exec.run(parts.into_iter().enumerate().collect(), |(index, part)| {
                let mut names = None;
                let rows = self.rows_of(part.into_vec(), &mut names)?;
                let Some(columns) = names else {
                    return Ok(()); // no rows, nothing to mark: a re-run writes nothing either
                };
                let part = [Part { index, rows }];
                let plan = plan(columns);
                let written = self.with_retries(&format!("batch {} partition {index}", batch.id), || {
                    self.backend.write(true, &plan, &part)
                })?;
                count(&written);
                Ok::<(), String>(())
            });
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return Err(self.failed(batch.id, e));
            }
        } else {
            let mut names = None;
            let mut all = Vec::with_capacity(partitions);
            for (index, part) in parts.into_iter().enumerate() {
                let rows = self
                    .rows_of(part.into_vec(), &mut names)
                    .map_err(|e| self.failed(batch.id, e))?;
                if !rows.is_empty() {
                    all.push(Part { index, rows });
                }
            }
            if let Some(columns) = names {
                let plan = plan(columns);
                let written = self
                    .with_retries(&format!("batch {}", batch.id), || {
                        self.backend.write(false, &plan, &all)
                    })
                    .map_err(|e| self.failed(batch.id, e))?;
                count(&written);
            }
        }
        Ok(())
    }

    fn commit(&self, batch: BatchId) -> Result<()> {
        if batch.id < KEEP_MARKERS || batch.id % 10 != 0 {
            return Ok(());
        }
        let job = match &*lock(&self.started) {
            Some(started) => started.job.clone(),
            None => return Ok(()),
        };
        let plan = Plan {
            job,
            table: self.table.clone(),
            batch: batch.id,
            partitions: 0,
            columns: Vec::new(),
            key: Vec::new(),
        };
        // Old markers only cost space: a failure to drop them is logged, not fatal.
        if let Err(e) = self.with_retries("forget old markers", || {
            self.backend.forget(&plan, batch.id - KEEP_MARKERS)
        }) {
            log::warn!("{}: {e}", self.failed(batch.id, "old batch markers not dropped"));
        }
        Ok(())
    }
}
