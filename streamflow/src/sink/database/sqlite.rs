//! SQLite (bundled): a database file, written through a pool of connections.

use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use r2d2_sqlite::rusqlite::{self, ErrorCode, TransactionBehavior, params, params_from_iter};

use super::sql::{self, Decision};
use super::{Conn, DbError, Dialect, Part, Plan, Value, Written};

/// SQLite's limit on parameters of one statement (since 3.32).
const MAX_PARAMS: usize = 32_766;
/// Rows per `INSERT` statement.
const CHUNK: usize = 100;

pub(crate) struct Sqlite {
    path: PathBuf,
}

impl Sqlite {
    pub(crate) fn new(path: &Path) -> Self {
        Sqlite {
            path: path.to_path_buf(),
        }
    }
}

fn error(e: rusqlite::Error) -> DbError {
    let transient = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    DbError::new(e, transient)
}

fn value(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Bool(b) => V::Integer(i64::from(*b)),
        Value::Int(i) => V::Integer(*i),
        Value::Float(f) => V::Real(*f),
        Value::Text(t) => V::Text(t.clone()),
    }
}

fn param(n: usize) -> String {
    format!("?{n}")
}

impl Dialect for Sqlite {
    type Manager = SqliteConnectionManager;
    const KIND: &'static str = "SQLite";

    fn manager(&self) -> SqliteConnectionManager {
        SqliteConnectionManager::file(&self.path).with_init(|c| {
            c.busy_timeout(Duration::from_secs(5))?;
            c.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        })
    }

    fn connect_error(e: rusqlite::Error) -> DbError {
        error(e)
    }

    fn setup(&self, conn: &mut Conn<Self>, statements: &[String]) -> Result<(), DbError> {
        for statement in statements {
            conn.execute_batch(statement).map_err(error)?;
        }
        conn.execute_batch(&sql::create_markers()).map_err(error)
    }

    fn write_part(&self, conn: &mut Conn<Self>, plan: &Plan, part: &Part) -> Result<Written, DbError> {
        // IMMEDIATE: take the write lock first, so that two writers wait (busy timeout)
        // instead of deadlocking on a lock upgrade.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        let batch = plan.batch as i64;
        let markers: Vec<(i64, i64)> = {
            let mut stmt = tx.prepare_cached(&sql::select_markers(&param)).map_err(error)?;
            stmt.query_map(params![plan.job, plan.table, batch], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(Iterator::collect)
            .map_err(error)?
        };
        match sql::decide(plan, part.index, &markers) {
            Decision::Skip => return Ok(Written::Before),
            Decision::Refuse(why) => return Err(DbError::new(why, false)),
            Decision::Write => {}
        }
        let width = plan.columns.len().max(1);
        let chunk = CHUNK.min(MAX_PARAMS / width).max(1);
        for rows in part.rows.chunks(chunk) {
            let statement = sql::insert(plan, rows.len(), &|n, _| param(n));
            let mut stmt = tx.prepare_cached(&statement).map_err(error)?;
            stmt.execute(params_from_iter(rows.iter().flatten().map(value)))
                .map_err(error)?;
        }
        tx.execute(
            &sql::insert_marker(&param),
            params![
                plan.job,
                plan.table,
                batch,
                part.index as i64,
                plan.partitions as i64
            ],
        )
        .map_err(error)?;
        tx.commit().map_err(error)?;
        Ok(Written::Now)
    }

    fn forget(&self, conn: &mut Conn<Self>, plan: &Plan, before: u64) -> Result<(), DbError> {
        conn.execute(
            &sql::forget_markers(&param),
            params![plan.job, plan.table, before as i64],
        )
        .map(drop)
        .map_err(error)
    }
}
