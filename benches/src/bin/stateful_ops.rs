//! Whole-process throughput of two stateful operators against hand-written loops doing the
//! same work, in the same run (results in `benches/RESULTS.md`, "Issue 11").
//!
//! - `dedup`: 10M events `(guid, event time)` over 1M distinct guids through
//!   `drop_duplicates(guid)` (every key kept: 1M keys in state at the end), fed in batches of
//!   1M; the baseline keeps the guids seen in a hash set (foldhash) and the first event of each.
//! - `join`: a stream–stream inner join with 1M rows buffered per side: 1M left rows (keys
//!   0..1M) then 1M right rows are buffered, then 1M more right rows (the same keys) probe
//!   the 1M left rows and are buffered too — the probe batch is what is timed, rows per
//!   second. The baseline: a symmetric hash join by hand — two hash maps of row vectors,
//!   each new right row probing the left map, emitting pairs, then appended to the right map.
//!
//! Each round runs the engine and the baseline on the same input; the medians of `ROUNDS`
//! rounds and their ratio are printed.
//!
//! `stateful_ops dedup|join [ROUNDS] [PARALLELISM]`

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hashbrown::{HashMap, HashSet};
use streamflow::structured::{JoinOn, MemoryStream, Session, StreamingQuery};

type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A deduplicated event: its guid and event time (milliseconds).
type Event = (u64, i64);

const EVENTS: u64 = 10_000_000;
const DISTINCT: u64 = 1_000_000;
const BATCH: u64 = 1_000_000;
const BUFFERED: u64 = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("dedup");
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let parallelism: usize = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(2);
    let (mut engine, mut baseline) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (e, b) = match what {
            "dedup" => (dedup_engine(parallelism)?, dedup_baseline()),
            "join" => (join_engine(parallelism)?, join_baseline()),
            other => return Err(format!("unknown benchmark {other:?}: dedup or join").into()),
        };
        println!("round {round}: streamflow {e:.3} s, baseline {b:.3} s");
        engine.push(e);
        baseline.push(b);
    }
    let (e, b) = (median(&mut engine), median(&mut baseline));
    let rows = if what == "dedup" { EVENTS } else { BUFFERED };
    println!(
        "{what}: median streamflow {e:.3} s ({:.2} M rows/s), baseline {b:.3} s ({:.2} M rows/s), streamflow/baseline time {:.2}",
        rows as f64 / e / 1e6,
        rows as f64 / b / 1e6,
        e / b
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Event `i`: guid `i * 7919 mod DISTINCT` (every guid ten times, spread out), at `i` ms.
fn event(i: u64) -> Event {
    ((i * 7_919) % DISTINCT, i as i64)
}

fn session(parallelism: usize) -> Result<Session, streamflow::Error> {
    Session::builder()
        .parallelism(parallelism)
        .clock(streamflow::ManualClock::new(0))
        .build()
}

/// A query's rows counted, not kept (of any shape: a join's is `shape::Joined`).
fn counting<T: streamflow::Data, S: streamflow::structured::shape::Shape>(
    ds: &streamflow::structured::Dataset<T, S>,
    out: &Arc<AtomicU64>,
) -> Result<StreamingQuery, streamflow::Error> {
    let out = out.clone();
    ds.write_stream()
        .foreach_batch(move |batch, _| {
            out.fetch_add(batch.count(), Ordering::Relaxed);
        })
        .start()
}

fn dedup_engine(parallelism: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let s = session(parallelism)?;
    let input = MemoryStream::<Event>::new();
    let out = Arc::new(AtomicU64::new(0));
    let q = counting(
        &s.read_stream::<Event>().memory(&input).drop_duplicates(|e| e.0),
        &out,
    )?;
    let batches: Vec<Vec<Event>> = (0..EVENTS / BATCH)
        .map(|b| (b * BATCH..(b + 1) * BATCH).map(event).collect())
        .collect();
    let start = Instant::now();
    for batch in batches {
        input.add_data(batch);
        q.process_all_available()?;
    }
    let took = start.elapsed().as_secs_f64();
    q.stop()?;
    check("dedup", out.load(Ordering::Relaxed), DISTINCT)?;
    Ok(took)
}

fn dedup_baseline() -> f64 {
    let events: Vec<Event> = (0..EVENTS).map(event).collect();
    let start = Instant::now();
    let mut seen: HashSet<u64, foldhash::fast::FixedState> = HashSet::default();
    let mut first = Vec::new();
    for e in events {
        if seen.insert(e.0) {
            first.push(e);
        }
    }
    let took = start.elapsed().as_secs_f64();
    assert_eq!(first.len() as u64, DISTINCT);
    took
}

/// A row of either side: key and payload.
type Row = (u64, u64);

fn join_engine(parallelism: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let s = session(parallelism)?;
    let (left, right) = (MemoryStream::<Row>::new(), MemoryStream::<Row>::new());
    let out = Arc::new(AtomicU64::new(0));
    let joined = s.read_stream::<Row>().memory(&left).join(
        &s.read_stream::<Row>().memory(&right),
        JoinOn::keys(|l: &Row| l.0, |r: &Row| r.0),
    );
    let q = counting(&joined, &out)?;
    left.add_data((0..BUFFERED).map(|k| (k, k)));
    q.process_all_available()?;
    right.add_data((0..BUFFERED).map(|k| (k, 1)));
    q.process_all_available()?;
    check("join fill", out.load(Ordering::Relaxed), BUFFERED)?;
    let probe: Vec<Row> = (0..BUFFERED).map(|k| (k, 2)).collect();
    let start = Instant::now();
    right.add_data(probe);
    q.process_all_available()?;
    let took = start.elapsed().as_secs_f64();
    q.stop()?;
    check("join probe", out.load(Ordering::Relaxed), 2 * BUFFERED)?;
    Ok(took)
}

fn insert<K: Hash + Eq, V>(map: &mut Map<K, Vec<V>>, k: K, v: V) {
    map.entry(k).or_default().push(v);
}

fn join_baseline() -> f64 {
    let mut lefts: Map<u64, Vec<Row>> = Map::default();
    let mut rights: Map<u64, Vec<Row>> = Map::default();
    for k in 0..BUFFERED {
        insert(&mut lefts, k, (k, k));
        insert(&mut rights, k, (k, 1));
    }
    let probe: Vec<Row> = (0..BUFFERED).map(|k| (k, 2)).collect();
    let start = Instant::now();
    let mut pairs = Vec::new();
    for r in probe {
        if let Some(ls) = lefts.get(&r.0) {
            pairs.extend(ls.iter().map(|l| (*l, r)));
        }
        insert(&mut rights, r.0, r);
    }
    let took = start.elapsed().as_secs_f64();
    assert_eq!(pairs.len() as u64, BUFFERED);
    took
}

fn check(what: &str, got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got} rows, expected {want}"))
    }
}
