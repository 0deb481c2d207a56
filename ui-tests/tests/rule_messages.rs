//! The rules `#[stream_job]` checks at compile time and `start()` checks at run time are one
//! piece of code (`streamflow/src/event_time/rules.rs`, `streamflow/src/window/rules.rs`), so a
//! mistake reads the same in both places. Each test here builds, by hand, the job of a
//! `tests/ui/fail/*.rs` case and asserts that `start()`'s error holds the compile error of its
//! `.stderr`, word for word: the message, then `: ` and the help.
//!
//! The one intended difference: a mode chosen in the attribute is spelled `output_mode = update`
//! in the compile error's help, and `.output_mode(OutputMode::Update)` at run time.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::structured::*;

/// A word and when it was seen, as in the `query_*.rs` cases.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

/// The compile error of `tests/ui/fail/{case}.rs` (its only macro error), as the runtime
/// words it: `message: help`.
fn compile_error(case: &str) -> String {
    let path = format!("{}/tests/ui/fail/{case}.stderr", env!("CARGO_MANIFEST_DIR"));
    let stderr = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = stderr.lines();
    let message = lines.next().and_then(|l| l.strip_prefix("error: "));
    let help = lines.next().and_then(|l| l.trim_start().strip_prefix("help: "));
    let (Some(message), Some(help)) = (message, help) else {
        panic!("{path} does not start with an error and its help:\n{stderr}");
    };
    let mut help = help.to_owned();
    for (key, variant) in [
        ("append", "Append"),
        ("update", "Update"),
        ("complete", "Complete"),
    ] {
        help = help.replace(
            &format!("`output_mode = {key}`"),
            &format!("`.output_mode(OutputMode::{variant})`"),
        );
    }
    format!("{message}: {help}")
}

/// `start()`'s error for a DStream job.
fn dstream_error(batch: Duration, build: impl FnOnce(&StreamingContext)) -> String {
    let ssc = StreamingContext::new(batch, 1).unwrap();
    build(&ssc);
    let err = ssc.start().expect_err("start() should have failed");
    err.to_string()
}

/// `start()`'s error for a query.
fn query_error<T: streamflow::Data>(writer: DataStreamWriter<T>) -> String {
    match writer.start() {
        Ok(query) => {
            query.stop().unwrap();
            panic!("start() should have failed")
        }
        Err(err) => err.to_string(),
    }
}

fn words() -> Dataset<Word> {
    let session = Session::builder()
        .parallelism(1)
        .clock(ManualClock::new(0))
        .build()
        .unwrap();
    session.read_stream::<Word>().memory(&MemoryStream::new())
}

fn assert_same(case: &str, runtime: &str) {
    let compile_time = compile_error(case);
    assert!(
        runtime.contains(&compile_time),
        "{case}: the runtime says\n{runtime}\nand the macro\n{compile_time}"
    );
}

#[test]
fn window_multiples() {
    let runtime = dstream_error(Duration::seconds(10), |ssc| {
        ssc.socket_text_stream("localhost", 9999)
            .map(|word| (word, 1))
            .reduce_by_key_and_window(|a, b| a + b, "45s", "10s")
            .print();
    });
    assert_same("window_length_not_multiple", &runtime);
    let runtime = dstream_error(Duration::seconds(2), |ssc| {
        ssc.socket_text_stream("localhost", 9999)
            .window("30 seconds", "5 seconds")
            .print();
    });
    assert_same("window_slide_not_multiple", &runtime);
}

#[test]
fn event_time_window_geometry() {
    let windowed = |spec: WindowSpec| {
        words()
            .with_watermark(|w| w.ts, "10 minutes")
            .group_by_window(|w| w.word.clone(), spec)
            .count()
            .write_stream()
            .output_mode(OutputMode::Append)
            .console()
    };
    assert_same(
        "query_window_slide_larger_than_size",
        &query_error(windowed(window("5 minutes", "10 minutes"))),
    );
    assert_same(
        "query_window_offset_too_large",
        &query_error(windowed(
            window("10 minutes", "5 minutes").start_offset("-5 minutes"),
        )),
    );
    assert_same(
        "query_session_gap_zero",
        &query_error(windowed(session_window("0 minutes"))),
    );
}

#[test]
fn output_modes() {
    let counts = || words().group_by(|w| w.word.clone()).count();
    assert_same(
        "query_append_without_watermark",
        &query_error(counts().write_stream().output_mode(OutputMode::Append).console()),
    );
    assert_same(
        "query_append_window_without_watermark",
        &query_error(
            words()
                .with_event_time(|w| w.ts)
                .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
                .count()
                .write_stream()
                .output_mode(OutputMode::Append)
                .console(),
        ),
    );
    assert_same(
        "query_complete_in_body_without_aggregation",
        &query_error(
            words()
                .filter(|w| !w.word.is_empty())
                .write_stream()
                .output_mode(OutputMode::Complete)
                .console(),
        ),
    );
    assert_same(
        "query_complete_without_aggregation",
        &query_error(
            words()
                .map(|w| w.word)
                .write_stream()
                .output_mode(OutputMode::Complete)
                .console(),
        ),
    );
    assert_same(
        "query_two_aggregations",
        &query_error(
            counts()
                .group_by(|row| row.value)
                .count()
                .write_stream()
                .output_mode(OutputMode::Complete)
                .console(),
        ),
    );
    // Rejected before the sink starts: nothing is written there.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rule-messages");
    assert_same(
        "query_file_sink_complete",
        &query_error(
            counts()
                .write_stream()
                .output_mode(OutputMode::Complete)
                .json(dir),
        ),
    );
}
