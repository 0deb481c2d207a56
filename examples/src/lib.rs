//! What the example binaries share: the built-in text feed that lets the socket examples run on
//! a fresh machine with no arguments.

pub mod nexmark;

/// A count as written on a command line: `10M`, `500k`, `1000`.
///
/// ```
/// assert_eq!(streamflow_examples::parse_count("10M"), Ok(10_000_000));
/// assert_eq!(streamflow_examples::parse_count("500k"), Ok(500_000));
/// assert!(streamflow_examples::parse_count("ten").is_err());
/// ```
pub fn parse_count(text: &str) -> Result<u64, String> {
    let lower = text.to_ascii_lowercase();
    let (digits, scale) = match lower.strip_suffix('m') {
        Some(d) => (d, 1_000_000),
        None => match lower.strip_suffix('k') {
            Some(d) => (d, 1_000),
            None => (lower.as_str(), 1_u64),
        },
    };
    let n = digits.parse::<u64>().map_err(|e| format!("{text:?}: {e}"))?;
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// The CPU time this process has used so far (user + system, all its threads), in seconds,
/// from `/proc/self/stat`; `None` where there is no such file (not Linux).
///
/// ```
/// if let Some(cpu) = streamflow_examples::cpu_seconds() {
///     assert!(cpu >= 0.0);
/// }
/// ```
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name (in parentheses), fields 14 and 15 of the line: utime and stime,
    // in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;

use tempfile::TempDir;

/// The checkpoint directory to use: `given`, or else a new temporary directory whose guard
/// (the second value) removes it when dropped — also when the job fails.
///
/// ```
/// let (dir, guard) = streamflow_examples::checkpoint_dir(None, "doc")?;
/// assert!(dir.is_dir() && guard.is_some());
/// drop(guard);
/// assert!(!dir.exists());
/// let (given, guard) = streamflow_examples::checkpoint_dir(Some("/tmp/ck".into()), "doc")?;
/// assert_eq!((given, guard.is_none()), ("/tmp/ck".into(), true));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn checkpoint_dir(given: Option<PathBuf>, example: &str) -> std::io::Result<(PathBuf, Option<TempDir>)> {
    match given {
        Some(dir) => Ok((dir, None)),
        None => {
            let dir = tempfile::Builder::new()
                .prefix(&format!("streamflow-{example}-"))
                .tempdir()?;
            Ok((dir.path().to_path_buf(), Some(dir)))
        }
    }
}

/// The built-in text: the seeds' sample line, then a few more.
pub const FEED: &str = "apple banana apple cherry apple banana orange apple
to be or not to be that is the question
whether tis nobler in the mind to suffer
the slings and arrows of outrageous fortune
or to take arms against a sea of troubles";

/// Serves `lines` lines of [`FEED`] (cycling) on 127.0.0.1, one every `pause`, to each client,
/// then keeps the connection open — like `nc -lk 9999` after you stop typing. Returns the port.
///
/// ```
/// let port = streamflow_examples::serve_feed(std::time::Duration::ZERO, 1)?;
/// let mut line = String::new();
/// let stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
/// std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line)?;
/// assert!(line.starts_with("apple banana"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn serve_feed(pause: std::time::Duration, lines: usize) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                for line in FEED.lines().cycle().take(lines) {
                    if writeln!(client, "{line}").is_err() {
                        return;
                    }
                    std::thread::sleep(pause);
                }
                // Keep the connection open; the job ends by its own limit.
                std::thread::park();
            });
        }
    });
    Ok(port)
}
