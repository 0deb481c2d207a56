//! The statements both databases run, in the SQL they share (PostgreSQL and SQLite ≥ 3.24
//! both take `INSERT … ON CONFLICT … DO UPDATE SET c = excluded.c`). Only a parameter differs:
//! `?N` for SQLite, `CAST($N AS type)` for PostgreSQL.

use super::MARKERS_TABLE;

/// What a partition's transaction writes: where, which batch, which columns, upsert or not.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// The job's id (a query's id, a DStream context's name).
    pub(crate) job: String,
    pub(crate) table: String,
    pub(crate) batch: u64,
    /// How many partitions the batch has (a re-run with another number cannot skip).
    pub(crate) partitions: usize,
    pub(crate) columns: Vec<String>,
    /// Upsert by these columns; insert when empty.
    pub(crate) key: Vec<String>,
}

/// `"name"`, or `"schema"."name"`, with quotes inside doubled.
pub(crate) fn quote(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// `INSERT INTO t (a, b) VALUES (p1, p2), (p3, p4) [ON CONFLICT (k) DO UPDATE SET b = excluded.b]`
/// for `rows` rows; `param(n, column)` writes the `n`-th parameter (from 1) for `column`.
pub(crate) fn insert(plan: &Plan, rows: usize, param: &dyn Fn(usize, usize) -> String) -> String {
    let width = plan.columns.len();
    let columns: Vec<String> = plan.columns.iter().map(|c| quote(c)).collect();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let row: Vec<String> = (0..width).map(|c| param(r * width + c + 1, c)).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote(&plan.table),
        columns.join(", "),
        values.join(", ")
    );
    if !plan.key.is_empty() {
        let keys: Vec<String> = plan.key.iter().map(|k| quote(k)).collect();
        let updates: Vec<String> = plan
            .columns
            .iter()
            .filter(|c| !plan.key.contains(c))
            .map(|c| format!("{0} = excluded.{0}", quote(c)))
            .collect();
        if updates.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                keys.join(", "),
                updates.join(", ")
            ));
        }
    }
    sql
}

/// Creates the markers table.
pub(crate) fn create_markers() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {MARKERS_TABLE} (query_id TEXT NOT NULL, table_name TEXT NOT NULL, \
         batch_id BIGINT NOT NULL, partition_id BIGINT NOT NULL, num_partitions BIGINT NOT NULL, \
         PRIMARY KEY (query_id, table_name, batch_id, partition_id))"
    )
}

/// The markers of one batch: parameters query id, table, batch id; rows (partition, partitions).
pub(crate) fn select_markers(p: &dyn Fn(usize) -> String) -> String {
    format!(
        "SELECT partition_id, num_partitions FROM {MARKERS_TABLE} WHERE query_id = {} AND table_name = {} AND batch_id = {}",
        p(1),
        p(2),
        p(3)
    )
}

/// Records a partition's marker: query id, table, batch id, partition, partitions.
pub(crate) fn insert_marker(p: &dyn Fn(usize) -> String) -> String {
    format!(
        "INSERT INTO {MARKERS_TABLE} (query_id, table_name, batch_id, partition_id, num_partitions) \
         VALUES ({}, {}, {}, {}, {}) ON CONFLICT (query_id, table_name, batch_id, partition_id) \
         DO UPDATE SET num_partitions = excluded.num_partitions",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    )
}

/// Drops the markers of a job's table before a batch: query id, table, batch id.
pub(crate) fn forget_markers(p: &dyn Fn(usize) -> String) -> String {
    format!(
        "DELETE FROM {MARKERS_TABLE} WHERE query_id = {} AND table_name = {} AND batch_id < {}",
        p(1),
        p(2),
        p(3)
    )
}

/// What to do with a partition, given the batch's markers `(partition, partitions)`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Write,
    Skip,
    Refuse(String),
}

pub(crate) fn decide(plan: &Plan, partition: usize, markers: &[(i64, i64)]) -> Decision {
    let same = markers.iter().all(|(_, n)| *n == plan.partitions as i64);
    if !same {
        if plan.key.is_empty() {
            let before = markers.first().map_or(0, |(_, n)| *n);
            return Decision::Refuse(format!(
                "the batch was partly written before with {before} partitions and has {} now: \
                 inserting it again could duplicate rows (give the sink a key to upsert by, or run \
                 with the parallelism of the first run)",
                plan.partitions
            ));
        }
        return Decision::Write;
    }
    if markers.iter().any(|(p, _)| *p == partition as i64) {
        Decision::Skip
    } else {
        Decision::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(key: &[&str]) -> Plan {
        Plan {
            job: "q".into(),
            table: "public.counts".into(),
            batch: 3,
            partitions: 2,
            columns: vec!["word".into(), "n".into()],
            key: key.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn statements_quote_names_and_upsert_by_key() {
        let sqlite = |n: usize, _c: usize| format!("?{n}");
        assert_eq!(
            insert(&plan(&[]), 2, &sqlite),
            r#"INSERT INTO "public"."counts" ("word", "n") VALUES (?1, ?2), (?3, ?4)"#
        );
        assert_eq!(
            insert(&plan(&["word"]), 1, &sqlite),
            r#"INSERT INTO "public"."counts" ("word", "n") VALUES (?1, ?2) ON CONFLICT ("word") DO UPDATE SET "n" = excluded."n""#
        );
        assert!(insert(&plan(&["word", "n"]), 1, &sqlite).ends_with("DO NOTHING"));
        assert_eq!(quote(r#"we"ird"#), r#""we""ird""#);
    }

    #[test]
    fn a_rerun_skips_marked_partitions_and_refuses_a_new_partitioning_without_a_key() {
        assert_eq!(decide(&plan(&[]), 0, &[]), Decision::Write);
        assert_eq!(decide(&plan(&[]), 1, &[(1, 2)]), Decision::Skip);
        assert_eq!(decide(&plan(&[]), 0, &[(1, 2)]), Decision::Write);
        assert!(matches!(decide(&plan(&[]), 0, &[(1, 3)]), Decision::Refuse(_)));
        assert_eq!(decide(&plan(&["word"]), 1, &[(1, 3)]), Decision::Write);
    }
}
