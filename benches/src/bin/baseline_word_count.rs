//! The hand-written word count the engine is measured against, end to end: one thread reads
//! each file of `--input` whole, splits it with `split_ascii_whitespace`, and counts in a
//! hashbrown map with foldhash, looking words up by `&str` and allocating a key only the first
//! time a word is seen. Writes `word<TAB>count` lines, sorted, to `--output`
//! (see [`streamflow_benches::end_to_end`]).
//!
//! `baseline_word_count --input DIR --output FILE`

use streamflow_benches::Counts;
use streamflow_benches::end_to_end::{exit_on_error, input_files, required, write_word_counts};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    exit_on_error("baseline_word_count", run(&args));
}

fn run(args: &[String]) -> Result<(), String> {
    let input = std::path::PathBuf::from(required(args, "input")?);
    let output = std::path::PathBuf::from(required(args, "output")?);
    let mut counts = Counts::default();
    for path in input_files(&input).map_err(|e| format!("{}: {e}", input.display()))? {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for word in text.split_ascii_whitespace() {
            match counts.get_mut(word) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(word.to_owned(), 1);
                }
            }
        }
    }
    write_word_counts(&output, counts.into_iter().collect()).map_err(|e| format!("{}: {e}", output.display()))
}
