use streamflow::prelude::*;

/// A pair stream joined with a stream of plain strings.
#[stream_job(batch = "1s")]
fn enrich(ssc: &StreamingContext) {
    let clicks = ssc.socket_text_stream("localhost", 9999).map(|user| (user, 1_u64));
    let names = ssc.socket_text_stream("localhost", 9998);
    clicks.join(&names).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = enrich()?;
    ssc.start()?;
    ssc.stop(true)
}
