// The output mode of a query whose dataset a helper makes: the macro cannot see whether it
// aggregates, its type can. The attribute's mode (or the default, Append) is checked against
// the dataset's shape at compile time, the error at the mode.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

/// Counts per word: an aggregation by key.
fn totals(words: &Dataset<Word>) -> Dataset<AggRow<String, u64>, shape::Aggregated> {
    words.group_by(|w| w.word.clone()).count()
}

/// Long words: no aggregation.
fn long_words(words: &Dataset<Word>) -> Dataset<Word> {
    words.filter(|w| w.word.len() > 3)
}

#[stream_job(output_mode = append)]
fn append_totals(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    totals(&words).write_stream().console()
}

#[stream_job]
fn default_mode_totals(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    totals(&words).write_stream().console()
}

#[stream_job(output_mode = complete)]
fn complete_long_words(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    long_words(&words).write_stream().console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let input = MemoryStream::new();
    append_totals(&session, &input)?.stop()?;
    default_mode_totals(&session, &input)?.stop()?;
    complete_long_words(&session, &input)?.stop()
}
