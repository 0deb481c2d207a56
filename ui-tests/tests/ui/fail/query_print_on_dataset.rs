use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

#[stream_job]
fn words(session: &Session, input: &MemoryStream<Word>) {
    session.read_stream::<Word>().memory(input).print()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = words(&session, &MemoryStream::new())?;
    query.stop()
}
