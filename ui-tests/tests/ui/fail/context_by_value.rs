// The context taken by value: one error at the parameter; the callers, written for the
// intended signature, compile.
use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: StreamingContext, port: u16) {
    ssc.socket_text_stream("localhost", port).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count(9999)?;
    word_count_on(&ssc, 9998)?;
    println!("{}", word_count_plan());
    ssc.start()?;
    ssc.stop(true)
}
