//! The console sink: each batch as Spark prints it — a `Batch: N` header and a table.
//!
//! ```text
//! -------------------------------------------
//! Batch: 0
//! -------------------------------------------
//! +----+-----+
//! | key|count|
//! +----+-----+
//! | cat|    2|
//! +----+-----+
//!
//! ```

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use super::row::columns;
use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::{BatchId, lock};
use crate::sink::Sink;

const DASHES: &str = "-------------------------------------------";
/// Spark's `truncate = true`: cells longer than 20 characters are cut.
const TRUNCATE_AT: usize = 20;

/// Formats one batch exactly as Spark's console sink prints it: a line of 43 dashes,
/// `Batch: <id>`, another line of dashes, then a table of at most `num_rows` rows (Spark's
/// `show(numRows, truncate)`), then an empty line. With `truncate`, cells longer than 20
/// characters are cut to 17 plus `...` and columns are right-aligned; without, they are shown
/// whole and left-aligned. More rows than `num_rows` add `only showing top N rows`.
///
/// ```
/// let text = streamflow::structured::format_console_batch(3, &[("cat", 2_u64)], 20, true)?;
/// assert_eq!(text, "\
/// -------------------------------------------
/// Batch: 3
/// -------------------------------------------
/// +---+---+
/// | _1| _2|
/// +---+---+
/// |cat|  2|
/// +---+---+
///
/// ");
/// # Ok::<(), streamflow::Error>(())
/// ```
pub fn format_console_batch<T: Serialize>(
    batch_id: u64,
    rows: &[T],
    num_rows: usize,
    truncate: bool,
) -> Result<String> {
    let mut names = Vec::new();
    format_batch(batch_id, rows, num_rows, truncate, &mut names)
}

/// [`format_console_batch`], remembering the column names in `names` so that an empty batch
/// still shows its header.
fn format_batch<T: Serialize>(
    batch_id: u64,
    rows: &[T],
    num_rows: usize,
    truncate: bool,
    names: &mut Vec<String>,
) -> Result<String> {
    let mut table: Vec<Vec<String>> = Vec::new();
    for row in rows.iter().take(num_rows) {
        let cols = columns(row)?;
        if names.is_empty() {
            *names = cols.iter().map(|(n, _)| n.clone()).collect();
        }
        table.push(cols.iter().map(|(_, c)| c.display()).collect());
    }
    let mut out = format!("{DASHES}\nBatch: {batch_id}\n{DASHES}\n");
    out.push_str(&format_table(names, &table, rows.len(), num_rows, truncate));
    out.push('\n');
    Ok(out)
}

/// Spark's `showString`: the table of `header` and the first `num_rows` of `table` (whose
/// full length is `total_rows`), with `only showing top N rows` when some were left out. The
/// console sink and SQL's `show()` print tables this one way.
pub(crate) fn format_table(
    header: &[String],
    table: &[Vec<String>],
    total_rows: usize,
    num_rows: usize,
    truncate: bool,
) -> String {
    let header: Vec<String> = header.iter().map(|n| cut(n.clone(), truncate)).collect();
    let table: Vec<Vec<String>> = table
        .iter()
        .take(num_rows)
        .map(|row| row.iter().map(|c| cut(c.clone(), truncate)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count().max(3)).collect();
    for row in &table {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let sep = format!(
        "+{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("+")
    );
    let line = |cells: &[String]| {
        let padded: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let cell = cells.get(i).map_or("", String::as_str);
                let pad = " ".repeat(w.saturating_sub(cell.chars().count()));
                if truncate {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                }
            })
            .collect();
        format!("|{}|\n", padded.join("|"))
    };
    let mut out = sep.clone();
    out.push_str(&line(&header));
    out.push_str(&sep);
    for row in &table {
        out.push_str(&line(row));
    }
    out.push_str(&sep);
    if total_rows > num_rows {
        let word = if num_rows == 1 { "row" } else { "rows" };
        out.push_str(&format!("only showing top {num_rows} {word}\n"));
    }
    out
}

fn cut(text: String, truncate: bool) -> String {
    if truncate && text.chars().count() > TRUNCATE_AT {
        let kept: String = text.chars().take(TRUNCATE_AT - 3).collect();
        format!("{kept}...")
    } else {
        text
    }
}

pub(crate) struct ConsoleSink {
    pub(crate) num_rows: usize,
    pub(crate) truncate: bool,
    pub(crate) out: Mutex<Box<dyn Write + Send>>,
    pub(crate) names: Mutex<Vec<String>>,
}

impl<T: Data + Serialize> Sink<T> for ConsoleSink {
    fn name(&self) -> String {
        "ConsoleSink".into()
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        let batch_id = batch.id;
        let rows = rows.collect();
        let text = format_batch(
            batch_id,
            &rows,
            self.num_rows,
            self.truncate,
            &mut lock(&self.names),
        )?;
        let mut out = lock(&self.out);
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("the console sink cannot write", e))
    }
}
