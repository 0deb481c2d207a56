// Three mistakes, all reported in one compile: a misspelt attribute key, a malformed duration
// and no output operation.
use streamflow::prelude::*;

#[stream_job(batch = "10s", paralelism = 2)]
fn word_count(ssc: &StreamingContext) {
    ssc.remember("10 minuts")?;
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b);
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    ssc.start()?;
    ssc.stop(true)
}
