// A batch interval of the wrong kind: one error, not also "missing the batch interval".
use streamflow::prelude::*;

#[stream_job(batch = 1)]
fn word_count(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .window("30s", "10s")
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    ssc.start()?;
    ssc.stop(true)
}
