//! The operators of windows and state under the macro — an incremental window with an inverse
//! function and a filter, `update_state_by_key`, and `map_with_state` with a timeout and its
//! snapshots — checkpointed through the attribute, and run on a manual clock.
#![deny(warnings)]

use std::sync::{Arc, Mutex};

use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::testing::{TestContext, sorted};

type Log = Arc<Mutex<Vec<(&'static str, Time, Vec<String>)>>>;

/// Records every batch of `stream` in `log` under `name`, sorted.
fn log_to<T: streamflow::Data + std::fmt::Debug + PartialOrd>(
    stream: &DStream<T>,
    name: &'static str,
    log: &Log,
) {
    let log = log.clone();
    stream.foreach_batch(move |batch, time| {
        let lines = sorted(&batch.collect())
            .iter()
            .map(|x| format!("{x:?}"))
            .collect();
        log.lock().map_err(|e| e.to_string())?.push((name, time, lines));
        Ok::<(), String>(())
    });
}

/// Word counts over the last 3 s every second, running totals, and per-word sessions.
#[stream_job(batch = "1s", checkpoint = "target/ui-checkpoints/state-and-windows")]
fn words_over_time(ssc: &StreamingContext, queue: StreamQueue<String>, log: Log) {
    let pairs = ssc
        .queue_stream(queue, true, None)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1_i64));
    let windowed = pairs.reduce_by_key_and_window_inv(
        |a, b| a + b,
        |a, b| a - b,
        "3s",
        "1s",
        Some(|(_, n): &(String, i64)| *n > 0),
    );
    let totals = pairs.update_state_by_key(|new: Vec<i64>, total: Option<i64>| {
        Some(total.unwrap_or(0) + new.iter().sum::<i64>())
    });
    let sessions = pairs.map_with_state(
        StateSpec::function(|word: &String, one: Option<i64>, seen: &mut State<i64>| {
            let n = seen.get_option().copied().unwrap_or(0) + one.unwrap_or(0);
            seen.update(n).ok();
            format!("{word}#{n}")
        })
        .timeout("10s"),
    );
    log_to(&windowed, "windowed", &log);
    log_to(&totals, "totals", &log);
    log_to(&sessions.state_snapshots(), "snapshots", &log);
    log_to(&sessions.into_dstream(), "events", &log);
}

fn queue_of(batches: &[&[&str]]) -> StreamQueue<String> {
    let queue = StreamQueue::new();
    for batch in batches {
        queue.push(batch.iter().map(|line| line.to_string()));
    }
    queue
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The builder: the checkpoint directory comes from the attribute.
    let ssc = words_over_time(StreamQueue::new(), Log::default())?;
    assert!(ssc.checkpoint_dir().is_some());
    assert!(words_over_time_plan().contains("reduce_by_key_and_window_inv"));

    // On a manual clock, with a checkpoint directory of the test's own.
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let dir = std::env::temp_dir().join(format!("streamflow-ui-state-{}", std::process::id()));
    t.context().checkpoint(&dir)?;
    let log = Log::default();
    words_over_time_on(
        t.context(),
        queue_of(&[&["a b", "a"], &["b"], &[], &[]]),
        log.clone(),
    )?;
    t.run(4)?;
    std::fs::remove_dir_all(&dir).ok();

    let log = log.lock().map_err(|e| e.to_string())?;
    let at = |name: &str, second: i64| -> Vec<String> {
        log.iter()
            .find(|(n, time, _)| *n == name && *time == Time::from_millis(second * 1_000))
            .map(|(_, _, lines)| lines.clone())
            .unwrap_or_default()
    };
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(at("windowed", 1), strings(&[r#"("a", 2)"#, r#"("b", 1)"#]));
    assert_eq!(at("windowed", 3), strings(&[r#"("a", 2)"#, r#"("b", 2)"#]));
    // At 4 s the first batch has left the window: `a` falls to 0 and is filtered out.
    assert_eq!(at("windowed", 4), strings(&[r#"("b", 1)"#]));
    assert_eq!(at("totals", 4), strings(&[r#"("a", 2)"#, r#"("b", 2)"#]));
    assert_eq!(at("events", 1), strings(&[r#""a#1""#, r#""a#2""#, r#""b#1""#]));
    assert_eq!(at("events", 2), strings(&[r#""b#2""#]));
    assert_eq!(at("snapshots", 4), strings(&[r#"("a", 2)"#, r#"("b", 2)"#]));
    Ok(())
}
