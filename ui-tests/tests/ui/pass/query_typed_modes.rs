//! Typed output modes (`.append()`, `.update()`, `.complete()`), checked against the shape of
//! the query in its types wherever it is built: a helper returning an aggregation, a dataset
//! chosen by an `if`, a loop of filters, a union of an aggregation with a plain dataset. The
//! plans say what the macro cannot see ("built by `totals`").
#![deny(warnings)]

use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::structured::*;

/// A word and when it was seen.
#[derive(Clone, Debug)]
struct Word {
    word: String,
    ts: Time,
}

/// Counts per word, made away from where the mode is chosen.
fn totals(words: &Dataset<Word>) -> Dataset<AggRow<String, u64>, shape::Aggregated> {
    words.group_by(|w| w.word.clone()).count()
}

/// Complete mode on a helper's aggregation.
#[stream_job]
fn helper_complete(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    totals(&words).write_stream().complete().memory("helper_complete")
}

/// Append mode on whichever dataset the `if` chooses, after a loop of filters.
#[stream_job]
fn branch_append(session: &Session, input: &MemoryStream<Word>, stop: &[&'static str], long_only: bool) {
    let mut words = session.read_stream::<Word>().memory(input);
    for word in stop.iter().copied() {
        words = words.filter(move |w| w.word != word);
    }
    let chosen = if long_only {
        words.filter(|w| w.word.len() > 3)
    } else {
        words
    };
    chosen.map(|w| w.word).write_stream().append().memory("branch_append")
}

/// Append mode on an aggregation by event-time window with a watermark.
#[stream_job(trigger = processing_time("1 minute"))]
fn windowed_append(session: &Session, input: &MemoryStream<Word>) {
    session
        .read_stream::<Word>()
        .memory(input)
        .with_watermark(|w| w.ts, "5 minutes")
        .group_by_window(|w| w.word.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .append()
        .memory("windowed_append")
}

fn word(word: &str, minute: i64) -> Word {
    Word {
        word: word.to_string(),
        ts: Time::from_millis(minute * 60_000),
    }
}

fn counts(session: &Session, table: &str) -> streamflow::Result<Vec<(String, u64)>> {
    let mut rows: Vec<_> = session
        .memory_table::<AggRow<String, u64>>(table)?
        .rows()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    rows.sort();
    Ok(rows)
}

fn main() -> streamflow::Result<()> {
    let clock = ManualClock::new(0);
    let session = Session::builder().clock(clock.clone()).parallelism(2).build()?;
    let input = MemoryStream::<Word>::new();

    let whole = helper_complete(&session, &input)?;
    assert!(whole.explain().contains("Complete mode"), "{}", whole.explain());
    let appended = branch_append(&session, &input, &["the"], true)?;
    assert!(appended.explain().contains("Append mode"), "{}", appended.explain());
    let windows = windowed_append(&session, &input)?;

    input.add_data([word("the", 1), word("cats", 2), word("cats", 3), word("dog", 4)]);
    clock.advance(Duration::minutes(1))?;
    for query in [&whole, &appended, &windows] {
        query.process_all_available()?;
    }
    assert_eq!(
        counts(&session, "helper_complete")?,
        [("cats".to_string(), 2), ("dog".to_string(), 1), ("the".to_string(), 1)]
    );
    let mut long = session.memory_table::<String>("branch_append")?.rows();
    long.sort();
    assert_eq!(long, ["cats", "cats"]);
    // Append: no window is final before the watermark passes its end.
    assert!(counts(&session, "windowed_append")?.is_empty());

    // The plans: the helper's aggregation is named, not guessed at.
    assert_eq!(
        helper_complete_plan(),
        "stage 1: built by `totals` → memory\n\
         (and operators added by code the macro cannot see)"
    );
    for query in [whole, appended, windows] {
        query.stop()?;
    }
    Ok(())
}
