//! Ad impressions joined with their clicks — Structured Streaming's stream–stream join, as in
//! Spark's guide:
//!
//! ```scala
//! impressions.withWatermark("impressionTime", "2 hours")
//!   .join(clicks.withWatermark("clickTime", "3 hours"), expr("""
//!     clickAdId = impressionAdId AND
//!     clickTime >= impressionTime AND clickTime <= impressionTime + interval 1 hour"""))
//! ```
//!
//! Both streams come from the built-in rate generator on a simulated clock: 10 impressions a
//! second (ad `n` is impression `n`), and a click for every tenth ad, `n % 80` minutes after
//! its impression (0, 10, … 70 minutes) — so the clicks 70 minutes late find no impression. Each impression
//! stays in state until the watermark proves no click can match it any more (1 hour after it,
//! under the clicks' 3-hour watermark), each click until no impression can: the state stays
//! flat however long the example runs, as the summary lines show.
//!
//! `cargo run -p streamflow-examples --bin ad_click_join [-- --hours N]` (4 simulated hours by
//! default; under a minute in a debug build). `--help` lists the options; Ctrl-C stops it
//! gracefully after the batch in progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::structured::{JoinOn, RateRow, Session, TimeRange};

/// Ad impressions joined with their clicks within the hour (stream–stream join with
/// watermarks), on the rate generator and a simulated clock; the join state stays flat.
#[derive(Parser)]
#[command(version, about)]
struct Options {
    /// How many simulated hours to run (a summary line every 30 minutes).
    #[arg(long, value_name = "N", default_value_t = 4)]
    hours: u32,
}

/// An ad shown.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Impression {
    ad_id: u64,
    impression_time: Time,
}

/// A click on an ad.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Click {
    ad_id: u64,
    click_time: Time,
}

/// Impressions per (simulated) second.
const RATE: u64 = 10;

/// Clicks within the hour after their impression, as `(ad, minutes from impression to click)`,
/// counted into `matched`.
#[stream_job(output_mode = append)]
fn ad_click_join(session: &Session, matched: Arc<AtomicU64>) {
    let impressions = session
        .read_stream::<RateRow>()
        .rate(RATE)
        .map(|r| Impression {
            ad_id: r.value,
            impression_time: r.timestamp,
        })
        .with_watermark(|i| i.impression_time, "2 hours");
    let clicks = session
        .read_stream::<RateRow>()
        .rate(RATE)
        .filter(|r| r.value % 10 == 0)
        .map(|r| Click {
            ad_id: r.value,
            click_time: Time::from_millis(r.timestamp.millis() + (r.value as i64 % 80) * 60_000),
        })
        .with_watermark(|c| c.click_time, "3 hours");
    impressions
        .join(
            &clicks,
            JoinOn::keys(|i: &Impression| i.ad_id, |c: &Click| c.ad_id)
                .time_range(TimeRange::between("0 seconds", "1 hour")),
        )
        .map(|(i, c)| {
            (
                i.ad_id,
                (c.click_time.millis() - i.impression_time.millis()) / 60_000,
            )
        })
        .write_stream()
        .foreach_batch(move |batch, _id| {
            matched.fetch_add(batch.count(), Ordering::Relaxed);
        })
}

fn main() -> streamflow::Result<()> {
    let options = Options::parse();
    env_logger::init();
    let clock = ManualClock::new(1_767_225_600_000); // 2026-01-01T00:00:00Z
    // Ctrl-C / SIGTERM: finish the batch, then stop.
    let session = Session::builder()
        .parallelism(2)
        .clock(clock.clone())
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let matched = Arc::new(AtomicU64::new(0));
    let query = ad_click_join(&session, matched.clone())?;
    println!("{}", ad_click_join_plan());
    // One simulated minute per round; a summary every 30 minutes.
    for minute in 1..=i64::from(options.hours) * 60 {
        clock.advance(Duration::minutes(1))?;
        query.process_all_available()?;
        if !query.is_active() {
            break; // stopped by Ctrl-C
        }
        if minute % 30 == 0 {
            let p = query.last_progress();
            let state = p.as_ref().and_then(|p| p.state_operators.first().cloned());
            println!(
                "{:>3} min: {:>6} impressions, {:>5} clicks, {:>5} matched; join state {:>6} rows, watermark {}",
                minute,
                minute as u64 * 60 * RATE,
                minute as u64 * 6 * RATE,
                matched.load(Ordering::Relaxed),
                state.map_or(0, |s| s.num_rows_total),
                p.and_then(|p| p.event_time.watermark).unwrap_or_default()
            );
        }
    }
    query.stop()?;
    query.await_termination()
}
