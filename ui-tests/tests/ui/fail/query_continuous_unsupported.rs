use streamflow::prelude::*;
use streamflow::structured::*;

#[allow(dead_code)]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

// Continuous mode runs map-like operators and keyed aggregations in Update mode: a
// deduplication, and an aggregation in Append mode, are refused, each named.
#[stream_job(trigger = continuous("1 second"), output_mode = append)]
fn job(session: &Session, words: &MemoryStream<Word>) {
    session
        .read_stream::<Word>()
        .memory(words)
        .drop_duplicates(|w| w.word.clone())
        .group_by(|w| w.word.clone())
        .count()
        .write_stream()
        .console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = job(&session, &MemoryStream::new())?;
    query.stop()
}
