use streamflow::prelude::*;

/// `reduce_by_key` needs `(key, value)` pairs; lines are plain `String`s.
#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .reduce_by_key(|a, b| a + b)
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count()?;
    ssc.start()?;
    ssc.stop(true)
}
