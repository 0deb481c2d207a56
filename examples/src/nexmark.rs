//! The Nexmark queries, written with `#[stream_job]` over the built-in generator
//! ([`streamflow::source::nexmark`]) or over bid files (CSV, as written by
//! [`write_bid_files`], which Spark reads too).
//!
//! | query | what | here |
//! |---|---|---|
//! | q0 | pass-through | every bid |
//! | q1 | currency conversion | every bid, price in euros (`price * 89 / 100`, the reference's rate) |
//! | q2 | selection | `(auction, price)` of the bids on every 123rd auction |
//! | q4 | average winning price per category | auctions joined with their bids in their lifetime (see [`q4`]) |
//! | q5 | hot items | per 10 s window sliding every 2 s, the auctions with the most bids |
//! | q7 | highest bid | per 10 s tumbling window, the highest bid |
//!
//! The queries read bids the way Flink's Nexmark SQL does (`q0`–`q2`, `q5`, `q7` over the `bid`
//! table); the generator still makes persons and auctions, which the first `flat_map` drops.
//! The windowed queries run in Append mode with a watermark [`WATERMARK_DELAY`] behind the
//! latest bid: a window is emitted once, when the watermark passes its end. q7 keeps one bid per
//! window when several share the highest price: the greatest `(price, auction, bidder)` — what
//! Spark's `max(struct(price, auction, bidder))` gives.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use streamflow::Batch;
use streamflow::prelude::*;
use streamflow::source::nexmark::{Bid, Event, NexmarkConfig, NexmarkGenerator, NexmarkSource};
use streamflow::structured::{AggRow, Aggregator, Dataset, Format, Session, Window, tumbling_window, window};

/// How far the watermark of the windowed queries stays behind the latest bid.
pub const WATERMARK_DELAY: &str = "1 second";

/// Where a query's bids come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// The built-in generator (all events; the queries keep the bids).
    Generator(NexmarkConfig),
    /// CSV files of bids (`auction,bidder,price,date_time,extra`, no header), as
    /// [`write_bid_files`] writes them.
    BidFiles(PathBuf),
}

/// What a query does with each batch of its results: `(rows, batch id)`.
pub type Output<R> = Arc<dyn Fn(Batch<R>, u64) + Send + Sync>;

/// The bids of `input`, as a dataset.
pub fn bids(session: &Session, input: &Input) -> Dataset<Bid> {
    match input {
        Input::Generator(config) => session
            .read_stream::<Event>()
            .source(NexmarkSource::new(config.clone()))
            .flat_map(Event::into_bid),
        Input::BidFiles(dir) => session
            .read_stream::<Bid>()
            .format(Format::Csv)
            .header(false)
            .files(dir),
    }
}

/// q0, pass-through: every bid.
#[stream_job(trigger = available_now)]
pub fn q0(session: &Session, input: &Input, out: Output<Bid>) {
    bids(session, input)
        .write_stream()
        .foreach_batch(move |batch, id| out(batch, id))
}

/// q1, currency conversion: every bid, its price in euros (the reference's `price * 89 / 100`).
#[stream_job(trigger = available_now)]
pub fn q1(session: &Session, input: &Input, out: Output<Bid>) {
    bids(session, input)
        .map(|bid| Bid {
            price: euros(bid.price),
            ..bid
        })
        .write_stream()
        .foreach_batch(move |batch, id| out(batch, id))
}

/// A price in dollars (cents) in euros (cents), as the reference converts it.
pub fn euros(dollars: u64) -> u64 {
    dollars * 89 / 100
}

/// The auctions q2 selects: every [`AUCTION_SKIP`]th.
pub const AUCTION_SKIP: u64 = 123;

/// q2, selection: `(auction, price)` of the bids on every 123rd auction.
#[stream_job(trigger = available_now)]
pub fn q2(session: &Session, input: &Input, out: Output<(u64, u64)>) {
    bids(session, input)
        .filter(|bid| bid.auction % AUCTION_SKIP == 0)
        .map(|bid| (bid.auction, bid.price))
        .write_stream()
        .foreach_batch(move |batch, id| out(batch, id))
}

/// One row of q5: an auction with the most bids of its window (all of them when tied).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HotItem {
    /// The window.
    pub window: Window,
    /// The auction.
    pub auction: u64,
    /// Its bids in the window.
    pub count: u64,
}

/// q5, hot items: per 10 s window sliding every 2 s, the auctions with the most bids. The bids
/// per auction and window are counted by the query (Append mode: a window's counts arrive
/// together, once, when the watermark passes its end); the most-bid auctions of each window are
/// picked from those counts in the batch that emits them (a second aggregation of an
/// aggregation is not a streaming query in Spark either).
#[stream_job(trigger = available_now, output_mode = append)]
pub fn q5(session: &Session, input: &Input, out: Output<HotItem>) {
    bids(session, input)
        .with_watermark(|bid| bid.date_time, WATERMARK_DELAY)
        .group_by_window(|bid| bid.auction, window("10 seconds", "2 seconds"))
        .count()
        .write_stream()
        .foreach_batch(move |batch, id| {
            let hot = batch.with_partitions::<HotItem>(Vec::new());
            out(hot.with_partitions(vec![hot_items(batch.collect())]), id)
        })
}

/// The auctions with the most bids of each window, from the counts of whole windows.
pub fn hot_items(counts: Vec<AggRow<u64, u64>>) -> Vec<HotItem> {
    let mut best: std::collections::BTreeMap<Window, (u64, Vec<u64>)> = Default::default();
    for row in counts {
        let Some(window) = row.window else { continue };
        let entry = best.entry(window).or_insert((0, Vec::new()));
        if row.value > entry.0 {
            *entry = (row.value, vec![row.key]);
        } else if row.value == entry.0 {
            entry.1.push(row.key);
        }
    }
    let mut rows: Vec<HotItem> = best
        .into_iter()
        .flat_map(|(window, (count, auctions))| {
            auctions.into_iter().map(move |auction| HotItem {
                window,
                auction,
                count,
            })
        })
        .collect();
    rows.sort();
    rows
}

/// One row of q7: the highest bid of a window.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HighestBid {
    /// The window.
    pub window: Window,
    /// Its highest price.
    pub price: u64,
    /// The auction of the highest bid (the greatest, when several bids share the price).
    pub auction: u64,
    /// Its bidder (the greatest, among those).
    pub bidder: u64,
}

/// The greatest `(price, auction, bidder)` of a group (Spark's `max(struct(price, auction, bidder))`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MaxBid;

impl Aggregator<Bid> for MaxBid {
    type Buffer = (u64, u64, u64);
    type Output = (u64, u64, u64);
    fn name(&self) -> &'static str {
        "max_bid"
    }
    fn zero(&self) -> Self::Buffer {
        (0, 0, 0)
    }
    fn reduce(&self, buffer: &mut Self::Buffer, bid: &Bid) {
        *buffer = (*buffer).max((bid.price, bid.auction, bid.bidder));
    }
    fn merge(&self, buffer: &mut Self::Buffer, other: Self::Buffer) {
        *buffer = (*buffer).max(other);
    }
    fn finish(&self, buffer: &Self::Buffer) -> Self::Output {
        *buffer
    }
}

/// q7, highest bid: per 10 s tumbling window, the highest bid.
#[stream_job(trigger = available_now, output_mode = append)]
pub fn q7(session: &Session, input: &Input, out: Output<HighestBid>) {
    bids(session, input)
        .with_watermark(|bid| bid.date_time, WATERMARK_DELAY)
        .group_by_window(|_| (), tumbling_window("10 seconds"))
        .agg(MaxBid)
        .flat_map(|row| {
            let (price, auction, bidder) = row.value;
            row.window.map(|window| HighestBid {
                window,
                price,
                auction,
                bidder,
            })
        })
        .write_stream()
        .foreach_batch(move |batch, id| out(batch, id))
}

/// Writes the bids among the first `config.events` events into `files` CSV files in `dir`
/// (`auction,bidder,price,date_time,extra`, no header, `date_time` in epoch milliseconds), for
/// [`Input::BidFiles`] and for other systems (Spark) to read the same bids. Returns the number
/// of bids.
pub fn write_bid_files(config: &NexmarkConfig, dir: &Path, files: u64) -> std::io::Result<u64> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let generator = NexmarkGenerator::new(config.clone());
    let files = files.max(1);
    let per_file = config.events.div_ceil(files);
    let mut bids = 0;
    for f in 0..files {
        let (from, to) = (f * per_file, ((f + 1) * per_file).min(config.events));
        let hidden = dir.join(format!(".bids-{f:05}.csv.tmp"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&hidden)?);
        for n in from..to {
            if let Event::Bid(b) = generator.event(n) {
                writeln!(
                    out,
                    "{},{},{},{},{}",
                    b.auction,
                    b.bidder,
                    b.price,
                    b.date_time.millis(),
                    b.extra
                )?;
                bids += 1;
            }
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(hidden, dir.join(format!("bids-{f:05}.csv")))?;
    }
    Ok(bids)
}
