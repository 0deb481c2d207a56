// A DStream job returns nothing or `Result<(), E>`: one error; callers still compile.
use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn job(ssc: &StreamingContext) -> u32 {
    ssc.socket_text_stream("localhost", 9999).print();
    1
}

fn main() -> streamflow::Result<()> {
    let ssc = job()?;
    ssc.start()?;
    ssc.stop(true)
}
