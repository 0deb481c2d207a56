use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn job(ssc: &StreamingContext) -> streamflow::Result<()> {
    ssc.socket_text_stream("localhost", 9999).print();
    Ok(())
}

fn main() {
    let _ = job;
}
