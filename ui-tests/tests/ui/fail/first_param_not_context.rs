// The context left out: one error at the parameter; the callers, written for the intended
// signature, compile.
use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn job(port: u16) {
    let _ = port;
}

fn main() -> streamflow::Result<()> {
    let ssc = job(9999)?;
    job_on(&ssc, 9998)?;
    ssc.start()?;
    ssc.stop(true)
}
