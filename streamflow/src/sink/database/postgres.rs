//! PostgreSQL (the `postgres` crate, no TLS: for a server on the same machine or network).

use std::collections::HashMap;
use std::sync::Mutex;

use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::error::SqlState;
use r2d2_postgres::postgres::types::ToSql;
use r2d2_postgres::postgres::{self, Config, NoTls};

use super::sql::{self, Decision};
use super::{Conn, DbError, Dialect, Part, Plan, Written};
use crate::error::{Error, Result};
use crate::exec::lock;

/// PostgreSQL's limit on parameters of one statement.
const MAX_PARAMS: usize = 65_535;
/// Rows per `INSERT` statement.
const CHUNK: usize = 200;

pub(crate) struct Postgres {
    config: Config,
    /// Each table's column types (`bigint`, `text` …), read once: values are sent as text and
    /// cast to them.
    types: Mutex<HashMap<String, HashMap<String, String>>>,
}

impl Postgres {
    pub(crate) fn new(url: &str) -> Result<Self> {
        let config = url
            .parse::<Config>()
            .map_err(|e| Error::InvalidConfig(format!("PostgreSQL URL `{url}`: {e}")))?;
        Ok(Postgres {
            config,
            types: Mutex::new(HashMap::new()),
        })
    }

    /// The types of `plan`'s columns in its table, in order.
    fn column_types(&self, conn: &mut postgres::Client, plan: &Plan) -> Result<Vec<String>, DbError> {
        let mut cache = lock(&self.types);
        if !cache.contains_key(&plan.table) {
            let rows = conn
                .query(
                    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
                     WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                    &[&sql::quote(&plan.table)],
                )
                .map_err(error)?;
            let columns: HashMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            if columns.is_empty() {
                return Err(DbError::new(
                    format!(
                        "there is no table `{}` (create it with .create_table(..))",
                        plan.table
                    ),
                    false,
                ));
            }
            cache.insert(plan.table.clone(), columns);
        }
        let columns = &cache[&plan.table];
        plan.columns
            .iter()
            .map(|c| {
                columns.get(c).cloned().ok_or_else(|| {
                    let mut have: Vec<&String> = columns.keys().collect();
                    have.sort();
                    DbError::new(format!("the table has no column `{c}` (it has {have:?})"), false)
                })
            })
            .collect()
    }
}

/// Connection trouble, a server shutting down or starting, a serialization failure or a
/// deadlock: worth another try. Anything the statement itself got wrong is not.
fn error(e: postgres::Error) -> DbError {
    let transient = match e.code() {
        None => true,
        Some(code) => {
            [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code)
                || code.code().starts_with("08")
        }
    };
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    DbError::new(message, transient)
}

fn param(n: usize) -> String {
    format!("${n}")
}

impl Dialect for Postgres {
    type Manager = PostgresConnectionManager<NoTls>;
    const KIND: &'static str = "PostgreSQL";

    fn manager(&self) -> PostgresConnectionManager<NoTls> {
        PostgresConnectionManager::new(self.config.clone(), NoTls)
    }

    fn connect_error(e: postgres::Error) -> DbError {
        error(e)
    }

    fn setup(&self, conn: &mut Conn<Self>, statements: &[String]) -> Result<(), DbError> {
        for statement in statements {
            conn.batch_execute(statement).map_err(error)?;
        }
        conn.batch_execute(&sql::create_markers()).map_err(error)?;
        lock(&self.types).clear();
        Ok(())
    }

    fn write_part(&self, conn: &mut Conn<Self>, plan: &Plan, part: &Part) -> Result<Written, DbError> {
        let types = self.column_types(conn, plan)?;
        let mut tx = conn.transaction().map_err(error)?;
        let batch = plan.batch as i64;
        let markers: Vec<(i64, i64)> = tx
            .query(&sql::select_markers(&param), &[&plan.job, &plan.table, &batch])
            .map_err(error)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        match sql::decide(plan, part.index, &markers) {
            Decision::Skip => return Ok(Written::Before),
            Decision::Refuse(why) => return Err(DbError::new(why, false)),
            Decision::Write => {}
        }
        let width = plan.columns.len().max(1);
        let chunk = CHUNK.min(MAX_PARAMS / width).max(1);
        let cast = |n: usize, c: usize| format!("CAST(${n}::text AS {})", types[c]);
        let mut statements = HashMap::new();
        for rows in part.rows.chunks(chunk) {
            let stmt = match statements.get(&rows.len()) {
                Some(stmt) => stmt,
                None => {
                    let stmt = tx.prepare(&sql::insert(plan, rows.len(), &cast)).map_err(error)?;
                    statements.entry(rows.len()).or_insert(stmt)
                }
            };
            let values: Vec<Option<String>> = rows.iter().flatten().map(|v| v.text()).collect();
            let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            tx.execute(stmt, &refs).map_err(error)?;
        }
        let (index, partitions) = (part.index as i64, plan.partitions as i64);
        tx.execute(
            &sql::insert_marker(&param),
            &[&plan.job, &plan.table, &batch, &index, &partitions],
        )
        .map_err(error)?;
        tx.commit().map_err(error)?;
        Ok(Written::Now)
    }

    fn forget(&self, conn: &mut Conn<Self>, plan: &Plan, before: u64) -> Result<(), DbError> {
        conn.execute(
            &sql::forget_markers(&param),
            &[&plan.job, &plan.table, &(before as i64)],
        )
        .map(drop)
        .map_err(error)
    }
}
