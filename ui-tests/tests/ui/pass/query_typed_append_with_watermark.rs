// Append on an aggregation by event-time window of a watermarked dataset compiles wherever the
// query is built: a helper returning the watermarked dataset names its shape
// (`shape::Watermarked`), a helper that only adds operators keeps any shape, and the
// watermark may be declared in an arm of an `if` or before a loop.
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

/// The words with a watermark of 10 minutes on their event time.
fn watermarked(words: &Dataset<Word>) -> Dataset<Word, shape::Watermarked> {
    words.with_watermark(|w| w.ts, "10 minutes")
}

/// Long words only, of any shape.
fn long_words<S: shape::Shape>(words: &Dataset<Word, S>) -> Dataset<Word, S> {
    words.filter(|w| w.word.len() > 3)
}

/// Counts per word and window of a watermarked dataset: Append is allowed.
fn windowed(words: &Dataset<Word, shape::Watermarked>) -> Dataset<AggRow<String, u64>, shape::WindowAggregated> {
    words
        .group_by_window(|w| w.word.clone(), window("10 minutes", "10 minutes"))
        .count()
}

#[stream_job]
fn helper(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    windowed(&long_words(&watermarked(&words))).write_stream().append().console()
}

#[stream_job]
fn branch(session: &Session, input: &MemoryStream<Word>, strict: bool) {
    let words = session.read_stream::<Word>().memory(input);
    let timed = if strict {
        words.with_watermark(|w| w.ts, "1 minute")
    } else {
        words.with_watermark(|w| w.ts, "10 minutes")
    };
    timed
        .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
        .count()
        .write_stream()
        .append()
        .console()
}

#[stream_job]
fn looped(session: &Session, input: &MemoryStream<Word>, stop: &[&'static str]) {
    let mut words = session.read_stream::<Word>().memory(input).with_watermark(|w| w.ts, "10 minutes");
    for word in stop.iter().copied() {
        words = words.filter(move |w| w.word != word);
    }
    words
        .group_by_event_time(|w| w.word.clone())
        .count()
        .write_stream()
        .append()
        .console()
}

/// The attribute's default mode (Append) on a helper's watermarked window aggregation.
#[stream_job]
fn default_mode(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    windowed(&watermarked(&words)).write_stream().console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let input = MemoryStream::new();
    helper(&session, &input)?.stop()?;
    branch(&session, &input, true)?.stop()?;
    looped(&session, &input, &["a", "the"])?.stop()?;
    default_mode(&session, &input)?.stop()
}
