// Typed output modes the query's shape does not allow, wherever the query is built: in a
// helper function, bound by an `if`/`else`, in a loop, and without the attribute. Each is one
// error, rustc's, with the shape's message.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

/// Counts per word, made away from where the mode is chosen.
fn totals(words: &Dataset<Word>) -> Dataset<AggRow<String, u64>, shape::Aggregated> {
    words.group_by(|w| w.word.clone()).count()
}

/// Append on an aggregation by key, built by a helper.
#[stream_job]
fn helper(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    totals(&words).write_stream().append().console()
}

/// Complete without an aggregation, whichever arm of the `if` runs.
#[stream_job]
fn branch(session: &Session, input: &MemoryStream<Word>, long_only: bool) {
    let words = session.read_stream::<Word>().memory(input);
    let chosen = if long_only {
        words.filter(|w| w.word.len() > 3)
    } else {
        words
    };
    chosen.write_stream().complete().console()
}

/// Complete without an aggregation, after a loop of filters.
#[stream_job]
fn looped(session: &Session, input: &MemoryStream<Word>, stop: &[&'static str]) {
    let mut words = session.read_stream::<Word>().memory(input);
    for word in stop.iter().copied() {
        words = words.filter(move |w| w.word != word);
    }
    words.write_stream().complete().console()
}

/// Without the attribute: the types hold the rule.
fn by_hand(session: &Session, input: &MemoryStream<Word>) -> streamflow::Result<StreamingQuery> {
    let words = session.read_stream::<Word>().memory(input);
    totals(&words).write_stream().append().memory("totals").start()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let input = MemoryStream::new();
    helper(&session, &input)?.stop()?;
    branch(&session, &input, true)?.stop()?;
    looped(&session, &input, &["a", "the"])?.stop()?;
    by_hand(&session, &input)?.stop()
}
