use streamflow::prelude::*;

/// Prices keyed by an `f64`: floating-point numbers are not `Eq` or `Hash`.
#[stream_job(batch = "1s")]
fn volume_by_price(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|line| (line.len() as f64, 1_u64))
        .reduce_by_key(|a, b| a + b)
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = volume_by_price()?;
    ssc.start()?;
    ssc.stop(true)
}
