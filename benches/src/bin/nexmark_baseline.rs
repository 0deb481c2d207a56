//! The hand-written baseline of the Nexmark benches: one thread, one loop over the same
//! generator's events, hash maps, no engine. Prints the same line as the `nexmark` example
//! (events/s wall and per core) and writes the same result (`--result FILE`), so the bench
//! script checks both agree.
//!
//! `nexmark_baseline --query q5 --events 10M [--seed N] [--out-of-order G] [--result FILE]`
//!
//! q0/q1 sum the bids' fields; q2 keeps per auction the count and sum of prices; q5 and q7 keep
//! a table per open window and close windows as the watermark (1 s behind the latest bid)
//! passes them, like the query; q4 keeps every auction and its best bid in its lifetime (the
//! query forgets auctions once closed: the baseline does less work, holding more memory); q3
//! keeps the sellers of the three states and the category-10 auctions waiting for their seller
//! (the generator makes auctions for persons up to ten ahead); q8 keeps per (person, window)
//! the person and per (seller, window) whether an auction was seen, and emits a person once,
//! when both are.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use streamflow::source::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
use streamflow_examples::{cpu_seconds, nexmark, parse_count};

type BoxError = Box<dyn std::error::Error>;

const WATERMARK_DELAY_MS: i64 = 1_000;

/// Tumbling or sliding windows of `size` every `slide` ms: the starts of those holding `t`.
fn window_starts(t: i64, size: i64, slide: i64) -> impl Iterator<Item = i64> {
    let last = t - t.rem_euclid(slide);
    (0..size / slide).map(move |i| last - i * slide)
}

fn run(query: &str, generator: &NexmarkGenerator) -> Result<Vec<String>, BoxError> {
    let events = generator.config().events;
    let bids = (0..events).filter_map(|n| generator.event(n).into_bid());
    match query {
        "q0" | "q1" => {
            let mut s = [0_u64; 6];
            for b in bids {
                let price = if query == "q1" {
                    nexmark::euros(b.price)
                } else {
                    b.price
                };
                s[0] += 1;
                s[1] = s[1].wrapping_add(b.auction);
                s[2] = s[2].wrapping_add(b.bidder);
                s[3] = s[3].wrapping_add(price);
                s[4] = s[4].wrapping_add(b.date_time.millis() as u64);
                s[5] = s[5].wrapping_add(b.extra.len() as u64);
            }
            let names = [
                "rows",
                "sum_auction",
                "sum_bidder",
                "sum_price",
                "sum_date_time",
                "sum_extra_len",
            ];
            Ok(names.iter().zip(s).map(|(n, v)| format!("{n},{v}")).collect())
        }
        "q2" => {
            let mut per_auction: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
            for b in bids.filter(|b| b.auction % nexmark::AUCTION_SKIP == 0) {
                let e = per_auction.entry(b.auction).or_default();
                *e = (e.0 + 1, e.1 + b.price);
            }
            Ok(per_auction
                .iter()
                .map(|(a, (n, s))| format!("{a},{n},{s}"))
                .collect())
        }
        "q5" | "q7" => {
            let (size, slide) = if query == "q5" {
                (10_000, 2_000)
            } else {
                (10_000, 10_000)
            };
            // Per open window: bids per auction (q5) or the greatest (price, auction, bidder) (q7).
            let mut counts: BTreeMap<i64, HashMap<u64, u64>> = BTreeMap::new();
            let mut best: BTreeMap<i64, (u64, u64, u64)> = BTreeMap::new();
            let mut lines = Vec::new();
            let mut max_time = i64::MIN;
            let close = |watermark: i64,
                         counts: &mut BTreeMap<i64, HashMap<u64, u64>>,
                         best: &mut BTreeMap<i64, (u64, u64, u64)>,
                         lines: &mut Vec<String>| {
                while let Some((&start, _)) =
                    counts.first_key_value().filter(|(s, _)| **s + size <= watermark)
                {
                    let table = counts.remove(&start).unwrap_or_default();
                    let top = table.values().copied().max().unwrap_or(0);
                    let mut hot: Vec<u64> = table
                        .iter()
                        .filter(|(_, n)| **n == top)
                        .map(|(a, _)| *a)
                        .collect();
                    hot.sort_unstable();
                    lines.extend(hot.iter().map(|a| format!("{start},{},{a},{top}", start + size)));
                }
                while let Some((&start, &(p, a, b))) =
                    best.first_key_value().filter(|(s, _)| **s + size <= watermark)
                {
                    best.remove(&start);
                    lines.push(format!("{start},{},{p},{a},{b}", start + size));
                }
            };
            let mut seen = 0_u64;
            for b in bids {
                let t = b.date_time.millis();
                // Late bids (at or before the watermark) are dropped, as the query drops them.
                if t <= max_time.saturating_sub(WATERMARK_DELAY_MS) {
                    continue;
                }
                for start in window_starts(t, size, slide) {
                    if query == "q5" {
                        *counts.entry(start).or_default().entry(b.auction).or_default() += 1;
                    } else {
                        let m = best.entry(start).or_default();
                        *m = (*m).max((b.price, b.auction, b.bidder));
                    }
                }
                max_time = max_time.max(t);
                seen += 1;
                if seen.is_multiple_of(10_000) {
                    close(max_time - WATERMARK_DELAY_MS, &mut counts, &mut best, &mut lines);
                }
            }
            close(max_time - WATERMARK_DELAY_MS, &mut counts, &mut best, &mut lines);
            lines.sort();
            Ok(lines)
        }
        "q4" => {
            let mut auctions: HashMap<u64, (u64, i64, i64)> = HashMap::new();
            let mut bids_of: HashMap<u64, Vec<(i64, u64)>> = HashMap::new();
            let mut max_time = i64::MIN;
            for n in 0..events {
                match generator.event(n) {
                    Event::Auction(a) => {
                        max_time = max_time.max(a.date_time.millis());
                        auctions.insert(a.id, (a.category, a.date_time.millis(), a.expires.millis()));
                    }
                    Event::Bid(b) => {
                        max_time = max_time.max(b.date_time.millis());
                        bids_of
                            .entry(b.auction)
                            .or_default()
                            .push((b.date_time.millis(), b.price));
                    }
                    Event::Person(_) => {}
                }
            }
            let watermark = max_time - WATERMARK_DELAY_MS;
            let mut per_category: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
            for (id, (category, opens, expires)) in &auctions {
                if *expires >= watermark {
                    continue; // still open: the query has not closed it
                }
                let won = bids_of
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter(|(t, _)| (*opens..=*expires).contains(t))
                    .map(|(_, p)| *p)
                    .max();
                if let Some(price) = won {
                    let c = per_category.entry(*category).or_default();
                    *c = (c.0 + price as f64, c.1 + 1);
                }
            }
            Ok(per_category
                .iter()
                .map(|(c, (s, n))| format!("{c},{:.2}", s / *n as f64))
                .collect())
        }
        "q3" => {
            // Sellers of the three states, and auctions waiting for a seller not seen yet.
            let mut sellers: HashMap<u64, (String, String, String)> = HashMap::new();
            let mut waiting: HashMap<u64, Vec<u64>> = HashMap::new();
            let mut lines = Vec::new();
            let line = |auction: u64, (name, city, state): &(String, String, String)| {
                format!("{auction},{name},{city},{state}")
            };
            for n in 0..events {
                match generator.event(n) {
                    Event::Person(p) if nexmark::Q3_STATES.contains(&p.state.as_str()) => {
                        let seller = (p.name, p.city, p.state);
                        for auction in waiting.remove(&p.id).unwrap_or_default() {
                            lines.push(line(auction, &seller));
                        }
                        sellers.insert(p.id, seller);
                    }
                    Event::Auction(a) if a.category == nexmark::Q3_CATEGORY => match sellers.get(&a.seller) {
                        Some(seller) => lines.push(line(a.id, seller)),
                        None => waiting.entry(a.seller).or_default().push(a.id),
                    },
                    _ => {}
                }
            }
            Ok(lines)
        }
        "q8" => {
            // Per (id, window): the person if seen (and whether emitted), an auction if seen.
            #[derive(Default)]
            struct Seen {
                person: Option<String>,
                auction: bool,
                emitted: bool,
            }
            let mut seen: HashMap<(u64, i64), Seen> = HashMap::new();
            let mut lines = Vec::new();
            for n in 0..events {
                let (key, person) = match generator.event(n) {
                    Event::Person(p) => ((p.id, nexmark::q8_window(p.date_time)), Some(p.name)),
                    Event::Auction(a) => ((a.seller, nexmark::q8_window(a.date_time)), None),
                    Event::Bid(_) => continue,
                };
                let s = seen.entry(key).or_default();
                match person {
                    Some(name) => s.person = Some(name),
                    None => s.auction = true,
                }
                if let (Some(name), true, false) = (&s.person, s.auction, s.emitted) {
                    lines.push(format!("{},{name},{}", key.0, key.1));
                    s.emitted = true;
                }
            }
            Ok(lines)
        }
        other => Err(format!("unknown query {other:?}").into()),
    }
}

fn main() -> Result<(), BoxError> {
    let mut query = "q0".to_string();
    let mut config = NexmarkConfig {
        events: 1_000_000,
        ..NexmarkConfig::default()
    };
    let mut result = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--query" => query = value()?,
            "--events" => config.events = parse_count(&value()?)?,
            "--seed" => config.seed = parse_count(&value()?)?,
            "--out-of-order" => config.out_of_order_group_size = parse_count(&value()?)?.max(1),
            "--result" => result = Some(value()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let events = config.events;
    let generator = NexmarkGenerator::new(config);
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut lines = run(&query, &generator)?;
    lines.sort(); // as text, as the example sorts its result
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds());
    let cpu = cpu.zip(cpu0).map_or(0.0, |(b, a)| b - a);
    println!(
        "{query} (hand-written): {events} events in {wall:.3} s on 1 thread: {:.0} events/s, {:.0} events/s per core (CPU {cpu:.2} s); {} result lines",
        events as f64 / wall,
        events as f64 / cpu.max(0.01),
        lines.len()
    );
    if let Some(path) = result {
        std::fs::write(path, lines.join("\n") + "\n")?;
    }
    Ok(())
}
