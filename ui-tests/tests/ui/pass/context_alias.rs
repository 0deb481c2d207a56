//! The context named through a type alias, in both vocabularies.
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

/// The application's name for the streaming context.
type Ctx = StreamingContext;
/// And for the session.
type Spark = Session;

#[stream_job(batch = "1s")]
fn word_count(ssc: &Ctx) {
    ssc.socket_text_stream("localhost", 9999).print();
}

#[stream_job]
fn echo(spark: &Spark, input: &MemoryStream<String>) {
    spark.read_stream::<String>().memory(input).write_stream().memory("echo")
}

fn main() -> streamflow::Result<()> {
    word_count()?;
    let session = Session::new(1)?;
    echo(&session, &MemoryStream::new())?.stop()?;
    Ok(())
}
