//! A job declaring its own error type: `?` on the user's errors and on streamflow's.
#![deny(warnings)]

use streamflow::prelude::*;

/// The application's error.
#[derive(Debug)]
enum AppError {
    /// A bad port in the configuration.
    Port(std::num::ParseIntError),
    /// The engine refused something.
    Engine(streamflow::Error),
}

impl From<std::num::ParseIntError> for AppError {
    fn from(e: std::num::ParseIntError) -> Self {
        AppError::Port(e)
    }
}

impl From<streamflow::Error> for AppError {
    fn from(e: streamflow::Error) -> Self {
        AppError::Engine(e)
    }
}

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext, port: &str) -> Result<(), AppError> {
    let port: u16 = port.parse()?;
    ssc.remember("1 minute")?;
    ssc.socket_text_stream("localhost", port).print();
    Ok(())
}

/// `streamflow::Result<()>` declared, ending in `Ok(())`.
#[stream_job(batch = "1s")]
fn lines(ssc: &StreamingContext) -> streamflow::Result<()> {
    ssc.socket_text_stream("localhost", 9999).print();
    Ok(())
}

/// `-> ()` is no return type.
#[stream_job(batch = "1s")]
fn unit(ssc: &StreamingContext) -> () {
    ssc.socket_text_stream("localhost", 9999).print();
}

fn main() -> Result<(), AppError> {
    let ssc = word_count("9999")?;
    assert_eq!(ssc.batch_duration(), streamflow::Duration::from_millis(1_000));
    assert!(matches!(word_count("port"), Err(AppError::Port(_))));
    let other = StreamingContext::new(streamflow::Duration::seconds(1), 1)?;
    word_count_on(&other, "9998")?;
    if let Err(AppError::Engine(e)) = word_count("1") {
        panic!("{e}");
    }
    lines()?;
    unit()?;
    Ok(())
}
