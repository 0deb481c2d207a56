//! Deduplicating events by their id within a watermark — Structured Streaming's
//! `dropDuplicates`, as in Spark's guide:
//!
//! ```scala
//! streamingDf.withWatermark("eventTime", "10 seconds").dropDuplicates("guid", "eventTime")
//! ```
//!
//! Events carry a `guid` and an event time; a sender retries, so an event may arrive several
//! times. With the event time in the key, a `(guid, event time)` is remembered until the
//! watermark (10 seconds behind the latest event) passes it — the state stays bounded — and a
//! copy arriving after that is too late: dropped, counted in the progress report, and here
//! routed to a late-data side output that the same query prints.
//!
//! Runs on built-in data and ends by itself:
//! `cargo run -p streamflow-examples --bin dedup_events`.

use clap::Parser;
use streamflow::prelude::*;
use streamflow::structured::{LateRows, MemoryStream, Session};

/// Events deduplicated by guid and event time within a 10-second watermark; late copies on a
/// side output, on built-in data.
#[derive(Parser)]
#[command(version, about)]
struct Options {}

/// An event: its id, when it happened, what it says.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Event {
    guid: String,
    event_time: Time,
    payload: String,
}

/// The event `guid` at `second` after 12:00.
fn event(guid: &str, second: i64, payload: &str) -> Event {
    const NOON: i64 = 1_767_268_800_000; // 2026-01-01T12:00:00Z
    Event {
        guid: guid.to_string(),
        event_time: Time::from_millis(NOON + second * 1_000),
        payload: payload.to_string(),
    }
}

fn main() -> streamflow::Result<()> {
    Options::parse();
    env_logger::init();
    // Ctrl-C / SIGTERM: finish the batch, then stop.
    let session = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let events = MemoryStream::<Event>::new();
    let late = LateRows::<Event>::new();
    let unique = session
        .read_stream::<Event>()
        .memory(&events)
        .with_watermark(|e| e.event_time, "10 seconds")
        .late_rows_to(&late)
        .drop_duplicates_with_event_time(|e| e.guid.clone());
    // One query, one console: each row says whether it is new or a late copy.
    let query = unique
        .map(|e| ("new".to_string(), e.guid, e.payload))
        .union(
            &unique
                .late_rows(&late)
                .map(|e| ("late".to_string(), e.guid, e.payload)),
        )
        .write_stream()
        .console_with(20, false, std::io::stdout())
        .start()?;
    println!(
        "An empty table is a batch run only because the watermark moved (Spark's no-data \
         batch): it forgets the events the watermark passed and has nothing new to write."
    );

    let rounds = vec![
        vec![
            event("a1", 1, "signup"),
            event("b7", 2, "login"),
            event("a1", 1, "signup"),
        ],
        // A retry of b7 within the watermark: a duplicate, dropped silently.
        vec![
            event("b7", 2, "login"),
            event("c3", 12, "click"),
            event("d9", 20, "buy"),
        ],
        // The watermark is at 12:00:10 now: a copy of a1 (12:00:01) is too late.
        vec![event("a1", 1, "signup"), event("e5", 25, "logout")],
    ];
    for round in rounds {
        events.add_data(round);
        query.process_all_available()?;
    }
    let progress = query.recent_progress();
    let sum = |f: fn(&streamflow::structured::StateOperatorProgress) -> u64| -> u64 {
        progress
            .iter()
            .flat_map(|p| p.state_operators.iter())
            .map(f)
            .sum()
    };
    println!(
        "duplicates dropped: {}, late copies: {}, keys in state now: {}",
        sum(|s| s.num_dropped_duplicate_rows),
        sum(|s| s.num_rows_dropped_by_watermark),
        query
            .last_progress()
            .and_then(|p| p.state_operators.first().map(|s| s.num_rows_total))
            .unwrap_or(0)
    );
    query.stop()?;
    query.await_termination()
}
