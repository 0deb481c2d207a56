use streamflow::prelude::*;
use streamflow::structured::*;

#[allow(dead_code)]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

#[stream_job]
fn job(session: &Session, words: &MemoryStream<Word>) {
    session.read_stream::<Word>().memory(words).write_stream().console();
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = job(&session, &MemoryStream::new())?;
    query.stop()
}
