// A stream made by a helper function: the window rules still hold on what follows it.
use streamflow::prelude::*;

fn pairs(ssc: &StreamingContext) -> DStream<(String, u64)> {
    ssc.socket_text_stream("localhost", 9999).map(|word| (word, 1))
}

#[stream_job(batch = "10s")]
fn windowed(ssc: &StreamingContext) {
    pairs(ssc)
        .reduce_by_key_and_window(|a, b| a + b, "45s", "10s")
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = windowed()?;
    ssc.start()?;
    ssc.stop(true)
}
