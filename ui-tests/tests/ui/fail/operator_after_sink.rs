use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext) {
    let printed = ssc.socket_text_stream("localhost", 9999).print();
    printed.map(|word| (word, 1));
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    ssc.start()?;
    ssc.stop(true)
}
