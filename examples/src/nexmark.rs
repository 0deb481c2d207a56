//! The Nexmark queries, written with `#[stream_job]` over the built-in generator
//! ([`streamflow::source::nexmark`]) or over bid files (CSV, as written by
//! [`write_bid_files`], which Spark reads too).
//!
//! | query | what | here |
//! |---|---|---|
//! | q0 | pass-through | every bid |
//! | q1 | currency conversion | every bid, price in euros (`price * 89 / 100`, the reference's rate) |
//! | q2 | selection | `(auction, price)` of the bids on every 123rd auction |
//! | q3 | local item suggestion | auctions of category 10 ⋈ their sellers in Oregon, Idaho or California (see [`q3`]) |
//! | q4 | average price per category | each auction's highest bid in its lifetime, averaged per category (see [`q4`]) |
//! | q5 | hot items | per 10 s window sliding every 2 s, the auctions with the most bids |
//! | q7 | highest bid | per 10 s tumbling window, the highest bid |
//! | q8 | new users | persons who opened an auction in the 10 s tumbling window they joined in (see [`q8`]) |
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
use streamflow::structured::{
    AggRow, Aggregator, Dataset, Format, GroupState, GroupStateTimeout, JoinOn, OutputMode, Session,
    TimeRange, Window, tumbling_window, window,
};

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

/// The events of `input`, as a dataset (bid files hold bids only).
pub fn events(session: &Session, input: &Input) -> Dataset<Event> {
    match input {
        Input::Generator(config) => session
            .read_stream::<Event>()
            .source(NexmarkSource::new(config.clone())),
        Input::BidFiles(_) => bids(session, input).map(Event::Bid),
    }
}

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

/// The states whose sellers q3 looks for.
pub const Q3_STATES: [&str; 3] = ["OR", "ID", "CA"];

/// The category of the auctions q3 looks for.
pub const Q3_CATEGORY: u64 = 10;

/// What q3 keeps of a person: a possible seller of local items.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Seller {
    /// The person's id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
}

/// One row of q3: an auction of category 10 and its seller, who lives in one of [`Q3_STATES`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalItem {
    /// The seller's name.
    pub name: String,
    /// The seller's city.
    pub city: String,
    /// The seller's state.
    pub state: String,
    /// The auction.
    pub auction: u64,
}

/// q3, local item suggestion: the auctions of category 10 joined with their sellers, for the
/// sellers in Oregon, Idaho or California (Flink's q3, `auction A JOIN person P ON A.seller =
/// P.id WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')`): a stream–stream inner join
/// with no time bound, so both sides stay in state, as in Flink and Spark. Both sides are read
/// from one source (the generator's events) and projected before the join.
#[stream_job(trigger = available_now, output_mode = append)]
pub fn q3(session: &Session, input: &Input, out: Output<LocalItem>) {
    let events = events(session, input);
    let sellers = events.flat_map(|e| match e {
        Event::Person(p) if Q3_STATES.contains(&p.state.as_str()) => Some(Seller {
            id: p.id,
            name: p.name,
            city: p.city,
            state: p.state,
        }),
        _ => None,
    });
    events
        .flat_map(|e| match e {
            Event::Auction(a) if a.category == Q3_CATEGORY => Some((a.id, a.seller)),
            _ => None,
        })
        .join(&sellers, JoinOn::keys(|a: &(u64, u64)| a.1, |p: &Seller| p.id))
        .map(|((auction, _), p)| LocalItem {
            name: p.name,
            city: p.city,
            state: p.state,
            auction,
        })
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

/// The size of q8's tumbling windows, in milliseconds.
pub const Q8_WINDOW_MS: i64 = 10_000;

/// The start of the q8 window holding `t`.
pub fn q8_window(t: Time) -> i64 {
    t.millis() - t.millis().rem_euclid(Q8_WINDOW_MS)
}

/// What q8 keeps of a person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NewPerson {
    /// The person's id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// When the person joined.
    pub date_time: Time,
}

/// One row of q8: a person who opened an auction in the window they joined in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NewUser {
    /// The person's id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// The start of the 10 s window.
    pub window_start: Time,
}

/// q8, monitor new users: the persons who opened an auction in the same 10 s tumbling window
/// as they joined (Flink's q8, persons grouped by `(id, name, window)` joined with auctions
/// grouped by `(seller, window)` on id and window), once per person: a stream–stream left
/// semi join of persons with auctions on `(id, window start)`, the event times less than a
/// window apart, both sides watermarked [`WATERMARK_DELAY`] behind their latest event, so a
/// person and an auction leave the state once no row of their window can arrive.
#[stream_job(trigger = available_now, output_mode = append)]
pub fn q8(session: &Session, input: &Input, out: Output<NewUser>) {
    let events = events(session, input);
    let auctions = events
        .flat_map(|e| match e {
            Event::Auction(a) => Some((a.seller, a.date_time)),
            _ => None,
        })
        .with_watermark(|a| a.1, WATERMARK_DELAY);
    events
        .flat_map(|e| match e {
            Event::Person(p) => Some(NewPerson {
                id: p.id,
                name: p.name,
                date_time: p.date_time,
            }),
            _ => None,
        })
        .with_watermark(|p| p.date_time, WATERMARK_DELAY)
        .left_semi_join(
            &auctions,
            JoinOn::keys(
                |p: &NewPerson| (p.id, q8_window(p.date_time)),
                |a: &(u64, Time)| (a.0, q8_window(a.1)),
            )
            .time_range(TimeRange::millis(-(Q8_WINDOW_MS - 1), Q8_WINDOW_MS - 1)),
        )
        .map(|p| NewUser {
            id: p.id,
            window_start: Time::from_millis(q8_window(p.date_time)),
            name: p.name,
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

/// What q4 needs of an event, projected before the shuffle (so the padding strings are not
/// moved between threads): an auction's id, category and lifetime, or a bid's auction, time
/// and price.
#[derive(Clone, Debug)]
pub enum AuctionOrBid {
    /// An auction.
    Auction {
        /// Its id.
        id: u64,
        /// Its category.
        category: u64,
        /// When it opens.
        opens: Time,
        /// When it closes.
        expires: Time,
    },
    /// A bid.
    Bid {
        /// The auction's id.
        auction: u64,
        /// When it was made.
        at: Time,
        /// Its price.
        price: u64,
    },
}

impl AuctionOrBid {
    /// The auction's part of an event (persons have none).
    pub fn of(event: Event) -> Option<AuctionOrBid> {
        match event {
            Event::Auction(a) => Some(AuctionOrBid::Auction {
                id: a.id,
                category: a.category,
                opens: a.date_time,
                expires: a.expires,
            }),
            Event::Bid(b) => Some(AuctionOrBid::Bid {
                auction: b.auction,
                at: b.date_time,
                price: b.price,
            }),
            Event::Person(_) => None,
        }
    }

    /// The auction it is about.
    pub fn auction(&self) -> u64 {
        match self {
            AuctionOrBid::Auction { id, .. } => *id,
            AuctionOrBid::Bid { auction, .. } => *auction,
        }
    }

    /// Its event time.
    pub fn time(&self) -> Time {
        match self {
            AuctionOrBid::Auction { opens, .. } => *opens,
            AuctionOrBid::Bid { at, .. } => *at,
        }
    }
}

/// What q4 keeps per auction: the auction once seen, its highest bid so far in its lifetime,
/// and the bids that came before the auction itself (the generator makes bids for auctions up
/// to ten ahead).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AuctionBids {
    /// `(category, opens, expires)` of the auction, once seen.
    pub auction: Option<(u64, Time, Time)>,
    /// The highest price bid between its opening and its expiry.
    pub best: Option<u64>,
    /// `(time, price)` of bids seen before the auction.
    pub early: Vec<(Time, u64)>,
}

impl AuctionBids {
    fn bid(&mut self, at: Time, price: u64) {
        match self.auction {
            Some((_, opens, expires)) if opens <= at && at <= expires => {
                self.best = self.best.max(Some(price));
            }
            Some(_) => {}
            None => self.early.push((at, price)),
        }
    }
}

/// How long bids for an auction not seen yet are kept (event time).
const EARLY_BIDS_KEPT_MS: i64 = 10_000;

/// Per auction: its highest bid between its opening and its expiry, emitted as
/// `(category, price)` once the watermark passes the expiry (Flink's q4 inner query,
/// `MAX(B.price) … WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
/// GROUP BY A.id, A.category`, for closed auctions: auctions without such a bid give nothing).
pub fn winning_bid(
    _auction: &u64,
    events: Vec<AuctionOrBid>,
    state: &mut GroupState<AuctionBids>,
) -> Option<(u64, u64)> {
    if state.has_timed_out() {
        let closed = state.get().cloned();
        state.remove();
        return closed.and_then(|s| Some((s.auction?.0, s.best?)));
    }
    let mut s = state.get().cloned().unwrap_or_default();
    for event in events {
        match event {
            AuctionOrBid::Auction {
                category,
                opens,
                expires,
                ..
            } => {
                s.auction = Some((category, opens, expires));
                for (at, price) in std::mem::take(&mut s.early) {
                    s.bid(at, price);
                }
            }
            AuctionOrBid::Bid { at, price, .. } => s.bid(at, price),
        }
    }
    let timeout = match s.auction {
        Some((_, _, expires)) => expires,
        None => {
            let latest = s.early.iter().map(|(at, _)| at.millis()).max().unwrap_or(0);
            Time::from_millis(latest.saturating_add(EARLY_BIDS_KEPT_MS))
        }
    };
    state.update(s);
    state.set_timeout_timestamp(timeout);
    None
}

/// q4, average price per category: the auctions joined with their bids (by auction id, bids in
/// the auction's lifetime), each closed auction's highest bid, averaged per category (Complete
/// mode: every category's average, each batch).
///
/// The stream–stream join is not in the runtime yet, so the join is written as what it
/// computes: the events grouped by auction id with keyed state
/// ([`flat_map_groups_with_state`](streamflow::structured::GroupedDataset::flat_map_groups_with_state)),
/// which keeps each auction until the watermark passes its expiry (see [`winning_bid`]).
#[stream_job(trigger = available_now, output_mode = complete)]
pub fn q4(session: &Session, input: &Input, out: Output<AggRow<u64, f64>>) {
    events(session, input)
        .flat_map(AuctionOrBid::of)
        .with_watermark(|e| e.time(), WATERMARK_DELAY)
        .group_by(|e| e.auction())
        .flat_map_groups_with_state(
            OutputMode::Append,
            GroupStateTimeout::EventTimeTimeout,
            winning_bid,
        )
        .group_by(|(category, _)| *category)
        .avg(|(_, price)| *price as f64)
        .write_stream()
        .foreach_batch(move |batch, id| out(batch, id))
}
