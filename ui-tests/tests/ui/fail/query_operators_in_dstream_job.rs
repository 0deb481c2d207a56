// Structured Streaming methods in a DStream job say which vocabulary they belong to.
use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1))
        .group_by(|(word, _)| word.clone())
        .write_stream();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    ssc.start()?;
    ssc.stop(true)
}
