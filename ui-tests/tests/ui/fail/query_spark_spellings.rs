// A query written with Spark's names: every snake_case correction in one compile.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

#[stream_job]
fn counts(session: &Session, host: &str, port: u16) {
    session
        .readStream::<Word>()
        .socket(host, port)
        .withWatermark(|w| w.ts, "10 minutes")
        .groupBy(|w| w.word.clone())
        .count()
        .writeStream()
        .outputMode("update")
        .format("console")
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = counts(&session, "localhost", 9999)?;
    query.stop()
}
