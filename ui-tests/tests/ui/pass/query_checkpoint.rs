//! A query whose checkpoint directory is in the attribute: a second run carries on from it.
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

#[stream_job(output_mode = complete, checkpoint = "target/ui-checkpoints/word-counts")]
fn word_counts(session: &Session, words: &MemoryStream<String>, table: &str) {
    session
        .read_stream::<String>()
        .memory(words)
        .group_by(|w| w.clone())
        .count()
        .write_stream()
        .memory(table)
}

fn main() -> streamflow::Result<()> {
    std::fs::remove_dir_all("target/ui-checkpoints/word-counts").ok();
    let session = Session::builder().parallelism(1).clock(ManualClock::new(0)).build()?;
    let words = MemoryStream::<String>::new();
    let first = word_counts(&session, &words, "first")?;
    words.add_data(["cat".to_string()]);
    first.process_all_available()?;
    first.stop()?;
    let second = word_counts(&session, &words, "second")?;
    words.add_data(["cat".to_string()]);
    second.process_all_available()?;
    let rows = session.memory_table::<AggRow<String, u64>>("second")?.rows();
    assert_eq!(rows.iter().map(|r| r.value).collect::<Vec<_>>(), [2]);
    second.stop()?;
    std::fs::remove_dir_all("target/ui-checkpoints/word-counts").ok();
    Ok(())
}
