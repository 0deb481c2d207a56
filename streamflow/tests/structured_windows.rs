//! Event-time windows in queries: geometry errors reported by `start`, sliding windows with a
//! negative start offset or a slide that does not divide the size, extreme event times, session
//! windows that merge and bridge, open windows and sessions carried across a restart from the
//! serialized state, and the built-in aggregates over windows.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use streamflow::Time;
use streamflow::structured::*;

mod common;
use common::{
    Ev, WindowRow, ev, minute_row, session, session_with_parallelism, w, window_rows, windowed_count_test,
};
use streamflow::testing::StreamTest;

#[test]
fn window_geometry_errors_reach_start() {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let start = |spec: WindowSpec| {
        s.read_stream::<Ev>()
            .memory(&input)
            .with_watermark(|e| e.ts, "1 minute")
            .group_by_window(|e| e.key.clone(), spec)
            .count()
            .write_stream()
            .output_mode(OutputMode::Update)
            .memory("geom")
            .start()
            .map(|q| q.stop())
            .unwrap_err()
            .to_string()
    };
    let e = start(window("10 minutes", "5 minutes").start_offset("5 minutes"));
    assert!(e.contains("start offset"), "{e}");
    let e = start(window("10 minutes", "5 minutes").start_offset("-6 minutes"));
    assert!(e.contains("start offset"), "{e}");
    let e = start(window("5 minutes", "10 minutes"));
    assert!(e.contains("less than or equal"), "{e}");
    let e = start(window("10 minutes", "5 minutes").start_offset("5 minits"));
    assert!(e.contains("unknown unit"), "{e}");
}

#[test]
fn sliding_windows_with_a_negative_offset() {
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_event_time(|e| e.ts)
        .group_by_window(
            |e| e.key.clone(),
            window("10 minutes", "5 minutes").start_offset("-2 minutes"),
        )
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .memory("sliding")
        .start()
        .unwrap();
    input.add_data([ev("a", 3), ev("a", 8), ev("a", 13)]);
    q.process_all_available().unwrap();
    let rows = s.memory_table::<AggRow<String, u64>>("sliding").unwrap().rows();
    // Starts at −2 + 5k: 3 is in [−2, 8) and [3, 13); 8 in [3, 13) and [8, 18);
    // 13 in [8, 18) and [13, 23).
    assert_eq!(
        window_rows(&rows),
        [
            (-2, 8, "a".to_string(), 1),
            (3, 13, "a".to_string(), 2),
            (8, 18, "a".to_string(), 2),
            (13, 23, "a".to_string(), 1)
        ]
    );
    q.stop().unwrap();
}

/// Windows whose slide does not divide the size, with a negative offset: a row lands in
/// exactly the windows `[start, start + size)` with `start ≡ offset (mod slide)` containing it.
#[test]
fn uneven_sliding_windows_with_negative_offset_through_a_query() {
    let mut t = windowed_count_test(
        window("7 minutes", "3 minutes").start_offset("-1 minute"),
        OutputMode::Update,
    );
    // Starts ≡ 2 (mod 3) with start ≤ 10 < start + 7: 5 and 8.
    t.add_data([ev("a", 10)])
        .check_answer([w(5, 12, "a", 1), w(8, 15, "a", 1)]);
}

/// An event time at the edge of `i64` (a corrupt timestamp) must not crash the windowed
/// aggregation; the other rows are counted as usual.
#[test]
fn an_extreme_event_time_does_not_crash_the_query() {
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_event_time(|e| e.ts)
        .group_by_window(|e| e.key.clone(), window("10 minutes", "5 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("extreme")
        .start()
        .unwrap();
    input.add_data([
        Ev {
            ts: Time::from_millis(i64::MIN),
            ..ev("low", 0)
        },
        Ev {
            ts: Time::from_millis(i64::MAX),
            ..ev("high", 0)
        },
        ev("a", 1),
    ]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("extreme").unwrap();
    assert_eq!(
        window_rows(&table.rows()),
        [(-5, 5, "a".to_string(), 1), (0, 10, "a".to_string(), 1)]
    );
    q.stop().unwrap();
}

#[test]
fn session_windows_merge_and_bridge() {
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "30 minutes")
        .group_by_window(|e| e.key.clone(), session_window("5 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("sessions")
        .start()
        .unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("sessions").unwrap();
    // Events less than 5 minutes apart merge: a: [0, 9) with 2 events, [20, 25); b: [1, 6).
    input.add_data([ev("a", 0), ev("a", 4), ev("a", 20), ev("b", 1)]);
    q.process_all_available().unwrap();
    assert_eq!(
        window_rows(&table.last_batch().unwrap().1),
        [
            (0, 9, "a".to_string(), 2),
            (1, 6, "b".to_string(), 1),
            (20, 25, "a".to_string(), 1)
        ]
    );
    // Events at 12 and 16 chain the two sessions of a (9 → 12 → 16 → 20) into one.
    input.add_data([ev("a", 12)]);
    q.process_all_available().unwrap();
    input.add_data([ev("a", 16)]);
    q.process_all_available().unwrap();
    assert_eq!(
        window_rows(&table.last_batch().unwrap().1),
        [(12, 25, "a".to_string(), 3)],
        "a@16 bridged [12, 17) and [20, 25)"
    );
    input.add_data([ev("a", 8)]);
    q.process_all_available().unwrap();
    assert_eq!(
        window_rows(&table.last_batch().unwrap().1),
        [(0, 25, "a".to_string(), 6)],
        "a@8 bridged [0, 9) and [12, 25)"
    );
    assert_eq!(
        q.last_progress().unwrap().state_operators[0].num_rows_total,
        2,
        "a's and b's sessions"
    );
    q.stop().unwrap();
}

/// A session bridged across batches: two sessions of a key kept open in state merge when a
/// later batch brings an event within the gap of both; Update writes the merged one.
#[test]
fn session_windows_bridge_sessions_from_earlier_batches() {
    let mut t = windowed_count_test(session_window("5 minutes"), OutputMode::Update);
    t.add_data([ev("u", 100), ev("u", 108)])
        .check_answer([w(100, 105, "u", 1), w(108, 113, "u", 1)]);
    // Batch 1 is the no-data batch of watermark 98: nothing changed, nothing closed.
    assert!(t.batches()[1].1.is_empty());
    t.add_data([ev("u", 104)])
        .check_last_batch([w(100, 113, "u", 3)])
        .check_state_rows(&[1]);
}

/// The sums of each key's sessions (5-minute gap), closed as soon as the watermark passes them.
fn session_sums_test() -> StreamTest<Ev, WindowRow<i64>> {
    StreamTest::new(|s, input| {
        s.read_stream::<Ev>()
            .memory(input)
            .with_watermark(|e| e.ts, "0 minutes")
            .group_by_window(|e| e.key.clone(), session_window("5 minutes"))
            .sum(|e| e.amount)
            .map(minute_row)
            .write_stream()
    })
    .unwrap()
}

#[test]
fn session_windows_in_append_mode_emit_closed_sessions() {
    let mut t = session_sums_test();
    t.add_data([ev("a", 1), ev("a", 3)]).check_answer([]);
    t.add_data([ev("a", 30)]).check_answer([w(1, 8, "a", 4)]);
}

fn session_sums(s: &Session, input: &MemoryStream<Ev>, table: &str) -> DataStreamWriter<AggRow<String, i64>> {
    s.read_stream::<Ev>()
        .memory(input)
        .with_watermark(|e| e.ts, "0 minutes")
        .group_by_window(|e| e.key.clone(), session_window("5 minutes"))
        .sum(|e| e.amount)
        .write_stream()
        .memory(table)
}

/// A query restarted on its checkpoint carries its open sessions: an event of the next run
/// extends a session of the last one.
#[test]
fn open_sessions_survive_a_restart() {
    let mut t = session_sums_test();
    t.add_data([ev("a", 1), ev("a", 3), ev("b", 2)])
        .check_state_rows(&[2]);
    t.stop_stream()
        .add_data([ev("a", 6)]) // within 5 minutes of 3: the same session
        .add_data([ev("a", 30)]); // closes the sessions before 30
    t.start_stream()
        .check_answer([w(1, 11, "a", 10), w(2, 7, "b", 2)]);
}

/// A windowed count restarted on its checkpoint — also after a run that was stopped while its
/// windows were open — keeps its open windows.
#[test]
fn a_restarted_windowed_count_keeps_its_open_windows() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Append);
    t.add_data([ev("a", 22), ev("a", 25)]).check_answer([]);
    t.stop_stream().add_data([ev("a", 27), ev("a", 45)]); // 45 moves the watermark to 35: [20, 30) closes
    t.start_stream().check_answer([w(20, 30, "a", 3)]);
}

/// When most groups close at once (a backfill read in one batch), they leave the state whole
/// and their rows are made as the sink reads them; the groups still open stay, are counted on
/// after a restart from the checkpoint, and are emitted once when they close.
#[test]
fn most_windows_closing_at_once_keep_the_open_ones_across_a_restart() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Append);
    // 55 moves the watermark to 45: four of the six windows close, five of the seven groups.
    t.add_data([
        ev("a", 1),
        ev("b", 2),
        ev("a", 12),
        ev("c", 25),
        ev("a", 33),
        ev("b", 41),
        ev("a", 55),
    ]);
    let closed = [
        w(0, 10, "a", 1),
        w(0, 10, "b", 1),
        w(10, 20, "a", 1),
        w(20, 30, "c", 1),
        w(30, 40, "a", 1),
    ];
    t.check_answer(closed.clone());
    t.stop_stream().add_data([ev("b", 48), ev("a", 58), ev("a", 75)]); // the watermark to 65
    let mut all = closed.to_vec();
    all.extend([w(40, 50, "b", 2), w(50, 60, "a", 2)]);
    t.start_stream().check_answer(all);
}

/// State partitions are not re-split: restarting with another parallelism is refused, saying
/// why.
#[test]
fn restarting_with_another_parallelism_is_refused() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let input = MemoryStream::new();
    let first = session_sums(&s, &input, "two_partitions")
        .checkpoint_location(dir.path())
        .start()
        .unwrap();
    input.add_data([ev("a", 1)]);
    first.process_all_available().unwrap();
    first.stop().unwrap();

    let wider = session_with_parallelism(3);
    let err = session_sums(&wider, &input, "three_partitions")
        .checkpoint_location(dir.path())
        .start()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("`state partitions` was 2 when the checkpoint was written and is 3 now"),
        "{err}"
    );
}

#[test]
fn min_max_avg_and_a_user_aggregator_over_windows() {
    struct Distinct;
    impl Aggregator<Ev> for Distinct {
        type Buffer = std::collections::BTreeSet<i64>;
        type Output = usize;
        fn name(&self) -> &'static str {
            "distinct"
        }
        fn zero(&self) -> Self::Buffer {
            Default::default()
        }
        fn reduce(&self, b: &mut Self::Buffer, e: &Ev) {
            b.insert(e.amount % 3);
        }
        fn merge(&self, b: &mut Self::Buffer, other: Self::Buffer) {
            b.extend(other);
        }
        fn finish(&self, b: &Self::Buffer) -> usize {
            b.len()
        }
    }
    let s = session();
    let input = MemoryStream::new();
    let grouped = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_event_time(|e| e.ts)
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"));
    let start = |ds: Dataset<AggRow<String, f64>, shape::WindowAggregatedWithoutWatermark>, name: &str| {
        ds.write_stream()
            .output_mode(OutputMode::Complete)
            .memory(name)
            .start()
            .unwrap()
    };
    let queries = [
        start(grouped.min(|e| e.amount as f64), "min"),
        start(grouped.max(|e| e.amount as f64), "max"),
        start(grouped.avg(|e| e.amount as f64), "avg"),
        start(
            grouped
                .agg(Distinct)
                .map(|r| AggRow::new(r.window, r.key, r.value as f64, "distinct")),
            "distinct",
        ),
    ];
    input.add_data([ev("a", 1), ev("a", 4), ev("a", 7), ev("a", 12)]);
    for q in &queries {
        q.process_all_available().unwrap();
    }
    let get = |name: &str| window_rows(&s.memory_table::<AggRow<String, f64>>(name).unwrap().rows());
    assert_eq!(
        get("min"),
        [(0, 10, "a".to_string(), 1.0), (10, 20, "a".to_string(), 12.0)]
    );
    assert_eq!(
        get("max"),
        [(0, 10, "a".to_string(), 7.0), (10, 20, "a".to_string(), 12.0)]
    );
    assert_eq!(
        get("avg"),
        [(0, 10, "a".to_string(), 4.0), (10, 20, "a".to_string(), 12.0)]
    );
    assert_eq!(
        get("distinct"),
        [(0, 10, "a".to_string(), 1.0), (10, 20, "a".to_string(), 1.0)]
    );
    let json =
        serde_json::to_string(&s.memory_table::<AggRow<String, f64>>("avg").unwrap().rows()[0]).unwrap();
    assert!(json.contains("\"avg\":"), "{json}");
    for q in queries {
        q.stop().unwrap();
    }
}

/// The state of a windowed aggregation is kept per window (a closed window leaves whole): a
/// query stopped and restarted from its checkpoint after every batch — snapshots and deltas
/// read back into the per-window state, windows closing a few groups at a time and most at
/// once — emits the same rows in every batch, and keeps the same number of groups, as the same
/// query run without a stop, in every output mode, with tumbling and sliding windows.
#[test]
fn a_query_restarted_after_every_batch_emits_what_an_uninterrupted_one_does() {
    // Deterministic events: 12 batches of 40 over 5 keys, time mostly moving on, some late.
    let mut seed = 0x2545_f491_u64;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let batches: Vec<Vec<Ev>> = (0..12_i64)
        .map(|b| {
            (0..40)
                .map(|_| {
                    let minute = b * 7 + next(9) as i64 - next(12) as i64;
                    ev(["a", "b", "c", "d", "e"][next(5) as usize], minute.max(0))
                })
                .collect()
        })
        .collect();
    // The end: an event far ahead closes every window still open.
    let last = vec![ev("z", 1_000)];
    for spec in [tumbling_window("10 minutes"), window("10 minutes", "5 minutes")] {
        for mode in [OutputMode::Append, OutputMode::Update, OutputMode::Complete] {
            let mut straight = windowed_count_test(spec.clone(), mode);
            let mut restarted = windowed_count_test(spec.clone(), mode);
            for batch in batches.iter().chain([&last]) {
                straight.add_data(batch.clone());
                restarted.stop_stream().add_data(batch.clone()).start_stream();
                let (a, b) = (straight.state_operators(), restarted.state_operators());
                assert_eq!(a[0].num_rows_total, b[0].num_rows_total, "{mode:?}");
                assert_eq!(a[0].num_rows_updated, b[0].num_rows_updated, "{mode:?}");
                assert_eq!(a[0].num_rows_removed, b[0].num_rows_removed, "{mode:?}");
                assert!(b[0].memory_used_bytes > 0 || b[0].num_rows_total == 0);
            }
            let sorted = |t: &StreamTest<Ev, WindowRow<u64>>| {
                let mut batches = t.batches();
                batches.iter_mut().for_each(|(_, rows)| rows.sort());
                batches
            };
            let expected = sorted(&straight);
            // A batch per `add_data`, and mostly a batch without data after it, which the
            // watermark it moved makes due.
            assert!(expected.len() > batches.len(), "{mode:?}");
            assert!(expected.iter().map(|(_, rows)| rows.len()).sum::<usize>() > 30);
            assert_eq!(expected, sorted(&restarted), "{mode:?}");
            if mode != OutputMode::Complete {
                // Everything closed at the end but the windows of the last event.
                assert!(restarted.state_operators()[0].num_rows_total <= 2, "{mode:?}");
            }
        }
    }
}
