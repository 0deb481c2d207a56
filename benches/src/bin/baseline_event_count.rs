//! The hand-written event-time windowed count the engine is measured against, end to end: one
//! thread reads each CSV file of `--input` (`event_time_millis,key` after a header line; see
//! `gen_input`) whole, parses each line, and counts events per key in 1-minute tumbling windows
//! with a watermark 10 s behind the largest event time seen, in Append mode: a window is
//! emitted and forgotten once the watermark reaches its end, and an event whose window was
//! already emitted is dropped as late. A window is a hashbrown map with foldhash, looked up by
//! `&str`, a key allocated the first time it is seen in the window.
//!
//! Writes `window_start_ms<TAB>key<TAB>count` lines, sorted, to `--output`
//! (see [`streamflow_benches::end_to_end`]).
//!
//! `baseline_event_count --input DIR --output FILE`

use std::collections::BTreeMap;

use streamflow_benches::Counts;
use streamflow_benches::end_to_end::{exit_on_error, input_files, required, write_window_counts};

const WINDOW_MS: i64 = 60_000;
const WATERMARK_DELAY_MS: i64 = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    exit_on_error("baseline_event_count", run(&args));
}

/// The open windows by start, and what was emitted.
struct Windows {
    open: BTreeMap<i64, Counts>,
    emitted: Vec<(i64, String, u64)>,
    max_event_time: i64,
    late: u64,
}

impl Windows {
    fn watermark(&self) -> i64 {
        self.max_event_time.saturating_sub(WATERMARK_DELAY_MS)
    }

    fn add(&mut self, time: i64, key: &str) {
        let start = time.div_euclid(WINDOW_MS) * WINDOW_MS;
        if start + WINDOW_MS <= self.watermark() {
            self.late += 1;
            return;
        }
        let counts = self.open.entry(start).or_default();
        match counts.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                counts.insert(key.to_owned(), 1);
            }
        }
        if time > self.max_event_time {
            self.max_event_time = time;
            self.emit_closed();
        }
    }

    /// Emits and forgets the windows whose end the watermark reached.
    fn emit_closed(&mut self) {
        let watermark = self.watermark();
        while let Some(entry) = self.open.first_entry() {
            if entry.key() + WINDOW_MS > watermark {
                break;
            }
            let (start, counts) = entry.remove_entry();
            self.emitted
                .extend(counts.into_iter().map(|(k, n)| (start, k, n)));
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let input = std::path::PathBuf::from(required(args, "input")?);
    let output = std::path::PathBuf::from(required(args, "output")?);
    let mut windows = Windows {
        open: BTreeMap::new(),
        emitted: Vec::new(),
        max_event_time: i64::MIN,
        late: 0,
    };
    for path in input_files(&input).map_err(|e| format!("{}: {e}", input.display()))? {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate().skip(1) {
            let bad = || {
                format!(
                    "{} line {}: not `event_time_millis,key`: {line:?}",
                    path.display(),
                    n + 1
                )
            };
            let (time, key) = line.split_once(',').ok_or_else(bad)?;
            let time: i64 = time.parse().map_err(|_| bad())?;
            windows.add(time, key);
        }
    }
    if windows.late > 0 {
        eprintln!("baseline_event_count: {} late events dropped", windows.late);
    }
    write_window_counts(&output, windows.emitted).map_err(|e| format!("{}: {e}", output.display()))
}
