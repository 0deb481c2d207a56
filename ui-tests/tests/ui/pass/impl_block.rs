//! Jobs as associated functions of an `impl` block.
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

/// The application's jobs.
struct Jobs;

impl Jobs {
    /// Words per batch.
    #[stream_job(batch = "1s")]
    fn word_count(ssc: &StreamingContext, port: u16) {
        ssc.socket_text_stream("localhost", port).count().print();
    }

    /// Lines from memory, echoed.
    #[stream_job]
    fn echo(session: &Session, input: &MemoryStream<String>) -> DataStreamWriter<String> {
        session.read_stream::<String>().memory(input).write_stream().memory("echo")
    }
}

fn main() -> streamflow::Result<()> {
    let ssc = Jobs::word_count(9999)?;
    Jobs::word_count_on(&ssc, 9998)?;
    assert!(Jobs::word_count_plan().contains("count → print"));
    let session = Session::new(1)?;
    Jobs::echo(&session, &MemoryStream::new())?.stop()?;
    let writer = Jobs::echo_writer(&session, &MemoryStream::new())?;
    writer.start()?.stop()?;
    assert!(Jobs::echo_plan().contains("memory_stream"));
    Ok(())
}
