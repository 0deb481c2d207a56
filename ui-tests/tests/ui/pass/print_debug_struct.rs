// `print()` takes any `#[derive(Debug)]` element, no trait of streamflow's to implement.
#![deny(warnings)]
use streamflow::prelude::*;

#[derive(Clone, Debug)]
struct Reading {
    celsius: f64,
}

#[stream_job(batch = "1s")]
fn readings(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|line| Reading { celsius: line.len() as f64 })
        .filter(|r| r.celsius > 0.0)
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = readings()?;
    ssc.start()?;
    ssc.stop(true)
}
