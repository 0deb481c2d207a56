use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn job(ssc: &StreamingContext) {
    ssc.remember("10 minuts")?;
    ssc.socket_text_stream("localhost", 9999).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = job()?;
    ssc.start()?;
    ssc.stop(true)
}
