//! Writes the input files of the end-to-end benchmarks (`scripts/end_to_end.sh`), seeded, so
//! every program — the hand-written baselines, the streamflow jobs, Spark — reads the same
//! bytes.
//!
//! ```text
//! gen_input words  --mib 50 --out DIR [--files 4] [--seed N]
//! gen_input events --events 10000000 --keys 100000 --out DIR [--files 10] [--rate 10000] [--seed N]
//! ```
//!
//! # Formats
//!
//! **words**: `DIR/part-00000.txt` … (`--files` files of about equal size, together at least
//! `--mib` MiB). UTF-8 (in fact ASCII) text, `\n`-terminated lines, no empty line; each line
//! holds 6 to 14 lowercase ASCII words separated by exactly one space (no leading or trailing
//! space), so `split(' ')` and `split_ascii_whitespace` give the same words. Word frequencies
//! follow Zipf's law (exponent 1) over 100 000 distinct words; frequent words are short (the
//! mean word is about 4.5 letters).
//!
//! **events**: `DIR/part-00000.csv` … (`--files` files, the events cut into consecutive runs
//! of equal length, so file n+1 continues file n in time). Each file starts with the header
//! line `event_time_millis,key`, then one event per line: `event_time_millis,key`, where
//! `event_time_millis` is an integer (milliseconds since the Unix epoch, starting at
//! 1 700 000 000 000 = 2023-11-14T22:13:20Z) and `key` is `k` followed by a rank (`k0` … `k99999`),
//! drawn from a Zipf distribution (exponent 1) over `--keys` keys. Events advance at `--rate`
//! events per second of event time (10 000: 10 M events cover 1 000 s, about 17 one-minute
//! windows); one event in five is late by up to 3 s (uniform), the others are in order. A
//! watermark delay of 10 s or more therefore drops nothing.
//!
//! The workloads over these files (what every program computes):
//!
//! - word count: every word's number of occurrences over all files;
//! - event-time windowed count: events per key in 1-minute tumbling windows of
//!   `event_time_millis`, watermark 10 s behind the largest event time seen, Append mode: a
//!   window is emitted once the watermark reaches its end; at the end of the input the
//!   watermark is the largest event time minus 10 s, and windows ending later are not emitted.
//!
//! Results are written in the canonical forms described in
//! [`streamflow_benches::end_to_end`].

use std::io::Write;
use std::path::Path;

use streamflow_benches::end_to_end::{exit_on_error, number, required};
use streamflow_benches::{SplitMix64, ZipfSampler, ZipfText};

/// The first event's time: 2023-11-14T22:13:20Z.
const FIRST_EVENT_MS: i64 = 1_700_000_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("words") => words(&args),
        Some("events") => events(&args),
        _ => Err(
            "usage: gen_input words --mib 50 --out DIR | events --events 10000000 --keys 100000 --out DIR"
                .into(),
        ),
    };
    exit_on_error("gen_input", result);
}

/// A file written under a hidden name, renamed into place when complete.
struct OutFile {
    hidden: std::path::PathBuf,
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl OutFile {
    fn create(dir: &Path, name: &str) -> Result<Self, String> {
        let hidden = dir.join(format!(".{name}.tmp"));
        let file = std::fs::File::create(&hidden).map_err(|e| format!("{}: {e}", hidden.display()))?;
        Ok(OutFile {
            path: dir.join(name),
            hidden,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn finish(mut self) -> Result<(), String> {
        self.out.flush().map_err(|e| e.to_string())?;
        std::fs::rename(&self.hidden, &self.path).map_err(|e| e.to_string())
    }
}

fn out_dir(args: &[String]) -> Result<std::path::PathBuf, String> {
    let dir = std::path::PathBuf::from(required(args, "out")?);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn words(args: &[String]) -> Result<(), String> {
    let dir = out_dir(args)?;
    let bytes = number(args, "mib", 50)? << 20;
    let files = number(args, "files", 4)?.max(1);
    let text = ZipfText {
        seed: number(args, "seed", ZipfText::default().seed)?,
        ..ZipfText::default()
    };
    let vocabulary = text.vocabulary_words();
    let zipf = ZipfSampler::new(vocabulary.len(), text.exponent);
    let mut rng = SplitMix64::new(text.seed);
    let per_file = bytes.div_ceil(files);
    let (mut total_words, mut total_bytes) = (0_u64, 0_u64);
    for f in 0..files {
        let mut file = OutFile::create(&dir, &format!("part-{f:05}.txt"))?;
        let mut written = 0;
        let mut line = String::new();
        while written < per_file {
            line.clear();
            let n = text.min_words_per_line
                + rng.below((text.max_words_per_line - text.min_words_per_line + 1) as u64) as usize;
            for i in 0..n {
                if i > 0 {
                    line.push(' ');
                }
                line.push_str(&vocabulary[zipf.sample(&mut rng)]);
            }
            line.push('\n');
            file.out.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
            written += line.len() as u64;
            total_words += n as u64;
        }
        total_bytes += written;
        file.finish()?;
    }
    eprintln!(
        "gen_input: {} words, {total_bytes} bytes in {files} files in {}",
        total_words,
        dir.display()
    );
    Ok(())
}

fn events(args: &[String]) -> Result<(), String> {
    let dir = out_dir(args)?;
    let events = number(args, "events", 10_000_000)?;
    let keys = number(args, "keys", 100_000)?.max(1) as usize;
    let files = number(args, "files", 10)?.max(1);
    let rate = number(args, "rate", 10_000)?.max(1);
    let mut rng = SplitMix64::new(number(args, "seed", 0xe7e7_2024)?);
    let zipf = ZipfSampler::new(keys, 1.0);
    let per_file = events.div_ceil(files);
    let mut i = 0_u64;
    for f in 0..files {
        let mut file = OutFile::create(&dir, &format!("part-{f:05}.csv"))?;
        writeln!(file.out, "event_time_millis,key").map_err(|e| e.to_string())?;
        let end = (i + per_file).min(events);
        while i < end {
            let nominal = FIRST_EVENT_MS + (i * 1_000 / rate) as i64;
            let late = if rng.below(5) == 0 {
                rng.below(3_000) as i64
            } else {
                0
            };
            let key = zipf.sample(&mut rng);
            writeln!(file.out, "{},k{key}", nominal - late).map_err(|e| e.to_string())?;
            i += 1;
        }
        file.finish()?;
    }
    eprintln!("gen_input: {events} events in {files} files in {}", dir.display());
    Ok(())
}
