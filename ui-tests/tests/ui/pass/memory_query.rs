//! Structured Streaming queries under the macro, run on a manual clock: a memory source, a
//! memory sink, the attribute's output mode and trigger, a mode given in the body instead, and
//! the `_writer` function of a job that declares its writer type.
#![deny(warnings)]

use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::structured::*;

/// A click and when it happened.
#[derive(Clone, Debug)]
struct Click {
    user: String,
    ts: Time,
}

/// Clicks per user in 10-minute windows, emitted once each window is final.
#[stream_job(output_mode = append, trigger = processing_time("1 minute"), name = "clicks per window")]
fn clicks_per_window(
    session: &Session,
    clicks: &MemoryStream<Click>,
) -> DataStreamWriter<AggRow<String, u64>> {
    session
        .read_stream::<Click>()
        .memory(clicks)
        .with_watermark(|c| c.ts, "5 minutes")
        .group_by_window(|c| c.user.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .memory("per_window")
}

/// Running clicks per user, the whole table every batch; the mode is given in the body.
#[stream_job]
fn clicks_per_user(session: &Session, clicks: &MemoryStream<Click>) {
    let named = session
        .read_stream::<Click>()
        .memory(clicks)
        .filter(|c| !c.user.is_empty());
    named
        .group_by(|c| c.user.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .memory("per_user")
}

fn at(minute: i64) -> Time {
    Time::from_millis(minute * 60_000)
}

fn click(user: &str, minute: i64) -> Click {
    Click {
        user: user.to_string(),
        ts: at(minute),
    }
}

fn rows(session: &Session, table: &str) -> streamflow::Result<Vec<(String, Option<i64>, u64)>> {
    let mut rows: Vec<_> = session
        .memory_table::<AggRow<String, u64>>(table)?
        .rows()
        .into_iter()
        .map(|r| (r.key, r.window.map(|w| w.start.millis() / 60_000), r.value))
        .collect();
    rows.sort();
    Ok(rows)
}

fn main() -> streamflow::Result<()> {
    let clock = ManualClock::new(0);
    let session = Session::builder().clock(clock.clone()).parallelism(2).build()?;
    let clicks = MemoryStream::<Click>::new();

    // The writer with the attribute applied, not started; then started.
    let writer = clicks_per_window_writer(&session, &clicks)?;
    let windows = writer.start()?;
    assert_eq!(windows.name(), Some("clicks per window"));
    assert!(
        windows
            .explain()
            .contains("Append mode, trigger ProcessingTime(60000 ms)")
    );
    let totals = clicks_per_user(&session, &clicks)?;
    assert_eq!(totals.name(), Some("clicks_per_user"));
    assert!(totals.explain().contains("Complete mode"));

    clicks.add_data([click("ann", 1), click("bob", 2), click("ann", 3)]);
    clock.advance(Duration::minutes(1))?;
    windows.process_all_available()?;
    totals.process_all_available()?;
    // Complete: the whole table at once; Append: nothing final yet.
    assert_eq!(
        rows(&session, "per_user")?,
        [("ann".to_string(), None, 2), ("bob".to_string(), None, 1)]
    );
    assert!(rows(&session, "per_window")?.is_empty());

    // Minute 25 moves the watermark to 20: the window [0, 10) is final and emitted, once.
    clicks.add_data([click("ann", 25)]);
    for _ in 0..3 {
        clock.advance(Duration::minutes(1))?;
        windows.process_all_available()?;
    }
    assert_eq!(
        rows(&session, "per_window")?,
        [("ann".to_string(), Some(0), 2), ("bob".to_string(), Some(0), 1)]
    );
    assert_eq!(
        clicks_per_window_plan(),
        "stage 1: memory_stream\n\
         stage 2: with_watermark\n\
         stage 3: group_by_window(..).count() → memory"
    );
    assert_eq!(
        clicks_per_user_plan(),
        "stage 1: memory_stream\n\
         stage 2: filter\n\
         stage 3: group_by(..).count() → memory"
    );
    windows.stop()?;
    totals.stop()?;
    Ok(())
}
