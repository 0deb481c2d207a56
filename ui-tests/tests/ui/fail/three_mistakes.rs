// Three mistakes, all reported in one compile: a misspelt attribute key, a malformed duration
// and no output operation.
use streamflow::prelude::*;

#[stream_job(batch = "10s", paralelism = 2)]
fn windowed(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1))
        .reduce_by_key_and_window(|a, b| a + b, "10 minuts", "10s");
}

fn main() {
    let _ = windowed();
}
