// Append on an aggregation by event-time window of a dataset without watermark, wherever the
// query is built: in a helper function, bound by an `if`/`else`, in a loop, and without the
// attribute. The watermark is in the dataset's type (`shape::Watermarked`), so each is one
// error, rustc's, with the shape's message: call `.with_watermark(..)` before grouping.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

/// Counts per word and window, made away from where the mode is chosen: the event time is
/// declared, but no watermark.
fn windowed(
    words: &Dataset<Word>,
) -> Dataset<AggRow<String, u64>, shape::WindowAggregatedWithoutWatermark> {
    words
        .with_event_time(|w| w.ts)
        .group_by_window(|w| w.word.clone(), window("10 minutes", "10 minutes"))
        .count()
}

/// The helper's aggregation, in Append mode.
#[stream_job]
fn helper(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    windowed(&words).write_stream().append().console()
}

/// The attribute's mode on the helper's aggregation: the macro writes it as `.append()`, the
/// error is at the mode.
#[stream_job(output_mode = append)]
fn attribute(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    windowed(&words).write_stream().console()
}

/// The default mode (Append) on the helper's aggregation: the error is at the job's name.
#[stream_job]
fn default_mode(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    windowed(&words).write_stream().console()
}

/// Whichever window the `if` chooses, neither has a watermark.
#[stream_job]
fn branch(session: &Session, input: &MemoryStream<Word>, sliding: bool) {
    let words = session.read_stream::<Word>().memory(input).with_event_time(|w| w.ts);
    let grouped = if sliding {
        words.group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
    } else {
        words.group_by_window(|w| w.word.clone(), window("10 minutes", "10 minutes"))
    };
    grouped.count().write_stream().append().console()
}

/// Filters added in a loop keep the shape: still no watermark.
#[stream_job]
fn looped(session: &Session, input: &MemoryStream<Word>, stop: &[&'static str]) {
    let mut words = session.read_stream::<Word>().memory(input).with_event_time(|w| w.ts);
    for word in stop.iter().copied() {
        words = words.filter(move |w| w.word != word);
    }
    words
        .group_by_window(|w| w.word.clone(), window("10 minutes", "10 minutes"))
        .count()
        .write_stream()
        .append()
        .console()
}

/// Without the attribute: the types hold the rule.
fn by_hand(session: &Session, input: &MemoryStream<Word>) -> streamflow::Result<StreamingQuery> {
    let words = session.read_stream::<Word>().memory(input);
    windowed(&words).write_stream().append().memory("windowed").start()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let input = MemoryStream::new();
    helper(&session, &input)?.stop()?;
    attribute(&session, &input)?.stop()?;
    default_mode(&session, &input)?.stop()?;
    branch(&session, &input, true)?.stop()?;
    looped(&session, &input, &["a", "the"])?.stop()?;
    by_hand(&session, &input)?.stop()
}
