// `?` on an error streamflow cannot hold, in a job without a declared return type.
use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext, port: &str) {
    let port: u16 = port.parse()?;
    ssc.socket_text_stream("localhost", port).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count("9999")?;
    ssc.start()?;
    ssc.stop(true)
}
