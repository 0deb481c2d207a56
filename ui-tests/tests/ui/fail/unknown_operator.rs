use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1))
        .reduce_by_kye(|a, b| a + b)
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    ssc.start()?;
    ssc.stop(true)
}
