//! `?` on the user's own errors in a job without a declared return type: the body's error
//! comes back from the builder as `streamflow::Error::Job`, with the error as its source;
//! `?` on streamflow's results keeps their error as it is.
#![deny(warnings)]

use std::error::Error as _;

use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext, port: &str, keep: &str) {
    let port: u16 = port.parse()?;
    ssc.remember(keep)?;
    ssc.socket_text_stream("localhost", port).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count("9999", "1 minute")?;
    println!("{}", word_count_plan());
    drop(ssc);

    let bad_port = word_count("99999", "1 minute").err();
    let Some(streamflow::Error::Job { job, .. }) = &bad_port else {
        panic!("a port out of range is the job's error: {bad_port:?}");
    };
    assert_eq!(job, "word_count");
    let source = bad_port.as_ref().and_then(|e| e.source());
    assert!(source.is_some_and(|s| s.is::<std::num::ParseIntError>()), "{source:?}");

    let bad_duration = word_count("9999", "a while").err();
    assert!(
        matches!(bad_duration, Some(streamflow::Error::InvalidDuration(_))),
        "streamflow's own error is kept: {bad_duration:?}"
    );
    Ok(())
}
