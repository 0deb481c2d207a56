//! `return;` in a job's body.
#![deny(warnings)]

use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext, enabled: bool) {
    let lines = ssc.socket_text_stream("localhost", 9999);
    if !enabled {
        lines.count().print();
        return;
    }
    lines.map(|word| (word, 1)).reduce_by_key(|a, b| a + b).print();
}

fn main() -> streamflow::Result<()> {
    word_count(false)?;
    word_count(true)?;
    Ok(())
}
