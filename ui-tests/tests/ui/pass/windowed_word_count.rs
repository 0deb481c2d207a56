//! Windows whose length and slide are multiples of the batch, a name and a public job.
#![deny(warnings)]

use streamflow::prelude::*;

/// Word counts over the last 30 seconds, every 10 seconds.
#[stream_job(batch = "10 seconds", parallelism = 4, name = "windowed word count")]
pub fn windowed_word_count(ssc: &StreamingContext, port: u16) {
    let pairs = ssc
        .socket_text_stream("localhost", port)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1));
    pairs
        .reduce_by_key_and_window(|a, b| a + b, "30 seconds", "10 seconds")
        .print();
    pairs.window("1 minute", "20s").count().print();
}

fn main() -> streamflow::Result<()> {
    let ssc = windowed_word_count(9999)?;
    assert_eq!(ssc.app_name(), "windowed word count");
    assert_eq!(ssc.parallelism(), 4);
    assert_eq!(
        windowed_word_count_plan(),
        "stage 1: socket_text_stream\n\
         stage 2: flat_map → map\n\
         stage 3: reduce_by_key_and_window → print\n\
         stage 4: window (reads stage 2)\n\
         stage 5: count → print"
    );
    Ok(())
}
