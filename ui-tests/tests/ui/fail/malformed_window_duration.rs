use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn windowed(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .window("10 minuts", "10s")
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = windowed()?;
    ssc.start()?;
    ssc.stop(true)
}
