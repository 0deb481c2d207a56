//! SPEC §8's second sketch: a Structured Streaming query, event-time windows with a watermark,
//! in Append mode, every 10 seconds, to the console.
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

/// A word and when it was written.
#[derive(Clone, Debug, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

/// Words from a TCP socket, counted in 10-minute windows every 5 minutes.
#[stream_job(trigger = processing_time("10 seconds"), output_mode = append)]
fn event_time_word_count(session: &Session, host: &str, port: u16) {
    session
        .read_stream::<Word>()
        .socket(host, port)
        .with_watermark(|w| w.ts, "10 minutes")
        .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
        .count()
        .write_stream()
        .console()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A real socket on loopback for the query to connect to; no data is sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let session = Session::builder().clock(ManualClock::new(0)).build()?;
    let query = event_time_word_count(&session, "127.0.0.1", port)?; // checked and started
    assert_eq!(query.name(), Some("event_time_word_count"));
    assert!(query.is_active());
    let explain = query.explain();
    assert!(
        explain.contains("Append mode, trigger ProcessingTime(10000 ms)"),
        "{explain}"
    );
    assert_eq!(
        event_time_word_count_plan(),
        "stage 1: socket_source\n\
         stage 2: with_watermark\n\
         stage 3: group_by_window(..).count() → console"
    );
    query.stop()?;
    Ok(())
}
