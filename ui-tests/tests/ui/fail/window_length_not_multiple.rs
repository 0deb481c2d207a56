use streamflow::prelude::*;

#[stream_job(batch = "10s")]
fn windowed(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1))
        .reduce_by_key_and_window(|a, b| a + b, "45s", "10s")
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = windowed()?;
    ssc.start()?;
    ssc.stop(true)
}
