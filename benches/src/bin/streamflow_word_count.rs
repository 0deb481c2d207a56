//! The end-to-end word count in streamflow: a Structured query over the text files of
//! `--input` (the file source, `Trigger::available_now`, `--threads` workers, 2 by default),
//! counting words in Complete mode, its last table written as `word<TAB>count` lines, sorted,
//! to `--output` (see [`streamflow_benches::end_to_end`]).
//!
//! `--spelling words` (the default) splits lines with `flat_map(streamflow::text::words)`;
//! `--spelling spark` with Spark's `flatMap(_.split(" "))` as the README spells it,
//! `flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())`. Words are grouped with
//! `group_by_value()` (Spark's `groupBy("value")`: a word is looked up as it is, and moves into
//! the table only as a group's first), or with `--key owned`, `group_by(|w| w.clone())` (an
//! owned key cloned from every word).
//!
//! `streamflow_word_count --input DIR --output FILE [--spelling words|spark] [--key value|owned]
//! [--threads 2]`

use std::sync::{Arc, Mutex};

use streamflow::structured::{AggRow, Dataset, Format, Session, Trigger, shape};
use streamflow_benches::end_to_end::{exit_on_error, flag, number, required, write_word_counts};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    exit_on_error("streamflow_word_count", run(&args));
}

/// Runs `counts` to the end of the input; the rows of its last batch (Complete mode: the
/// whole table) as `(word, count)`.
fn last_table<K: streamflow::Key + streamflow::StateData + AsRef<str>>(
    counts: Dataset<AggRow<K, u64>, shape::Aggregated>,
) -> streamflow::Result<Vec<(String, u64)>> {
    let table = Arc::new(Mutex::new(Vec::new()));
    let out = table.clone();
    let query = counts
        .write_stream()
        .complete()
        .trigger(Trigger::available_now())
        .foreach_batch(move |batch, _id| {
            let rows: Vec<(String, u64)> = batch
                .collect()
                .into_iter()
                .map(|r| (r.key.as_ref().to_owned(), r.value))
                .collect();
            *out.lock().unwrap_or_else(|e| e.into_inner()) = rows;
        })
        .start()?;
    query.await_termination()?;
    let rows = std::mem::take(&mut *table.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(rows)
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let input = std::path::PathBuf::from(required(args, "input")?);
    let output = std::path::PathBuf::from(required(args, "output")?);
    let threads = number(args, "threads", 2)? as usize;
    let session = Session::new(threads)?;
    let lines = session.read_stream::<String>().format(Format::Text).files(&input);
    let owned = match flag(args, "key").as_deref().unwrap_or("value") {
        "value" => false,
        "owned" => true,
        other => return Err(format!("--key {other}: value or owned").into()),
    };
    let rows = match flag(args, "spelling").as_deref().unwrap_or("words") {
        "words" => {
            let words = lines.flat_map(streamflow::text::words);
            if owned {
                last_table(words.group_by(|w| w.clone()).count())?
            } else {
                last_table(words.group_by_value().count())?
            }
        }
        "spark" => {
            let words = lines.flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>());
            if owned {
                last_table(words.group_by(|w| w.clone()).count())?
            } else {
                last_table(words.group_by_value().count())?
            }
        }
        other => return Err(format!("--spelling {other}: words or spark").into()),
    };
    write_word_counts(&output, rows)?;
    Ok(())
}
