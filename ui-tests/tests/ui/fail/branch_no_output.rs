// A stream chosen by `if`/`else`: the job still needs an output.
use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn word_count(ssc: &StreamingContext, lowercase: bool) {
    let lines = ssc.socket_text_stream("localhost", 9999);
    let words = if lowercase {
        lines.map(|l| l.to_lowercase())
    } else {
        lines.filter(|l| !l.is_empty())
    };
    words.map(|word| (word, 1)).reduce_by_key(|a, b| a + b);
}

fn main() -> streamflow::Result<()> {
    let ssc = word_count(true)?;
    ssc.start()?;
    ssc.stop(true)
}
