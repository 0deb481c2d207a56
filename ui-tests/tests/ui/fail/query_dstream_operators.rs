// DStream operators in a query say which vocabulary they belong to.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

#[stream_job(output_mode = update)]
fn counts(session: &Session, input: &MemoryStream<Word>) {
    session
        .read_stream::<Word>()
        .memory(input)
        .map(|w| (w.word, 1))
        .reduce_by_key(|a, b| a + b)
        .write_stream()
        .console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = counts(&session, &MemoryStream::new())?;
    query.stop()
}
