//! Scale-out over a consumer group against a real broker (`tansu`), with `kafka_scale_out`
//! workers sharing a topic's six partitions; their output, each source position once
//! (`SourceDedup`), is compared with that of one uninterrupted worker of another group reading
//! the same events.
//!
//! - `workers_joining_take_over_partitions_and_their_state`: one worker runs alone, two more
//!   join; the partitions they receive arrive with their running totals, restored from the
//!   changelog; the totals equal the solo worker's.
//! - `three_workers_one_killed_write_the_totals_of_one_uninterrupted_worker`: one of three
//!   (chosen by a seed) is killed with SIGKILL; the survivors must take over its partitions.
//!   Ignored: tansu 0.6 never gives a killed member's partitions to the others, which
//!   `tansu_leaves_a_killed_members_partitions_unassigned` shows.
//!
//! ```text
//! STREAMFLOW_CRASH_SEED=7 cargo test -p streamflow-examples --features kafka --test kafka_scale_out -- --nocapture
//! ```

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

#[path = "../../streamflow/tests/support/tansu.rs"]
mod tansu;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use streamflow::kafka::{MEMBER_HEADER, SOURCE_HEADER, SourceDedup};

const JOB: &str = env!("CARGO_BIN_EXE_kafka_scale_out");
const PARTITIONS: i32 = 6;
const TOTAL: u64 = 1_800;

fn produce(addr: &str, from: u64, count: u64) {
    let status = Command::new(JOB)
        .args(["produce", "--brokers", addr, "--topic", "events"])
        .args(["--from", &from.to_string(), "--count", &count.to_string()])
        .args(["--partitions", &PARTITIONS.to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A worker process, killed when dropped (also when the test fails).
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(addr: &str, group: &str, member: &str) -> Worker {
    let child = Command::new(JOB)
        .args(["worker", "--brokers", addr, "--group", group, "--input", "events"])
        .args(["--output", &format!("totals-{group}")])
        .args(["--changelog", &format!("changelog-{group}")])
        .args(["--member", member, "--batch", "40"])
        .env(
            "RUST_LOG",
            "warn,streamflow::kafka::group=info,librdkafka=off,rdkafka=off",
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {JOB}: {e}"));
    Worker(child)
}

/// One output message: its key and value (the running total), and the member that wrote it.
#[derive(Clone, Debug)]
struct Total {
    key: String,
    total: String,
    member: String,
}

/// The output of `group`, the first message of each source position, by source position.
fn output(addr: &str, group: &str) -> BTreeMap<String, Total> {
    let records = tansu::read_records(addr, &format!("totals-{group}"), PARTITIONS, "read_committed");
    let mut dedup = SourceDedup::new();
    let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
    records
        .iter()
        .filter(|r| dedup.keep(r))
        .map(|r| {
            (
                text(r.header(SOURCE_HEADER)),
                Total {
                    key: text(r.key.as_deref()),
                    total: text(r.value.as_deref()),
                    member: text(r.header(MEMBER_HEADER)),
                },
            )
        })
        .collect()
}

/// Waits until `group` has written the totals of `events` input records.
fn wait_for(addr: &str, group: &str, events: u64, workers: &mut [Worker]) -> BTreeMap<String, Total> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let out = output(addr, group);
        if out.len() as u64 >= events {
            return out;
        }
        for w in workers.iter_mut() {
            if let Some(status) = w.0.try_wait().unwrap() {
                panic!("a worker of {group} stopped by itself: {status}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "{group}: {} of {events} totals after 180 s",
            out.len()
        );
        // Polling a topic written by other processes.
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn partition_of(source: &str) -> i32 {
    source.split(':').nth(1).unwrap().parse().unwrap()
}

/// Makes the topics of the input and of the groups `solo` and `scale`.
fn topics(addr: &str) {
    tansu::topic(addr, "events", PARTITIONS);
    for group in ["solo", "scale"] {
        tansu::topic(addr, &format!("totals-{group}"), PARTITIONS);
        tansu::topic(addr, &format!("changelog-{group}"), PARTITIONS);
    }
}

/// Produces events a chunk at a time until `workers` have written totals for all of them and
/// each of `members` has written some; returns the output and the number of events.
fn until_each_writes(
    addr: &str,
    workers: &mut [Worker],
    members: usize,
    from: u64,
) -> (BTreeMap<String, Total>, u64) {
    let mut produced = from;
    loop {
        produce(addr, produced, 150);
        produced += 150;
        let out = wait_for(addr, "scale", produced, workers);
        let writers: BTreeSet<&str> = out.values().map(|t| t.member.as_str()).collect();
        eprintln!("{produced} events: totals written by {writers:?}");
        if writers.len() >= members || produced >= TOTAL / 2 {
            assert_eq!(
                writers.len(),
                members,
                "every worker owns partitions: {writers:?}"
            );
            return (out, produced);
        }
    }
}

/// The partitions whose totals `member` wrote.
fn partitions_of(out: &BTreeMap<String, Total>, member: &str) -> BTreeSet<i32> {
    out.iter()
        .filter(|(_, t)| t.member == member)
        .map(|(source, _)| partition_of(source))
        .collect()
}

/// The partitions whose latest total (highest input offset) `member` wrote: those it owns.
fn owned_by(out: &BTreeMap<String, Total>, member: &str) -> BTreeSet<i32> {
    let mut last: BTreeMap<i32, (i64, &str)> = BTreeMap::new();
    for (source, t) in out {
        let offset: i64 = source.split(':').nth(2).unwrap().parse().unwrap();
        let entry = last.entry(partition_of(source)).or_insert((offset, &t.member));
        if offset >= entry.0 {
            *entry = (offset, &t.member);
        }
    }
    last.into_iter()
        .filter(|(_, (_, m))| *m == member)
        .map(|(p, _)| p)
        .collect()
}

/// The totals of `after` equal those of `expected`, source position by source position.
fn assert_same_totals(after: &BTreeMap<String, Total>, expected: &BTreeMap<String, Total>) {
    assert_eq!(after.len(), expected.len());
    let differing: Vec<String> = expected
        .iter()
        .filter(|(source, t)| {
            after
                .get(*source)
                .is_none_or(|s| (&s.key, &s.total) != (&t.key, &t.total))
        })
        .map(|(source, t)| format!("{source}: {} {} vs {:?}", t.key, t.total, after.get(source)))
        .take(5)
        .collect();
    assert!(differing.is_empty(), "totals differ: {differing:?}");
}

#[test]
fn workers_joining_take_over_partitions_and_their_state() {
    let Some(broker) = tansu::Tansu::start() else {
        return;
    };
    let addr = broker.addr.clone();
    topics(&addr);
    let mut solo = vec![worker(&addr, "solo", "solo")];
    let mut scale = vec![worker(&addr, "scale", "w0")];
    let (before, produced) = until_each_writes(&addr, &mut scale, 1, 0);
    let alone = partitions_of(&before, "w0");
    scale.push(worker(&addr, "scale", "w1"));
    scale.push(worker(&addr, "scale", "w2"));
    let (_, produced) = until_each_writes(&addr, &mut scale, 3, produced);
    produce(&addr, produced, TOTAL - produced);
    let after = wait_for(&addr, "scale", TOTAL, &mut scale);
    let expected = wait_for(&addr, "solo", TOTAL, &mut solo);
    drop(scale);
    drop(solo);
    // Partitions that w0 ran alone went on under w1 and w2, from w0's totals.
    let moved: BTreeSet<i32> = ["w1", "w2"]
        .iter()
        .flat_map(|m| owned_by(&after, m))
        .filter(|p| alone.contains(p))
        .collect();
    assert!(
        !moved.is_empty(),
        "the joiners received partitions w0 had run: {alone:?}"
    );
    assert_same_totals(&after, &expected);
    eprintln!(
        "kafka scale-out test: w1 and w2 joined after {} events, took over partitions {moved:?} with their state; all {} totals equal the solo worker's",
        before.len(),
        after.len()
    );
}

#[test]
#[ignore = "tansu 0.6 leaves a killed member's partitions unassigned (tansu_leaves_a_killed_members_partitions_unassigned); run against a Kafka broker"]
fn three_workers_one_killed_write_the_totals_of_one_uninterrupted_worker() {
    let Some(broker) = tansu::Tansu::start() else {
        return;
    };
    let addr = broker.addr.clone();
    topics(&addr);
    let seed = std::env::var("STREAMFLOW_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(42);
    let victim = (seed % 3) as usize;
    eprintln!("kafka scale-out test seed {seed}: worker w{victim} is killed");
    let mut solo = vec![worker(&addr, "solo", "solo")];
    let mut scale: Vec<Worker> = (0..3).map(|i| worker(&addr, "scale", &format!("w{i}"))).collect();
    let (before, produced) = until_each_writes(&addr, &mut scale, 3, 0);
    let victim_name = format!("w{victim}");
    let victim_partitions = owned_by(&before, &victim_name);
    scale[victim].0.kill().unwrap();
    scale[victim].0.wait().unwrap();
    let mut survivors: Vec<Worker> = scale
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, w)| w)
        .collect();
    produce(&addr, produced, TOTAL - produced);
    let after = wait_for(&addr, "scale", TOTAL, &mut survivors);
    let expected = wait_for(&addr, "solo", TOTAL, &mut solo);
    drop(survivors);
    drop(solo);
    let moved: Vec<&Total> = after
        .iter()
        .filter(|(source, _)| {
            victim_partitions.contains(&partition_of(source)) && !before.contains_key(*source)
        })
        .map(|(_, t)| t)
        .collect();
    assert!(
        !moved.is_empty(),
        "the victim's partitions {victim_partitions:?} got new events"
    );
    assert!(
        moved.iter().all(|t| t.member != victim_name),
        "after the kill only the survivors write"
    );
    assert_same_totals(&after, &expected);
}

/// What tansu 0.6 lacks for the test above: after a member is killed (no LeaveGroup), the
/// group's next generation, formed once the member's session (6 s) has timed out, does not give
/// its partitions to the live members — no new event of them is processed within 30 s. If this
/// test fails, tansu learned it: un-ignore the test above.
#[test]
fn tansu_leaves_a_killed_members_partitions_unassigned() {
    let Some(broker) = tansu::Tansu::start() else {
        return;
    };
    let addr = broker.addr.clone();
    topics(&addr);
    let mut scale: Vec<Worker> = (0..3).map(|i| worker(&addr, "scale", &format!("w{i}"))).collect();
    let (before, produced) = until_each_writes(&addr, &mut scale, 3, 0);
    let orphaned = owned_by(&before, "w0");
    scale[0].0.kill().unwrap();
    scale[0].0.wait().unwrap();
    produce(&addr, produced, TOTAL - produced);
    let started = Instant::now();
    let mut after = output(&addr, "scale");
    while started.elapsed() < Duration::from_secs(30) && (after.len() as u64) < TOTAL {
        // Polling a topic written by other processes.
        std::thread::sleep(Duration::from_millis(500));
        after = output(&addr, "scale");
    }
    let of_orphans =
        |out: &BTreeMap<String, Total>| out.keys().filter(|s| orphaned.contains(&partition_of(s))).count();
    assert!(
        (after.len() as u64) < TOTAL,
        "all {TOTAL} events were processed: tansu now reassigns a killed member's partitions"
    );
    assert_eq!(
        of_orphans(&after),
        of_orphans(&before),
        "the partitions {orphaned:?} of the killed member stay unprocessed"
    );
    eprintln!(
        "tansu: 30 s after killing w0, its partitions {orphaned:?} are still unassigned ({} of {TOTAL} events processed)",
        after.len()
    );
}
