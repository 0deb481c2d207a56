// `-> ()` is the same as no return type.
use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext) -> () {
    ssc.socket_text_stream("localhost", 9999).prnt();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    ssc.start()?;
    ssc.stop(true)
}
