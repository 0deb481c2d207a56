//! Every example explains itself: `--help` exits 0 and lists the options with their defaults;
//! an unknown option is refused (exit 2), not ignored.

use std::process::Command;

/// Every example binary, with a word its `--help` must show.
const EXAMPLES: &[(&str, &str)] = &[
    ("network_word_count", "--batch-ms <MS>"),
    ("windowed_word_count", "--time-scale <F>"),
    ("running_totals", "[default: 5]"),
    ("event_time_word_count", "--ui <ADDR>"),
    ("csv_events_per_user", "Usage:"),
    ("custom_source_sink", "Usage:"),
    ("exactly_once", "[default: 30]"),
];

fn example(name: &str) -> Command {
    let path = match name {
        "network_word_count" => env!("CARGO_BIN_EXE_network_word_count"),
        "windowed_word_count" => env!("CARGO_BIN_EXE_windowed_word_count"),
        "running_totals" => env!("CARGO_BIN_EXE_running_totals"),
        "event_time_word_count" => env!("CARGO_BIN_EXE_event_time_word_count"),
        "csv_events_per_user" => env!("CARGO_BIN_EXE_csv_events_per_user"),
        "custom_source_sink" => env!("CARGO_BIN_EXE_custom_source_sink"),
        "exactly_once" => env!("CARGO_BIN_EXE_exactly_once"),
        other => panic!("no example {other}"),
    };
    Command::new(path)
}

#[test]
fn every_example_has_help_that_exits_0() {
    for (name, shows) in EXAMPLES {
        let out = example(name)
            .arg("--help")
            .output()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} --help: {:?}\n{text}", out.status);
        assert!(
            text.contains(shows),
            "{name} --help does not show {shows:?}:\n{text}"
        );
    }
}

#[test]
fn an_unknown_option_is_refused() {
    for (name, _) in EXAMPLES {
        let out = example(name)
            .arg("--no-such-option")
            .output()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.status.code(), Some(2), "{name} accepted --no-such-option");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("--no-such-option"), "{name}: {text}");
    }
}

/// The examples that need no server run to the end by themselves with no arguments.
#[test]
fn the_self_contained_examples_run_with_no_arguments() {
    for name in [
        "running_totals",
        "event_time_word_count",
        "csv_events_per_user",
        "custom_source_sink",
        "network_word_count",
    ] {
        let out = example(name).output().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            out.status.success(),
            "{name}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{name} printed nothing");
    }
}
