//! The end-to-end programs agree: on small generated inputs, the streamflow jobs write exactly
//! what the hand-written baselines write, and the baselines' results hold what the inputs hold.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::process::Command;

fn run(exe: &str, args: &[&str]) {
    let out = Command::new(exe).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{exe} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn word_count_programs_agree_with_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("words");
    run(
        env!("CARGO_BIN_EXE_gen_input"),
        &["words", "--mib", "1", "--files", "3", "--out", path(&input)],
    );
    let base = dir.path().join("base.tsv");
    run(
        env!("CARGO_BIN_EXE_baseline_word_count"),
        &["--input", path(&input), "--output", path(&base)],
    );
    let expected = std::fs::read_to_string(&base).unwrap();
    // The counts add up to the words of the input.
    let text: String = (0..3)
        .map(|i| std::fs::read_to_string(input.join(format!("part-{i:05}.txt"))).unwrap())
        .collect();
    let total: u64 = expected
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, text.split_ascii_whitespace().count() as u64);
    assert!(expected.lines().count() > 1_000, "a Zipf vocabulary");
    for spelling in ["words", "spark"] {
        let out = dir.path().join(format!("{spelling}.tsv"));
        run(
            env!("CARGO_BIN_EXE_streamflow_word_count"),
            &[
                "--input",
                path(&input),
                "--output",
                path(&out),
                "--spelling",
                spelling,
            ],
        );
        assert!(std::fs::read_to_string(&out).unwrap() == expected, "{spelling}");
    }
}

#[test]
fn event_count_programs_agree_with_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events");
    run(
        env!("CARGO_BIN_EXE_gen_input"),
        &[
            "events",
            "--events",
            "200000",
            "--keys",
            "1000",
            "--files",
            "4",
            "--rate",
            "1000",
            "--out",
            path(&input),
        ],
    );
    let base = dir.path().join("base.tsv");
    run(
        env!("CARGO_BIN_EXE_baseline_event_count"),
        &["--input", path(&input), "--output", path(&base)],
    );
    let expected = std::fs::read_to_string(&base).unwrap();
    // 200 000 events at 1 000/s: 200 s of event time, about three windows closed by the
    // watermark 10 s behind the last event, and none ending after it.
    let rows: Vec<(i64, u64)> = expected
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert!(!rows.is_empty());
    let last_event = 1_700_000_000_000 + 199_999 * 1_000 / 1_000;
    assert!(
        rows.iter()
            .map(|r| r.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            >= 2
    );
    assert!(
        rows.iter()
            .all(|(start, _)| start + 60_000 <= last_event - 10_000)
    );
    for args in [&[][..], &["--max-files-per-trigger", "1"][..]] {
        let out = dir.path().join("streamflow.tsv");
        let mut all = vec!["--input", path(&input), "--output", path(&out)];
        all.extend_from_slice(args);
        run(env!("CARGO_BIN_EXE_streamflow_event_count"), &all);
        assert!(std::fs::read_to_string(&out).unwrap() == expected, "{args:?}");
    }
}
