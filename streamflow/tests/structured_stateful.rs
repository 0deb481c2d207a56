//! Structured Streaming's stateful operators beyond aggregation: deduplication (for ever, with
//! the event time in the key, within the watermark), each counting what it drops, evicting what
//! the watermark proves useless, and carrying its state across a restart on a checkpoint.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::path::Path;

use common::*;
use streamflow::structured::*;

/// Sorted `(key, minute)` of events.
fn keys_at(rows: &[Ev]) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = rows
        .iter()
        .map(|e| (e.key.clone(), e.ts.millis() / 60_000))
        .collect();
    out.sort();
    out
}

/// The sum of `f` over the progress of every batch the query ran, for its first operator.
fn total(q: &StreamingQuery, f: impl Fn(&StateOperatorProgress) -> u64) -> u64 {
    q.recent_progress()
        .iter()
        .map(|p| p.state_operators.first().map_or(0, &f))
        .sum()
}

/// State rows after the last batch.
fn rows_in_state(q: &StreamingQuery) -> u64 {
    q.last_progress().unwrap().state_operators[0].num_rows_total
}

/// Events with a 10-minute watermark.
fn watermarked(s: &Session, input: &MemoryStream<Ev>) -> Dataset<Ev, shape::Watermarked> {
    s.read_stream::<Ev>()
        .memory(input)
        .with_watermark(|e| e.ts, "10 minutes")
}

#[test]
fn drop_duplicates_keeps_the_first_record_of_a_key_for_ever_and_counts_the_rest() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .drop_duplicates(|e| e.key.clone())
        .write_stream()
        .memory("unique")
        .start()?;
    input.add_data([ev("a", 1), ev("b", 2), ev("a", 3), ev("a", 4)]);
    q.process_all_available()?;
    input.add_data([ev("b", 500), ev("c", 6)]);
    q.process_all_available()?;
    q.stop()?;
    let rows = s.memory_table::<Ev>("unique")?.rows();
    assert_eq!(
        keys_at(&rows),
        [("a".into(), 1), ("b".into(), 2), ("c".into(), 6)]
    );
    assert_eq!(total(&q, |p| p.num_dropped_duplicate_rows), 3);
    assert_eq!(rows_in_state(&q), 3, "no watermark: every key stays");
    Ok(())
}

#[test]
fn drop_duplicates_on_a_watermarked_stream_drops_late_rows_but_keeps_keys() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let q = watermarked(&s, &input)
        .drop_duplicates(|e| e.key.clone())
        .write_stream()
        .memory("unique")
        .start()?;
    input.add_data([ev("a", 1), ev("b", 30)]);
    q.process_all_available()?; // the watermark becomes minute 20
    input.add_data([ev("c", 20), ev("d", 21), ev("a", 40)]);
    q.process_all_available()?;
    q.stop()?;
    let rows = s.memory_table::<Ev>("unique")?.rows();
    assert_eq!(
        keys_at(&rows),
        [("a".into(), 1), ("b".into(), 30), ("d".into(), 21)],
        "c at the watermark is late; a is a duplicate for ever"
    );
    assert_eq!(total(&q, |p| p.num_rows_dropped_by_watermark), 1);
    assert_eq!(total(&q, |p| p.num_dropped_duplicate_rows), 1);
    assert_eq!(rows_in_state(&q), 3);
    Ok(())
}

#[test]
fn drop_duplicates_with_event_time_forgets_keys_the_watermark_passed() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let q = watermarked(&s, &input)
        .drop_duplicates_with_event_time(|e| e.key.clone())
        .write_stream()
        .memory("unique")
        .start()?;
    // (a, 1) twice is one key; (a, 2) is another.
    input.add_data([ev("a", 1), ev("a", 1), ev("a", 2)]);
    q.process_all_available()?;
    assert_eq!(rows_in_state(&q), 2);
    input.add_data([ev("a", 30)]);
    // The watermark moves to minute 20: a no-data batch forgets (a, 1) and (a, 2).
    q.process_all_available()?;
    assert_eq!(rows_in_state(&q), 1);
    assert_eq!(total(&q, |p| p.num_rows_removed), 2);
    // Minute 20 is at the watermark: late; minute 21 is not.
    input.add_data([ev("a", 20), ev("a", 21), ev("a", 30)]);
    q.process_all_available()?;
    q.stop()?;
    let rows = s.memory_table::<Ev>("unique")?.rows();
    assert_eq!(
        keys_at(&rows),
        [
            ("a".into(), 1),
            ("a".into(), 2),
            ("a".into(), 21),
            ("a".into(), 30)
        ]
    );
    assert_eq!(total(&q, |p| p.num_rows_dropped_by_watermark), 1);
    assert_eq!(total(&q, |p| p.num_dropped_duplicate_rows), 2);
    Ok(())
}

#[test]
fn drop_duplicates_within_watermark_remembers_a_key_for_the_delay() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let q = watermarked(&s, &input)
        .drop_duplicates_within_watermark(|e| e.key.clone())
        .write_stream()
        .memory("unique")
        .start()?;
    input.add_data([ev("a", 1), ev("b", 2), ev("a", 5)]);
    q.process_all_available()?;
    // a expires at minute 11, b at 12; the watermark becomes 25 after this batch.
    input.add_data([ev("a", 35)]);
    q.process_all_available()?;
    assert_eq!(rows_in_state(&q), 0, "a and b expired at the watermark");
    input.add_data([ev("a", 30), ev("b", 26)]);
    q.process_all_available()?;
    q.stop()?;
    let rows = s.memory_table::<Ev>("unique")?.rows();
    assert_eq!(
        keys_at(&rows),
        [
            ("a".into(), 1),
            ("a".into(), 30),
            ("b".into(), 2),
            ("b".into(), 26)
        ],
        "(a, 5) and (a, 35) are duplicates of (a, 1); after expiry a key goes through again"
    );
    assert_eq!(total(&q, |p| p.num_dropped_duplicate_rows), 2);
    Ok(())
}

#[test]
fn deduplication_with_event_time_needs_a_watermark() {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    for ds in [
        s.read_stream::<Ev>()
            .memory(&input)
            .drop_duplicates_within_watermark(|e| e.key.clone()),
        s.read_stream::<Ev>()
            .memory(&input)
            .with_event_time(|e| e.ts)
            .drop_duplicates_with_event_time(|e| e.key.clone()),
    ] {
        let err = ds.write_stream().memory("x").start().unwrap_err();
        assert!(err.to_string().contains("needs a watermark"), "{err}");
    }
}

/// One run of a deduplication on `dir`: adds `batch`, returns the rows it let through.
fn dedup_run(
    s: &Session,
    input: &MemoryStream<Ev>,
    dir: &Path,
    table: &str,
    batch: Vec<Ev>,
) -> Vec<(String, i64)> {
    let q = watermarked(s, input)
        .drop_duplicates_within_watermark(|e| e.key.clone())
        .write_stream()
        .checkpoint_location(dir)
        .memory(table)
        .start()
        .unwrap();
    input.add_data(batch);
    q.process_all_available().unwrap();
    q.stop().unwrap();
    keys_at(&s.memory_table::<Ev>(table).unwrap().rows())
}

#[test]
fn deduplication_state_survives_a_restart_on_the_checkpoint() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let dir = tempfile::tempdir()?;
    let first = dedup_run(&s, &input, dir.path(), "run0", vec![ev("a", 1), ev("b", 2)]);
    assert_eq!(first, [("a".into(), 1), ("b".into(), 2)]);
    let second = dedup_run(&s, &input, dir.path(), "run1", vec![ev("a", 3), ev("c", 4)]);
    assert_eq!(second, [("c".into(), 4)], "a was remembered across the restart");
    let third = dedup_run(
        &s,
        &input,
        dir.path(),
        "run2",
        vec![ev("b", 5), ev("c", 6), ev("d", 7)],
    );
    assert_eq!(third, [("d".into(), 7)]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Spark's exact semantics
// ---------------------------------------------------------------------------------------------

#[test]
fn a_session_that_starts_where_another_ends_joins_it() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_event_time(|e| e.ts)
        .group_by_window(|e| e.key.clone(), session_window("5 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .memory("sessions")
        .start()?;
    // [0, 5) and [5, 10) touch: one session [0, 10); [11, 16) is apart.
    input.add_data([ev("a", 0), ev("a", 5)]);
    q.process_all_available()?;
    input.add_data([ev("a", 11)]);
    q.process_all_available()?;
    q.stop()?;
    let rows = s.memory_table::<AggRow<String, u64>>("sessions")?.rows();
    let last: Vec<_> = window_rows(&rows[rows.len() - 2..]);
    assert_eq!(last, [(0, 10, "a".to_string(), 2), (11, 16, "a".to_string(), 1)]);
    Ok(())
}

#[test]
fn a_session_window_without_another_key_is_rejected() {
    let s = session();
    let err = s
        .read_stream::<Ev>()
        .memory(&MemoryStream::new())
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|_| (), session_window("5 minutes"))
        .count()
        .write_stream()
        .memory("global")
        .start()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("a global aggregation with a session window is not supported"),
        "{err}"
    );
}

#[test]
fn without_no_data_batches_a_closed_window_waits_for_the_next_data() -> TestResult {
    let s = session();
    let rows_after = |enabled: bool, table: &str| -> Result<Vec<usize>, Box<dyn std::error::Error>> {
        let input = MemoryStream::<Ev>::new();
        let q = windowed_count(
            &s,
            &input,
            tumbling_window("10 minutes"),
            OutputMode::Append,
            table,
        )
        .no_data_micro_batches(enabled)
        .start()?;
        let mut seen = Vec::new();
        for batch in [vec![ev("a", 1)], vec![ev("a", 25)], vec![ev("b", 26)]] {
            input.add_data(batch);
            q.process_all_available()?;
            seen.push(s.memory_table::<AggRow<String, u64>>(table)?.rows().len());
        }
        q.stop()?;
        Ok(seen)
    };
    // The watermark reaches minute 15 after the second batch: [0, 10) closes.
    assert_eq!(
        rows_after(true, "on")?,
        [0, 1, 1],
        "a no-data batch emits it at once"
    );
    assert_eq!(
        rows_after(false, "off")?,
        [0, 0, 1],
        "the next batch with data emits it"
    );
    Ok(())
}

/// An event whose event time may be missing.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct MaybeTimed {
    key: String,
    ts: Option<streamflow::Time>,
}

#[test]
fn rows_without_an_event_time_are_dropped_by_the_watermark() -> TestResult {
    let s = session();
    let input = MemoryStream::<MaybeTimed>::new();
    let q = s
        .read_stream::<MaybeTimed>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .write_stream()
        .memory("timed")
        .start()?;
    let at = |key: &str, m: Option<i64>| MaybeTimed {
        key: key.into(),
        ts: m.map(min),
    };
    input.add_data([at("a", Some(1)), at("b", None), at("c", Some(30))]);
    q.process_all_available()?;
    q.stop()?;
    let mut keys: Vec<String> = s
        .memory_table::<MaybeTimed>("timed")?
        .rows()
        .into_iter()
        .map(|e| e.key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(watermark_minutes(&q.last_progress().unwrap()), 0);
    assert_eq!(q.resume_state().watermark.watermark, min(20));
    Ok(())
}

#[test]
fn an_aggregation_grouped_by_the_watermarked_event_time_runs_in_append_mode() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let q = watermarked(&s, &input)
        .group_by_event_time(|e| e.key.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .memory("by_time")
        .start()?;
    input.add_data([ev("a", 1), ev("a", 1), ev("b", 5), ev("a", 30)]);
    q.process_all_available()?; // the watermark moves to minute 20: minutes 1 and 5 are final
    let rows = |s: &Session| {
        let mut out: Vec<(i64, String, u64)> = s
            .memory_table::<AggRow<(streamflow::Time, String), u64>>("by_time")
            .unwrap()
            .rows()
            .into_iter()
            .map(|r| (r.key.0.millis() / 60_000, r.key.1, r.value))
            .collect();
        out.sort();
        out
    };
    assert_eq!(rows(&s), [(1, "a".into(), 2), (5, "b".into(), 1)]);
    // Minute 20 is at the watermark: late. Minute 30 is still open.
    input.add_data([ev("a", 20), ev("a", 30), ev("c", 45)]);
    q.process_all_available()?; // the watermark moves to minute 35: minute 30 is final
    q.stop()?;
    assert_eq!(
        rows(&s),
        [(1, "a".into(), 2), (5, "b".into(), 1), (30, "a".into(), 2)]
    );
    assert_eq!(total(&q, |p| p.num_rows_dropped_by_watermark), 1);
    assert_eq!(rows_in_state(&q), 1, "only minute 45 is left");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Groups with state
// ---------------------------------------------------------------------------------------------

/// Counts each key's events; a key that times out emits `(key, count)` and is removed.
fn count_until_timeout(
    key: &str,
    new: Vec<Ev>,
    state: &mut GroupState<u64>,
    event_time: bool,
) -> Vec<(String, u64)> {
    if state.has_timed_out() {
        let total = state.get().copied().unwrap_or(0);
        state.remove();
        return vec![(key.to_string(), total)];
    }
    let latest = new.iter().map(|e| e.ts).max();
    state.update(state.get().copied().unwrap_or(0) + new.len() as u64);
    match (event_time, latest) {
        (true, Some(ts)) => state.set_timeout_timestamp(ts + streamflow::Duration::minutes(5)),
        _ => state.set_timeout_duration("30 s"),
    }
    vec![]
}

#[test]
fn a_processing_time_timeout_fires_in_a_batch_without_data() -> TestResult {
    let clock = streamflow::ManualClock::new(0);
    let s = session_on(&clock);
    let input = MemoryStream::<Ev>::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .group_by(|e| e.key.clone())
        .flat_map_groups_with_state(
            OutputMode::Update,
            GroupStateTimeout::ProcessingTimeTimeout,
            |k: &String, new, st: &mut GroupState<u64>| count_until_timeout(k, new, st, false),
        )
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("ended")
        .start()?;
    input.add_data([ev("a", 1), ev("a", 2), ev("b", 3)]);
    q.process_all_available()?;
    clock.advance(streamflow::Duration::seconds(20))?;
    input.add_data([ev("b", 4)]); // b's timeout restarts
    q.process_all_available()?;
    assert!(s.memory_table::<(String, u64)>("ended")?.rows().is_empty());
    clock.advance(streamflow::Duration::seconds(15))?; // a: 35 s idle; b: 15 s
    q.process_all_available()?;
    assert_eq!(
        s.memory_table::<(String, u64)>("ended")?.rows(),
        [("a".to_string(), 2)]
    );
    let last = q.last_progress().unwrap();
    assert_eq!(last.num_input_rows, 0, "a batch without data fired the timeout");
    assert_eq!(last.state_operators[0].num_rows_total, 1);
    q.stop()?;
    Ok(())
}

#[test]
fn an_event_time_timeout_fires_when_the_watermark_passes_it() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let q = watermarked(&s, &input)
        .group_by(|e| e.key.clone())
        .flat_map_groups_with_state(
            OutputMode::Append,
            GroupStateTimeout::EventTimeTimeout,
            |k: &String, new, st: &mut GroupState<u64>| count_until_timeout(k, new, st, true),
        )
        .write_stream()
        .memory("ended")
        .start()?;
    // a times out at minute 6, b at minute 25.
    input.add_data([ev("a", 1), ev("b", 20)]);
    q.process_all_available()?; // watermark: minute 10 > 6, so a no-data batch times a out
    assert_eq!(
        s.memory_table::<(String, u64)>("ended")?.rows(),
        [("a".to_string(), 1)]
    );
    input.add_data([ev("c", 35)]);
    q.process_all_available()?; // watermark: minute 25, not past b's 25
    assert_eq!(s.memory_table::<(String, u64)>("ended")?.rows().len(), 1);
    input.add_data([ev("c", 36)]);
    q.process_all_available()?; // watermark: minute 26 > 25
    q.stop()?;
    assert_eq!(
        s.memory_table::<(String, u64)>("ended")?.rows(),
        [("a".to_string(), 1), ("b".to_string(), 1)]
    );
    Ok(())
}

#[test]
fn group_state_survives_a_restart_on_the_checkpoint() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let dir = tempfile::tempdir()?;
    let mut out = Vec::new();
    for (i, batch) in [
        vec![ev("a", 1), ev("a", 2)],
        vec![ev("a", 3)],
        vec![ev("a", 4), ev("b", 5)],
    ]
    .into_iter()
    .enumerate()
    {
        let table = format!("run{i}");
        let q = s
            .read_stream::<Ev>()
            .memory(&input)
            .group_by(|e| e.key.clone())
            .map_groups_with_state(
                GroupStateTimeout::NoTimeout,
                |k: &String, new: Vec<Ev>, st: &mut GroupState<u64>| {
                    let total = st.get().copied().unwrap_or(0) + new.len() as u64;
                    st.update(total);
                    (k.clone(), total)
                },
            )
            .write_stream()
            .output_mode(OutputMode::Update)
            .checkpoint_location(dir.path())
            .memory(&table)
            .start()?;
        input.add_data(batch);
        q.process_all_available()?;
        q.stop()?;
        let mut rows = s.memory_table::<(String, u64)>(&table)?.rows();
        rows.sort();
        out.push(rows);
    }
    assert_eq!(
        out,
        [
            vec![("a".to_string(), 2)],
            vec![("a".to_string(), 3)],
            vec![("a".to_string(), 4), ("b".to_string(), 1)]
        ]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Several aggregates per group
// ---------------------------------------------------------------------------------------------

/// One run of a windowed `agg((count, sum, max))` in Append mode on `dir`: adds `batch`, returns
/// `(window start minute, key, (count, sum, max))` of the windows it emitted.
fn tuple_run(
    s: &Session,
    input: &MemoryStream<Ev>,
    dir: &Path,
    table: &str,
    batch: Vec<Ev>,
) -> Vec<(i64, String, (u64, i64, i64))> {
    let q = watermarked(s, input)
        .group_by_window(|e| e.key.clone(), window("10 minutes", "10 minutes"))
        .agg((Count, Sum::new(|e: &Ev| e.amount), Max::new(|e: &Ev| e.amount)))
        .write_stream()
        .output_mode(OutputMode::Append)
        .checkpoint_location(dir)
        .memory(table)
        .start()
        .unwrap();
    input.add_data(batch);
    q.process_all_available().unwrap();
    q.stop().unwrap();
    let mut rows: Vec<_> = s
        .memory_table::<AggRow<String, (u64, i64, i64)>>(table)
        .unwrap()
        .rows()
        .into_iter()
        .map(|r| (r.window.unwrap().start.millis() / 60_000, r.key, r.value))
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_tuple_of_aggregators_computes_several_aggregates_per_group_across_a_restart() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let dir = tempfile::tempdir()?;
    let first = tuple_run(
        &s,
        &input,
        dir.path(),
        "agg0",
        vec![ev("a", 1), ev("a", 4), ev("b", 2)],
    );
    assert!(first.is_empty(), "the window [0, 10) is still open: {first:?}");
    let second = tuple_run(&s, &input, dir.path(), "agg1", vec![ev("a", 7), ev("a", 30)]);
    assert_eq!(
        second,
        [(0, "a".into(), (3, 12, 7)), (0, "b".into(), (1, 2, 2))],
        "the buffers of the first run were restored and merged"
    );
    Ok(())
}

#[test]
fn flat_map_groups_with_state_takes_its_own_output_mode_as_spark_does() {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let grouped = s.read_stream::<Ev>().memory(&input).group_by(|e| e.key.clone());
    let count = |_: &String, new: Vec<Ev>, _: &mut GroupState<u64>| vec![new.len() as u64];
    let err = grouped
        .flat_map_groups_with_state(OutputMode::Update, GroupStateTimeout::NoTimeout, count)
        .write_stream()
        .output_mode(OutputMode::Append)
        .memory("x")
        .start()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("flatMapGroupsWithState in update mode is not supported with Append output mode"),
        "{err}"
    );
    let err = grouped
        .flat_map_groups_with_state(OutputMode::Update, GroupStateTimeout::NoTimeout, count)
        .group_by(|n| *n)
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .memory("x")
        .start()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("in update mode is not supported with aggregation"),
        "{err}"
    );
    let q = grouped
        .flat_map_groups_with_state(OutputMode::Append, GroupStateTimeout::NoTimeout, count)
        .group_by(|n| *n)
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .memory("sizes")
        .start()
        .unwrap();
    q.stop().unwrap();
}
