use streamflow::prelude::*;

#[stream_job(batch = "2 seconds")]
fn windowed(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .window("30 seconds", "5 seconds")
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = windowed()?;
    ssc.start()?;
    ssc.stop(true)
}
