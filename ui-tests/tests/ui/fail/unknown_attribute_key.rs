use streamflow::prelude::*;

#[stream_job(batch = "1s", paralelism = 4)]
fn job(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = job()?;
    ssc.start()?;
    ssc.stop(true)
}
