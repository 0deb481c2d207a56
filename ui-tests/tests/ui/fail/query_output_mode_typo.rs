// A misspelt output mode: one error; no rule is checked against a mode that was not chosen.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

#[stream_job(output_mode = Updat)]
fn counts(session: &Session, input: &MemoryStream<Word>) {
    session
        .read_stream::<Word>()
        .memory(input)
        .group_by(|w| w.word.clone())
        .count()
        .write_stream()
        .console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = counts(&session, &MemoryStream::new())?;
    query.stop()
}
