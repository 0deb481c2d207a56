// An aggregation made by a helper: Append mode still needs its watermark (the types say so).
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

fn counts(words: &Dataset<Word>) -> Dataset<AggRow<String, u64>> {
    words.group_by(|w| w.word.clone()).count()
}

#[stream_job(output_mode = append)]
fn word_counts(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    counts(&words).write_stream().console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = word_counts(&session, &MemoryStream::new())?;
    query.stop()
}
