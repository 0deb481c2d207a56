//! Every example explains itself: `--help` exits 0 and lists the options with their defaults;
//! an unknown option is refused (exit 2), not ignored. The examples that need no server run to
//! their end with no arguments and leave no temporary directory behind, and the long-running
//! ones stop gracefully on Ctrl-C (SIGINT): they finish the batch in progress and exit 0.
//!
//! The examples behind a cargo feature (`sql_word_count`, `word_counts_to_db`,
//! `kafka_word_count`) are checked when the tests run with that feature.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// An example binary and what this test expects of it.
struct Example {
    name: &'static str,
    path: &'static str,
    /// Something its `--help` must show: an option with its default, say.
    shows: &'static str,
    /// With no arguments it runs to its end by itself and prints this; `None`: it needs a
    /// server or arguments.
    prints: Option<&'static str>,
}

/// An [`Example`], its path from Cargo.
macro_rules! example {
    ($name:literal, shows $shows:literal, prints $prints:expr) => {
        Example {
            name: $name,
            path: env!(concat!("CARGO_BIN_EXE_", $name)),
            shows: $shows,
            prints: $prints,
        }
    };
}

/// Every example binary built with the features of this run.
fn examples() -> Vec<Example> {
    #[allow(
        unused_mut,
        reason = "the feature-gated examples are pushed only with their feature"
    )]
    let mut all = vec![
        example!("network_word_count", shows "--batch-ms <MS>", prints Some("(apple,")),
        example!("windowed_word_count", shows "--time-scale <F>", prints Some("(banana,")),
        example!("running_totals", shows "[default: 5]", prints Some("(phone,")),
        example!("event_time_word_count", shows "--ui <ADDR>", prints Some("until the first window closes, each batch prints an empty table")),
        example!("csv_events_per_user", shows "Usage:", prints Some("malformed line(s) kept aside")),
        example!("custom_source_sink", shows "Usage:", prints Some("EVENT 1")),
        example!("exactly_once", shows "[default: 30]", prints None),
        example!("ad_click_join", shows "--hours <N>  How many simulated hours", prints Some("join state")),
        example!("dedup_events", shows "Usage:", prints Some("Spark's no-data batch")),
        example!("continuous_filter", shows "[default: \"1 second\"]", prints Some("end-to-end latency p50")),
        example!("nexmark", shows "--events <N>", prints Some("events/s per core")),
    ];
    #[cfg(feature = "sql")]
    all.push(example!("sql_word_count", shows "--batches <N>", prints Some("=========")));
    #[cfg(feature = "database")]
    all.push(example!("word_counts_to_db", shows "--postgres <URL>", prints Some("running totals in table word_counts")));
    #[cfg(feature = "kafka")]
    all.push(example!("kafka_word_count", shows "produce", prints None));
    #[cfg(feature = "kafka")]
    all.push(example!("kafka_scale_out", shows "worker", prints None));
    all
}

/// The cargo features of this run that gate an example.
fn feature_on(feature: &str) -> bool {
    match feature {
        "sql" => cfg!(feature = "sql"),
        "database" => cfg!(feature = "database"),
        "kafka" => cfg!(feature = "kafka"),
        "ui" => cfg!(feature = "ui"),
        other => panic!("examples/tests/help.rs does not know the feature {other:?}: add it to feature_on"),
    }
}

/// Every `[[bin]]` of `examples/Cargo.toml` whose required features are on in this run.
fn binaries_built() -> Vec<String> {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let mut built = Vec::new();
    for section in manifest.split("\n[").filter(|s| s.starts_with("[bin]]")) {
        let value = |key: &str| {
            section
                .lines()
                .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
                .map(str::trim)
        };
        let name = value("name").unwrap().trim_matches('"').to_string();
        let required = value("required-features").unwrap_or("[]");
        let features: Vec<&str> = required
            .trim_matches(['[', ']'])
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .filter(|f| !f.is_empty())
            .collect();
        if features.iter().all(|f| feature_on(f)) {
            built.push(name);
        }
    }
    built
}

/// A new example is held to the same standard: it must be listed in [`examples`].
#[test]
fn every_example_binary_is_checked_here() {
    let checked: Vec<&str> = examples().iter().map(|e| e.name).collect();
    let built = binaries_built();
    assert!(
        built.len() >= 11,
        "read too few [[bin]]s from examples/Cargo.toml: {built:?}"
    );
    for name in &built {
        assert!(
            checked.contains(&name.as_str()),
            "the example {name} is not in examples() of examples/tests/help.rs: give it clap \
             arguments (--help exits 0), tempfile for its temporary directories and a graceful \
             Ctrl-C, then list it there"
        );
    }
}

fn example(name: &str) -> Command {
    let all = examples();
    let found = all.iter().find(|e| e.name == name);
    Command::new(found.unwrap_or_else(|| panic!("no example {name}")).path)
}

#[test]
fn every_example_has_help_that_exits_0() {
    for e in examples() {
        let out = Command::new(e.path)
            .arg("--help")
            .output()
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} --help: {:?}\n{text}",
            e.name,
            out.status
        );
        assert!(
            text.contains(e.shows),
            "{} --help does not show {:?}:\n{text}",
            e.name,
            e.shows
        );
    }
}

/// The Kafka examples have two commands each; each lists its options.
#[cfg(feature = "kafka")]
#[test]
fn kafka_word_count_commands_have_help() {
    for (name, command, shows) in [
        ("kafka_word_count", "run", "--checkpoint <DIR>"),
        ("kafka_word_count", "produce", "[default: 1000]"),
        ("kafka_scale_out", "worker", "--changelog <TOPIC>"),
        ("kafka_scale_out", "produce", "[default: 3000]"),
    ] {
        let out = example(name).args([command, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command} --help: {:?}", out.status);
        assert!(
            text.contains(shows),
            "{command} --help does not show {shows:?}:\n{text}"
        );
    }
}

#[test]
fn an_unknown_option_is_refused() {
    for e in examples() {
        let out = Command::new(e.path)
            .arg("--no-such-option")
            .output()
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(out.status.code(), Some(2), "{} accepted --no-such-option", e.name);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("--no-such-option"), "{}: {text}", e.name);
    }
}

/// A value that does not parse is refused before anything runs, naming the option.
#[test]
fn a_bad_value_is_refused() {
    for (name, args) in [
        ("nexmark", &["--query", "q6"][..]),
        ("nexmark", &["--events", "ten"]),
        ("continuous_filter", &["--interval", "soon"]),
        ("ad_click_join", &["--hours", "many"]),
    ] {
        let out = example(name).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name} {args:?} was accepted");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(args[0]), "{name} {args:?}: {text}");
    }
}

/// The examples that need no server run to their end by themselves with no arguments (all at
/// once, each with its own temporary directory), print something, and remove every temporary
/// directory they made.
#[test]
fn the_self_contained_examples_run_with_no_arguments() {
    let runs: Vec<_> = examples()
        .into_iter()
        .filter(|e| e.prints.is_some())
        .map(|e| {
            let tmp = tempfile::tempdir().unwrap();
            let child = Command::new(e.path)
                .env("TMPDIR", tmp.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|err| panic!("{}: {err}", e.name));
            (e, tmp, child)
        })
        .collect();
    for (e, tmp, child) in runs {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}: {:?}\n{}",
            e.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let expected = e.prints.unwrap_or_default();
        assert!(
            text.contains(expected),
            "{} did not print {expected:?}:\n{text}",
            e.name
        );
        // What may stay: `word_counts_to_db`'s SQLite file, which it writes there on purpose.
        let left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("word_counts.db"))
            .collect();
        assert!(
            left.is_empty(),
            "{} left {left:?} in its temporary directory",
            e.name
        );
    }
}

/// Starts `name` with `args`, waits for a line of its output containing `started`, sends it
/// SIGINT (Ctrl-C), and checks that it then ends by itself with status 0 within a minute.
fn stops_gracefully_on_ctrl_c(name: &str, args: &[&str], started: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = example(name)
        .args(args)
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains(started) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!("{name} never printed {started:?}: {e}");
            }
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    // It must end by itself; the output drains until then.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{name} did not stop within a minute of Ctrl-C");
        }
        let _ = seen.recv_timeout(Duration::from_millis(50));
    };
    assert!(status.success(), "{name} after Ctrl-C: {status}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{name} left {left:?} in its temporary directory");
}

#[test]
fn continuous_filter_stops_gracefully_on_ctrl_c() {
    stops_gracefully_on_ctrl_c("continuous_filter", &["--seconds", "600"], "epoch ");
}

#[test]
fn ad_click_join_stops_gracefully_on_ctrl_c() {
    stops_gracefully_on_ctrl_c("ad_click_join", &["--hours", "100000"], " min: ");
}

#[test]
fn network_word_count_stops_gracefully_on_ctrl_c() {
    stops_gracefully_on_ctrl_c("network_word_count", &["--batches", "100000"], "Time: ");
}

#[test]
fn running_totals_stops_gracefully_on_ctrl_c() {
    stops_gracefully_on_ctrl_c("running_totals", &["--batches", "100000"], "Time: ");
}
