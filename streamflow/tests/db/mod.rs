//! What the database tests share: a real PostgreSQL started by `scripts/postgres.sh`, SQLite
//! files in a temporary folder, reading tables back.

#![allow(dead_code, reason = "each test file uses part of it")]

use std::path::PathBuf;
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

fn run_script(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "postgres.sh {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[cfg(feature = "postgres")]
use r2d2_postgres::postgres;
#[cfg(feature = "sqlite")]
use r2d2_sqlite::rusqlite;

/// A PostgreSQL server of its own, stopped and removed when dropped.
#[cfg(feature = "postgres")]
pub struct Postgres {
    pub url: String,
}

#[cfg(feature = "postgres")]
impl Postgres {
    /// Starts one; `None` (the test is skipped, and says so) only when the script cannot run
    /// and `CI` is not `true` — in CI a test that needs PostgreSQL never skips.
    pub fn start() -> Option<Postgres> {
        match run_script(&["start"]) {
            Ok(url) => Some(Postgres { url }),
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIPPED: no PostgreSQL: {e}");
                None
            }
            Err(e) => panic!("CI=true and no PostgreSQL: {e}"),
        }
    }

    /// Stops the server, keeping its data.
    pub fn halt(&self) {
        run_script(&["halt", &self.url]).unwrap();
    }

    /// Starts it again after `halt`.
    pub fn resume(&self) {
        resume(&self.url);
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// `(word, n)` rows of `query`, sorted.
    pub fn pairs(&self, query: &str) -> Vec<(String, i64)> {
        let mut rows: Vec<(String, i64)> = self
            .client()
            .query(query, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        rows.sort();
        rows
    }
}

/// Starts the server at `url` again after a `halt`.
#[cfg(feature = "postgres")]
pub fn resume(url: &str) {
    run_script(&["resume", url]).unwrap();
}

#[cfg(feature = "postgres")]
impl Drop for Postgres {
    fn drop(&mut self) {
        if let Err(e) = run_script(&["stop", &self.url]) {
            eprintln!("{e}");
        }
    }
}

#[cfg(feature = "sqlite")]
/// `(word, n)` rows of `query` on the SQLite file `db`, sorted.
pub fn sqlite_pairs(db: &std::path::Path, query: &str) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare(query).unwrap();
    let mut rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    rows
}
