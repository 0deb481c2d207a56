use streamflow::prelude::*;

/// Two streams of plain strings joined: neither has keys.
#[stream_job(batch = "1s")]
fn enrich(ssc: &StreamingContext) {
    let clicks = ssc.socket_text_stream("localhost", 9999);
    let names = ssc.socket_text_stream("localhost", 9998);
    clicks.join(&names).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = enrich()?;
    ssc.start()?;
    ssc.stop(true)
}
