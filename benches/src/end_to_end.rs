//! What the end-to-end benchmark programs share (`gen_input`, the `baseline_*` loops and the
//! `streamflow_*` jobs in `src/bin/`, driven by `scripts/end_to_end.sh`): their command-line
//! flags, the input files of a directory, and the canonical form every program writes its
//! result in, so that results of different programs (and of Spark) compare with `cmp`.
//!
//! Canonical forms, one record per line, `\n`-terminated, sorted by bytes:
//!
//! - word count: `word<TAB>count`;
//! - event-time windowed count: `window_start_ms<TAB>key<TAB>count`, sorted numerically by the
//!   window start, then by key bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The value of `--name VALUE` in `args`, if given.
///
/// ```
/// use streamflow_benches::end_to_end::flag;
/// let args: Vec<String> = ["--mib", "5", "--out", "d"].iter().map(|s| s.to_string()).collect();
/// assert_eq!(flag(&args, "out").as_deref(), Some("d"));
/// assert_eq!(flag(&args, "seed"), None);
/// ```
pub fn flag(args: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    args.windows(2).find(|w| w[0] == long).map(|w| w[1].clone())
}

/// `--name N` parsed as a number, `default` when absent.
///
/// ```
/// use streamflow_benches::end_to_end::number;
/// let args: Vec<String> = ["--threads", "2"].iter().map(|s| s.to_string()).collect();
/// assert_eq!(number(&args, "threads", 1).unwrap(), 2);
/// assert_eq!(number(&args, "files", 8).unwrap(), 8);
/// let bad: Vec<String> = ["--files", "x"].iter().map(|s| s.to_string()).collect();
/// assert!(number(&bad, "files", 8).is_err());
/// ```
pub fn number(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match flag(args, name) {
        None => Ok(default),
        Some(v) => v
            .replace('_', "")
            .parse()
            .map_err(|e| format!("--{name} {v}: {e}")),
    }
}

/// `--name VALUE`, or an error naming the missing flag.
///
/// ```
/// use streamflow_benches::end_to_end::required;
/// let args: Vec<String> = vec!["--input".into(), "in".into()];
/// assert_eq!(required(&args, "input").unwrap(), "in");
/// assert!(required(&args, "output").unwrap_err().contains("--output"));
/// ```
pub fn required(args: &[String], name: &str) -> Result<String, String> {
    flag(args, name).ok_or_else(|| format!("missing --{name}"))
}

/// The visible regular files of `dir`, sorted by name (hidden files, such as a generator's
/// files in the making, left out).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("b.txt"), "")?;
/// std::fs::write(dir.path().join("a.txt"), "")?;
/// std::fs::write(dir.path().join(".hidden"), "")?;
/// let names: Vec<_> = streamflow_benches::end_to_end::input_files(dir.path())?
///     .iter().map(|p| p.file_name().unwrap().to_owned()).collect();
/// assert_eq!(names, ["a.txt", "b.txt"]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn input_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Writes word counts in the canonical form (`word<TAB>count`, sorted by word bytes).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("counts.tsv");
/// streamflow_benches::end_to_end::write_word_counts(&out, vec![("b".into(), 1), ("a".into(), 2)])?;
/// assert_eq!(std::fs::read_to_string(&out)?, "a\t2\nb\t1\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_word_counts(path: &Path, mut counts: Vec<(String, u64)>) -> std::io::Result<()> {
    counts.sort_unstable();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (word, n) in counts {
        writeln!(out, "{word}\t{n}")?;
    }
    out.flush()
}

/// Writes windowed counts in the canonical form (`window_start_ms<TAB>key<TAB>count`, sorted
/// by window start, then key bytes).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("windows.tsv");
/// let rows = vec![(60_000, "b".to_string(), 1), (0, "z".into(), 3), (60_000, "a".into(), 2)];
/// streamflow_benches::end_to_end::write_window_counts(&out, rows)?;
/// assert_eq!(std::fs::read_to_string(&out)?, "0\tz\t3\n60000\ta\t2\n60000\tb\t1\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_window_counts(path: &Path, mut rows: Vec<(i64, String, u64)>) -> std::io::Result<()> {
    rows.sort_unstable();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (start, key, n) in rows {
        writeln!(out, "{start}\t{key}\t{n}")?;
    }
    out.flush()
}

/// Exits with a message when `result` is an error: the end of every benchmark program's `main`.
pub fn exit_on_error<E: std::fmt::Display>(program: &str, result: Result<(), E>) {
    if let Err(e) = result {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}
