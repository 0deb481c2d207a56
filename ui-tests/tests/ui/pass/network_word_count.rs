//! The seeds' first program, exactly as SPEC §8 sketches it.
#![deny(warnings)]

use streamflow::prelude::*;

/// Words from a TCP socket, counted per one-second batch.
#[stream_job(batch = "1s", parallelism = 2)]
fn network_word_count(ssc: &StreamingContext, host: &str, port: u16) {
    ssc.socket_text_stream(host, port)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .print();
}

fn main() -> streamflow::Result<()> {
    // Built and checked, not started: nothing connects to the socket.
    let ssc = network_word_count("localhost", 9999)?;
    assert_eq!(ssc.app_name(), "network_word_count");
    assert_eq!(ssc.parallelism(), 2);
    assert_eq!(ssc.batch_duration(), streamflow::Duration::from_millis(1_000));
    assert_eq!(
        network_word_count_plan(),
        "stage 1: socket_text_stream\nstage 2: flat_map → map\nstage 3: reduce_by_key → print"
    );
    Ok(())
}
