// A query whose writer is chosen by `if`/`else`: each branch is checked.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

#[stream_job(output_mode = complete)]
fn words(session: &Session, input: &MemoryStream<Word>, to_memory: bool) {
    let words = session.read_stream::<Word>().memory(input);
    if to_memory {
        words.write_stream().memory("words")
    } else {
        words.write_stream().console()
    }
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = words(&session, &MemoryStream::new(), true)?;
    query.stop()
}
