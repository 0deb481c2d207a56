// `print()` takes any `Debug` element; a type without `Debug` gets one error that says so and
// how to fix it (not a bare "method exists but its trait bounds were not satisfied").
use streamflow::prelude::*;

#[derive(Clone)]
struct Reading {
    celsius: f64,
}

#[stream_job(batch = "1s")]
fn readings(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|line| Reading { celsius: line.len() as f64 })
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = readings()?;
    ssc.start()?;
    ssc.stop(true)
}
