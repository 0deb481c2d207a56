//! A method from the user's own extension trait, far from any operator name, is the user's
//! operator: rustc types it, the macro keeps following the chain.
#![deny(warnings)]

use streamflow::prelude::*;

/// Words of lines, as a reusable step.
trait Tokenize {
    /// The words of every line.
    fn tokenize(&self) -> DStream<String>;
}

impl Tokenize for DStream<String> {
    fn tokenize(&self) -> DStream<String> {
        self.flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
    }
}

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .tokenize()
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    assert_eq!(
        word_count_plan(),
        "stage 1: socket_text_stream\nstage 2: tokenize → map\nstage 3: reduce_by_key → print"
    );
    drop(ssc);
    Ok(())
}
