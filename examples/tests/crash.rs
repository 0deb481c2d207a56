//! The crash test: the `exactly_once` jobs (a DStream job with running counts and an
//! incremental window into `save_as_text_files`; a Structured event-time windowed count in
//! Append mode from the file source into the JSON sink) are killed with SIGKILL at seeded
//! random moments, restarted each time on the same checkpoint, and their final output must
//! equal that of an uninterrupted run exactly: nothing lost, nothing duplicated.
//!
//! 50 kills per job by default (100 per run). The seed is printed; to reproduce a run, or to
//! run 1000 kills:
//!
//! ```text
//! STREAMFLOW_CRASH_SEED=42 STREAMFLOW_CRASH_KILLS=1000 cargo test -p streamflow-examples --test crash -- --nocapture
//! ```

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[path = "../../streamflow/tests/support/kill.rs"]
mod kill;

use kill::{Rng, setting, wait_at_most};

const JOB: &str = env!("CARGO_BIN_EXE_exactly_once");

fn spawn(args: &[&str]) -> Child {
    Command::new(JOB)
        .args(args)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {JOB}: {e}"))
}

/// Runs the job to its end without interruption; returns how long it took.
fn run_whole(args: &[&str]) -> Duration {
    let started = Instant::now();
    let status = spawn(args).wait().unwrap();
    assert!(status.success(), "the uninterrupted run failed: {status}");
    started.elapsed()
}

/// Runs the job, killing it (`signal`: SIGKILL or SIGTERM) at random moments within `span`
/// and restarting it on the same checkpoint each time, until it finishes by itself; at most
/// `kills` kills, then it runs to its end. Returns the kills made and, when the first run (on
/// a fresh checkpoint) finished by itself, how long it took: a whole run measured again.
fn run_with_kills(
    args: &[&str],
    rng: &mut Rng,
    kills: u64,
    span: Duration,
    sigterm: bool,
) -> (u64, Option<Duration>) {
    let mut done = 0;
    loop {
        let started = Instant::now();
        let mut child = spawn(args);
        if done == kills {
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "the final run after {done} kills failed: {status}"
            );
            return (done, None);
        }
        let moment = Duration::from_micros(rng.below(span.as_micros() as u64));
        match wait_at_most(&mut child, moment) {
            Some(status) => {
                assert!(status.success(), "run {done} failed by itself: {status}");
                return (done, (done == 0).then(|| started.elapsed()));
            }
            None => {
                let status = stop(&mut child, sigterm);
                // A graceful stop ends normally (or, if the signal came before the job
                // installed its handler, as the signal would).
                assert!(
                    !sigterm || status.success() || status.code().is_none(),
                    "run {done} did not stop gracefully on SIGTERM: {status}"
                );
                done += 1;
            }
        }
    }
}

/// Stops `child` with SIGTERM (`sigterm`) or SIGKILL and returns how it ended.
fn stop(child: &mut Child, sigterm: bool) -> ExitStatus {
    if sigterm {
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
    } else {
        child.kill().unwrap();
    }
    child.wait().unwrap()
}

/// The DStream job's output: every batch directory (its name) and its lines, sorted. Every
/// directory must be whole (`_SUCCESS`).
fn text_output(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue; // a directory whose writing was interrupted: never renamed into place
        }
        let path = entry.path();
        assert!(path.join("_SUCCESS").exists(), "{} is not whole", path.display());
        let mut lines: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().starts_with("part-"))
            .flat_map(|f| {
                std::fs::read_to_string(f.path())
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        out.insert(name, lines);
    }
    out
}

/// The query's output as a reader sees it: the files the sink's manifest names, per batch.
fn json_output(dir: &Path) -> BTreeMap<u64, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("_manifest")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(batch) = name.parse::<u64>() else { continue };
        // A manifest entry: a checkpoint header line, then `{"batch_id": N, "files": [...]}`.
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let (_, body) = text.split_once('\n').unwrap();
        let manifest: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(manifest["batch_id"], batch);
        let mut rows = Vec::new();
        for file in manifest["files"].as_array().unwrap() {
            let file = file.as_str().unwrap();
            rows.extend(
                std::fs::read_to_string(dir.join(file))
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
        rows.sort();
        out.insert(batch, rows);
    }
    out
}

/// Asserts two outputs are equal, showing only the entries that differ.
fn assert_same<K: Ord + std::fmt::Debug>(
    got: &BTreeMap<K, Vec<String>>,
    expected: &BTreeMap<K, Vec<String>>,
    what: &str,
) {
    let differing: Vec<String> = expected
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| got.get(*k) != expected.get(*k))
        .take(4)
        .map(|k| format!("{k:?}:\n   got {:?}\n  want {:?}", got.get(k), expected.get(k)))
        .collect();
    assert!(
        differing.is_empty(),
        "{what}: the output differs from the uninterrupted run's:\n{}",
        differing.join("\n")
    );
}

struct Dirs {
    _root: tempfile::TempDir,
    root: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        Dirs {
            root: root.path().to_path_buf(),
            _root: root,
        }
    }

    fn path(&self, name: &str) -> String {
        self.root.join(name).to_string_lossy().into_owned()
    }
}

fn seed() -> u64 {
    kill::seed(42)
}

/// Runs a job whole once, then again and again on fresh directories, killed at random moments
/// and restarted until it ends, until `kills` kills were made; every killed run's output must
/// equal the whole run's.
fn survives<K: Ord + std::fmt::Debug>(
    what: &str,
    sigterm: bool,
    kills: u64,
    seed: u64,
    args: impl Fn(&Dirs, &str) -> Vec<String>,
    output: impl Fn(&Path) -> BTreeMap<K, Vec<String>>,
    prepare: impl Fn(&Dirs),
) {
    let dirs = Dirs::new();
    prepare(&dirs);
    let whole = args(&dirs, "whole");
    let whole: Vec<&str> = whole.iter().map(String::as_str).collect();
    let mut span = run_whole(&whole);
    let expected = output(&dirs.root.join("out-whole"));
    let mut rng = Rng::new(seed);
    let (mut done, mut rounds) = (0, 0);
    while done < kills {
        let run = format!("run{rounds}");
        let killed = args(&dirs, &run);
        let killed: Vec<&str> = killed.iter().map(String::as_str).collect();
        let (made, whole_run) = run_with_kills(&killed, &mut rng, kills - done, span, sigterm);
        done += made;
        // The first whole run may have been slowed by the tests beside it: kill moments are
        // drawn within the fastest whole run seen, so that most runs are caught before their end.
        if let Some(took) = whole_run {
            span = span.min(took);
        }
        assert_same(&output(&dirs.root.join(format!("out-{run}"))), &expected, what);
        rounds += 1;
        assert!(
            rounds < kills * 4 + 10,
            "{what}: the job keeps finishing before it can be killed"
        );
    }
    let signal = if sigterm { "SIGTERM" } else { "SIGKILL" };
    eprintln!(
        "{what}: {done} kills ({signal}) over {rounds} runs, output identical; fastest whole run {span:?}"
    );
}

fn dstream_survives(sigterm: bool, kills: u64, seed: u64) {
    let args = |dirs: &Dirs, run: &str| -> Vec<String> {
        let (ck, out) = (dirs.path(&format!("ck-{run}")), dirs.path(&format!("out-{run}")));
        [
            "dstream",
            "--checkpoint",
            &ck,
            "--output",
            &out,
            "--batches",
            "20",
        ]
        .map(String::from)
        .to_vec()
    };
    let output = |dir: &Path| {
        let out = text_output(dir);
        assert_eq!(out.len(), 40, "20 batches of two outputs");
        out
    };
    survives("dstream job", sigterm, kills, seed, args, output, |_| ());
}

fn query_survives(sigterm: bool, kills: u64, seed: u64) {
    let args = |dirs: &Dirs, run: &str| -> Vec<String> {
        let (ck, out) = (dirs.path(&format!("ck-{run}")), dirs.path(&format!("out-{run}")));
        [
            "query",
            "--input",
            &dirs.path("in"),
            "--checkpoint",
            &ck,
            "--output",
            &out,
        ]
        .map(String::from)
        .to_vec()
    };
    let output = |dir: &Path| {
        let out = json_output(dir);
        assert!(out.values().map(Vec::len).sum::<usize>() > 50, "{out:?}");
        out
    };
    let prepare = |dirs: &Dirs| {
        let generated = spawn(&[
            "generate",
            "--input",
            &dirs.path("in"),
            "--files",
            "20",
            "--events",
            "200",
        ])
        .wait()
        .unwrap();
        assert!(generated.success());
    };
    survives(
        "query",
        sigterm,
        kills,
        seed.rotate_left(17),
        args,
        output,
        prepare,
    );
}

#[test]
fn a_dstream_job_killed_at_random_moments_writes_exactly_the_uninterrupted_output() {
    dstream_survives(false, setting("STREAMFLOW_CRASH_KILLS", 50), seed());
}

#[test]
fn a_query_killed_at_random_moments_writes_exactly_the_uninterrupted_output() {
    query_survives(false, setting("STREAMFLOW_CRASH_KILLS", 50), seed());
}

#[test]
fn jobs_stopped_by_sigterm_at_random_moments_lose_nothing() {
    let kills = setting("STREAMFLOW_CRASH_KILLS", 50).div_ceil(5);
    dstream_survives(true, kills, seed());
    query_survives(true, kills, seed());
}

/// Serves `lines` numbered lines to the first connection on a loopback port, nothing to later
/// ones (a restarted job reconnects); every connection is held open. Returns the port.
fn line_server(lines: u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            if n == 0 {
                let text: String = (0..lines).map(|i| format!("line-{i:05}\n")).collect();
                let _ = conn.write_all(text.as_bytes());
                let _ = conn.flush();
            }
            held.push(conn);
        }
    });
    port
}

/// Once the socket job said it received every line (so they are in its write-ahead log), it is
/// stopped at a random moment — SIGKILL, or SIGTERM for a graceful stop — and restarted on the
/// same checkpoint, the server sending nothing more: every line is in the output exactly once.
fn socket_survives(sigterm: bool, rounds: u64, seed: u64) {
    const LINES: u64 = 2_000;
    let mut rng = Rng::new(seed.rotate_left(31));
    let dirs = Dirs::new();
    for round in 0..rounds {
        let port = line_server(LINES).to_string();
        let (ck, out) = (
            dirs.path(&format!("ck-{round}")),
            dirs.path(&format!("out-{round}")),
        );
        let expect = LINES.to_string();
        let first = [
            "socket",
            "--port",
            &port,
            "--checkpoint",
            &ck,
            "--output",
            &out,
            "--expect",
            &expect,
            "--batches",
            "10",
        ];
        let mut child = Command::new(JOB)
            .args(first)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut said)
            .unwrap();
        assert_eq!(said.trim(), format!("received {LINES}"), "round {round}");
        // The first round stops it at once: every line is then only in the write-ahead log.
        let moment = Duration::from_micros(if round == 0 { 0 } else { rng.below(300_000) });
        if wait_at_most(&mut child, moment).is_none() {
            let status = stop(&mut child, sigterm);
            // A running job stops gracefully and the program ends normally (the first
            // round's job is certainly running); one whose job had already stopped ends as
            // SIGTERM would end it.
            assert!(
                !sigterm || status.success() || (round > 0 && status.code().is_none()),
                "round {round}: no graceful stop on SIGTERM: {status}"
            );
        }
        let again = [
            "socket",
            "--port",
            &port,
            "--checkpoint",
            &ck,
            "--output",
            &out,
            "--batches",
            "10",
        ];
        let status = spawn(&again).wait().unwrap();
        assert!(status.success(), "round {round}: the restart failed: {status}");
        let mut lines: Vec<String> = text_output(Path::new(&out)).into_values().flatten().collect();
        lines.sort();
        let expected: Vec<String> = (0..LINES).map(|i| format!("line-{i:05}")).collect();
        assert_eq!(
            lines.len(),
            expected.len(),
            "round {round}: lines lost or written twice"
        );
        assert_eq!(lines, expected, "round {round}");
    }
    let signal = if sigterm { "SIGTERM" } else { "SIGKILL" };
    eprintln!(
        "socket job: {rounds} rounds stopped by {signal} after receiving {LINES} lines, none lost or doubled"
    );
}

#[test]
fn a_socket_job_killed_after_receiving_loses_nothing_through_its_write_ahead_log() {
    let rounds = setting("STREAMFLOW_CRASH_KILLS", 50).div_ceil(10);
    socket_survives(false, rounds, seed());
    socket_survives(true, rounds, seed());
}

/// The continuous job's output: every line of every epoch file, per output, sorted — epochs
/// are cut at different records in different runs, but every record's row must be there once.
fn epoch_output(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for name in ["counts", "events"] {
        let mut lines = Vec::new();
        for entry in std::fs::read_dir(dir.join(name)).unwrap().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with("epoch-") {
                lines.extend(
                    std::fs::read_to_string(entry.path())
                        .unwrap()
                        .lines()
                        .map(str::to_string),
                );
            }
        }
        lines.sort();
        out.insert(name.to_string(), lines);
    }
    out
}

/// Runs the continuous job, killing it with SIGKILL — half the time at a random moment, half
/// the time just as it reports an epoch's commit (at the boundary) — and restarting it on the
/// same checkpoint until it finishes by itself, at most `kills` kills. Returns the kills made.
fn run_continuous_with_kills(args: &[&str], rng: &mut Rng, kills: u64, span: Duration) -> (u64, u64) {
    let (mut done, mut at_boundary) = (0, 0);
    loop {
        let mut child = Command::new(JOB)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        if done == kills {
            std::io::copy(&mut BufReader::new(stdout), &mut std::io::sink()).unwrap();
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "the final run after {done} kills failed: {status}"
            );
            return (done, at_boundary);
        }
        let killed = if rng.below(2) == 0 {
            let moment = Duration::from_micros(rng.below(span.as_micros() as u64));
            let drain =
                std::thread::spawn(move || std::io::copy(&mut BufReader::new(stdout), &mut std::io::sink()));
            let killed = wait_at_most(&mut child, moment).is_none();
            if killed {
                child.kill().unwrap();
            }
            let _ = drain.join();
            killed
        } else {
            // Kill right after the n-th epoch commit this run reports.
            let n = rng.below(4) + 1;
            let mut lines = BufReader::new(stdout).lines();
            let mut seen = 0;
            while seen < n {
                match lines.next() {
                    Some(Ok(line)) if line.starts_with("epoch ") => seen += 1,
                    Some(_) => {}
                    None => break,
                }
            }
            let killed = seen == n && child.try_wait().unwrap().is_none();
            if killed {
                child.kill().unwrap();
                at_boundary += 1;
            }
            std::thread::spawn(move || lines.for_each(drop));
            killed
        };
        let status = child.wait().unwrap();
        if !killed {
            assert!(status.success(), "run {done} failed by itself: {status}");
            return (done, at_boundary);
        }
        done += 1;
    }
}

#[test]
fn a_continuous_query_killed_at_and_between_epoch_boundaries_writes_every_row_once() {
    let kills = setting("STREAMFLOW_CRASH_KILLS", 50).div_ceil(2);
    let seed = seed().rotate_left(29);
    let dirs = Dirs::new();
    let generated = spawn(&[
        "generate",
        "--input",
        &dirs.path("in"),
        "--files",
        "20",
        "--events",
        "200",
    ])
    .wait()
    .unwrap();
    assert!(generated.success());
    let args = |run: &str| -> Vec<String> {
        let (ck, out) = (dirs.path(&format!("ck-{run}")), dirs.path(&format!("out-{run}")));
        [
            "continuous",
            "--input",
            &dirs.path("in"),
            "--checkpoint",
            &ck,
            "--output",
            &out,
        ]
        .map(String::from)
        .to_vec()
    };
    let whole = args("whole");
    let whole: Vec<&str> = whole.iter().map(String::as_str).collect();
    let started = Instant::now();
    let status = Command::new(JOB)
        .args(&whole)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let span = started.elapsed();
    let expected = epoch_output(&dirs.root.join("out-whole"));
    // Every event once among the picked users' rows; counts 1..=n per user.
    assert_eq!(expected["counts"].len(), 4_000);
    let mut rng = Rng::new(seed);
    let (mut done, mut boundary, mut rounds) = (0, 0, 0);
    while done < kills {
        let run = format!("run{rounds}");
        let killed = args(&run);
        let killed: Vec<&str> = killed.iter().map(String::as_str).collect();
        let (d, b) = run_continuous_with_kills(&killed, &mut rng, kills - done, span);
        done += d;
        boundary += b;
        assert_same(
            &epoch_output(&dirs.root.join(format!("out-{run}"))),
            &expected,
            "continuous query",
        );
        rounds += 1;
        assert!(
            rounds < kills * 4 + 10,
            "the continuous job keeps finishing before it can be killed"
        );
    }
    eprintln!(
        "continuous query: {done} kills (SIGKILL; {boundary} right after an epoch commit) over {rounds} runs, every row once; uninterrupted run {span:?}"
    );
}
