//! The Nexmark queries on a small seeded input, against answers computed here independently
//! from the generator's events (plain loops over the bids, no streamflow operators).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use streamflow::source::nexmark::{Bid, Event, NexmarkConfig, NexmarkGenerator};
use streamflow::structured::{AggRow, Session};
use streamflow_examples::nexmark::{self, HighestBid, HotItem, Input, LocalItem, NewUser, Output};

/// 45 s of event time, out of order in groups of 1 000 events (100 ms), several batches.
fn config() -> NexmarkConfig {
    NexmarkConfig {
        seed: 42,
        events: 450_000,
        events_per_batch: 70_000,
        out_of_order_group_size: 1_000,
        ..NexmarkConfig::default()
    }
}

fn all_bids(config: &NexmarkConfig) -> Vec<Bid> {
    let generator = NexmarkGenerator::new(config.clone());
    (0..config.events)
        .filter_map(|n| generator.event(n).into_bid())
        .collect()
}

/// Runs a query over `config`'s events and returns all its rows.
fn collect<R: Clone + Send + Sync + 'static>(
    query: impl FnOnce(&Session, &Input, Output<R>) -> streamflow::Result<streamflow::structured::StreamingQuery>,
    input: &Input,
) -> Vec<R> {
    let rows = Arc::new(Mutex::new(Vec::new()));
    let r = rows.clone();
    let out: Output<R> = Arc::new(move |batch, _| r.lock().unwrap().extend(batch.collect()));
    let session = Session::new(2).unwrap();
    query(&session, input, out).unwrap().await_termination().unwrap();
    rows.lock().unwrap().clone()
}

fn key(b: &Bid) -> (u64, u64, u64, i64, String) {
    (
        b.auction,
        b.bidder,
        b.price,
        b.date_time.millis(),
        b.extra.clone(),
    )
}

fn sorted(bids: &[Bid]) -> Vec<(u64, u64, u64, i64, String)> {
    let mut v: Vec<_> = bids.iter().map(key).collect();
    v.sort();
    v
}

/// The watermark the query ends with: 1 s behind the latest bid.
fn final_watermark(bids: &[Bid]) -> i64 {
    bids.iter().map(|b| b.date_time.millis()).max().unwrap() - 1_000
}

#[test]
fn q0_passes_every_bid_through() {
    let config = config();
    let expected = all_bids(&config);
    assert_eq!(expected.len(), 414_000);
    let got = collect(nexmark::q0, &Input::Generator(config));
    assert_eq!(sorted(&got), sorted(&expected));
}

#[test]
fn q1_converts_every_price() {
    let config = config();
    let mut expected = all_bids(&config);
    for b in &mut expected {
        b.price = b.price * 89 / 100;
    }
    let got = collect(nexmark::q1, &Input::Generator(config));
    assert_eq!(sorted(&got), sorted(&expected));
}

#[test]
fn q2_selects_every_123rd_auction() {
    let config = config();
    let mut expected: Vec<(u64, u64)> = all_bids(&config)
        .iter()
        .filter(|b| b.auction % 123 == 0)
        .map(|b| (b.auction, b.price))
        .collect();
    let mut got = collect(nexmark::q2, &Input::Generator(config));
    expected.sort();
    got.sort();
    assert!(expected.len() > 100, "the selection is not empty");
    assert_eq!(got, expected);
}

#[test]
fn q5_finds_the_auctions_with_the_most_bids_per_sliding_window() {
    let config = config();
    let bids = all_bids(&config);
    let watermark = final_watermark(&bids);
    // Bids per (window start, auction), for every 10 s window sliding every 2 s that the
    // watermark closed.
    let mut counts: BTreeMap<(i64, u64), u64> = BTreeMap::new();
    for b in &bids {
        let t = b.date_time.millis();
        let mut start = t - t.rem_euclid(2_000);
        while start > t - 10_000 {
            if start + 10_000 <= watermark {
                *counts.entry((start, b.auction)).or_default() += 1;
            }
            start -= 2_000;
        }
    }
    let mut best: BTreeMap<i64, u64> = BTreeMap::new();
    for (&(start, _), &n) in &counts {
        let m = best.entry(start).or_default();
        *m = (*m).max(n);
    }
    let mut expected: Vec<(i64, u64, u64)> = counts
        .iter()
        .filter(|&(&(start, _), &n)| best[&start] == n)
        .map(|(&(start, auction), &n)| (start, auction, n))
        .collect();
    let got: Vec<HotItem> = collect(nexmark::q5, &Input::Generator(config));
    let mut got: Vec<(i64, u64, u64)> = got
        .iter()
        .map(|h| {
            assert_eq!(h.window.end.millis() - h.window.start.millis(), 10_000);
            (h.window.start.millis(), h.auction, h.count)
        })
        .collect();
    expected.sort();
    got.sort();
    assert!(best.len() > 15, "{} windows", best.len());
    assert_eq!(got, expected);
}

#[test]
fn q7_finds_the_highest_bid_per_tumbling_window() {
    let config = config();
    let bids = all_bids(&config);
    let watermark = final_watermark(&bids);
    let mut best: BTreeMap<i64, (u64, u64, u64)> = BTreeMap::new();
    for b in &bids {
        let start = b.date_time.millis() - b.date_time.millis().rem_euclid(10_000);
        if start + 10_000 <= watermark {
            let m = best.entry(start).or_default();
            *m = (*m).max((b.price, b.auction, b.bidder));
        }
    }
    let expected: Vec<(i64, u64, u64, u64)> = best.iter().map(|(&s, &(p, a, b))| (s, p, a, b)).collect();
    let got: Vec<HighestBid> = collect(nexmark::q7, &Input::Generator(config));
    let mut got: Vec<(i64, u64, u64, u64)> = got
        .iter()
        .map(|h| (h.window.start.millis(), h.price, h.auction, h.bidder))
        .collect();
    got.sort();
    assert!(expected.len() >= 3);
    assert_eq!(got, expected);
}

#[test]
fn the_queries_read_the_same_bids_from_files() {
    let config = NexmarkConfig {
        events: 50_000,
        ..config()
    };
    let dir = tempfile::tempdir().unwrap();
    let written = nexmark::write_bid_files(&config, dir.path(), 3).unwrap();
    let expected = all_bids(&config);
    assert_eq!(written, expected.len() as u64);
    let got = collect(nexmark::q0, &Input::BidFiles(dir.path().to_path_buf()));
    assert_eq!(sorted(&got), sorted(&expected));
    let from_generator = collect(nexmark::q7, &Input::Generator(config));
    let from_files = collect(nexmark::q7, &Input::BidFiles(dir.path().to_path_buf()));
    assert_eq!(from_files, from_generator);
}

#[test]
fn q4_averages_the_winning_bids_per_category() {
    let config = config();
    let generator = NexmarkGenerator::new(config.clone());
    let events: Vec<Event> = (0..config.events).map(|n| generator.event(n)).collect();
    let watermark = events
        .iter()
        .filter(|e| !matches!(e, Event::Person(_)))
        .map(|e| e.date_time().millis())
        .max()
        .unwrap()
        - 1_000;
    let auctions: BTreeMap<u64, (u64, i64, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.id, (a.category, a.date_time.millis(), a.expires.millis()))),
            _ => None,
        })
        .collect();
    let mut best: BTreeMap<u64, u64> = BTreeMap::new();
    for e in &events {
        let Event::Bid(b) = e else { continue };
        let Some(&(_, opens, expires)) = auctions.get(&b.auction) else {
            continue;
        };
        if (opens..=expires).contains(&b.date_time.millis()) && expires < watermark {
            let m = best.entry(b.auction).or_default();
            *m = (*m).max(b.price);
        }
    }
    let mut per_category: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
    for (auction, price) in &best {
        let c = per_category.entry(auctions[auction].0).or_default();
        *c = (c.0 + *price as f64, c.1 + 1);
    }
    let last = Arc::new(Mutex::new(Vec::new()));
    let l = last.clone();
    let out: Output<AggRow<u64, f64>> = Arc::new(move |batch, _| *l.lock().unwrap() = batch.collect());
    let session = Session::new(2).unwrap();
    nexmark::q4(&session, &Input::Generator(config), out)
        .unwrap()
        .await_termination()
        .unwrap();
    let mut got: Vec<(u64, f64)> = last.lock().unwrap().iter().map(|r| (r.key, r.value)).collect();
    got.sort_by_key(|(c, _)| *c);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(best.len() > 1_000, "{} auctions closed with a bid", best.len());
    for ((category, avg), (expected_category, (sum, n))) in got.iter().zip(&per_category) {
        assert_eq!(category, expected_category);
        let expected = sum / *n as f64;
        assert!(
            (avg - expected).abs() <= expected * 1e-9,
            "category {category}: {avg} vs {expected}"
        );
    }
}

fn all_events(config: &NexmarkConfig) -> Vec<Event> {
    let generator = NexmarkGenerator::new(config.clone());
    (0..config.events).map(|n| generator.event(n)).collect()
}

#[test]
fn q3_joins_category_10_auctions_with_their_sellers_in_three_states() {
    let config = config();
    let events = all_events(&config);
    let sellers: BTreeMap<u64, (String, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Person(p) if ["OR", "ID", "CA"].contains(&p.state.as_str()) => {
                Some((p.id, (p.name.clone(), p.city.clone(), p.state.clone())))
            }
            _ => None,
        })
        .collect();
    let mut expected: Vec<LocalItem> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) if a.category == 10 => {
                sellers.get(&a.seller).map(|(name, city, state)| LocalItem {
                    name: name.clone(),
                    city: city.clone(),
                    state: state.clone(),
                    auction: a.id,
                })
            }
            _ => None,
        })
        .collect();
    let mut got = collect(nexmark::q3, &Input::Generator(config));
    expected.sort();
    got.sort();
    assert!(expected.len() > 100, "{} rows", expected.len());
    assert_eq!(got, expected);
}

#[test]
fn q8_finds_the_persons_who_opened_an_auction_in_the_window_they_joined_in() {
    let config = config();
    let events = all_events(&config);
    let window = |t: streamflow::Time| t.millis() - t.millis().rem_euclid(10_000);
    let sold: std::collections::BTreeSet<(u64, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.seller, window(a.date_time))),
            _ => None,
        })
        .collect();
    let mut expected: Vec<(u64, String, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Person(p) if sold.contains(&(p.id, window(p.date_time))) => {
                Some((p.id, p.name.clone(), window(p.date_time)))
            }
            _ => None,
        })
        .collect();
    let got: Vec<NewUser> = collect(nexmark::q8, &Input::Generator(config));
    let mut got: Vec<(u64, String, i64)> = got
        .into_iter()
        .map(|u| (u.id, u.name, u.window_start.millis()))
        .collect();
    expected.sort();
    got.sort();
    let persons = events.iter().filter(|e| matches!(e, Event::Person(_))).count();
    assert!(
        expected.len() > 100 && expected.len() < persons,
        "{} of {persons} persons",
        expected.len()
    );
    assert_eq!(got, expected);
}
