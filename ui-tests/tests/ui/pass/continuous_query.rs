//! A continuous query under the macro: a keyed running count in Update mode, each change
//! emitted as it happens, epochs ended for `process_all_available`.
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

/// Words longer than two letters, counted as they come.
#[stream_job(trigger = continuous("1 second"), output_mode = update)]
fn running_counts(session: &Session, words: &MemoryStream<String>) {
    session
        .read_stream::<String>()
        .memory(words)
        .filter(|w| w.len() > 2)
        .group_by(|w| w.clone())
        .count()
        .write_stream()
        .memory("running")
}

fn main() -> streamflow::Result<()> {
    let session = Session::builder().clock(ManualClock::new(0)).parallelism(2).build()?;
    let words = MemoryStream::<String>::new();
    let query = running_counts(&session, &words)?;
    assert!(query.explain().contains("trigger Continuous(1000 ms)"));
    words.add_data(["cat", "ox", "cat", "dog"].map(String::from));
    query.process_all_available()?;
    let mut rows: Vec<(String, u64)> = session
        .memory_table::<AggRow<String, u64>>("running")?
        .rows()
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [("cat".into(), 1), ("cat".into(), 2), ("dog".into(), 1)]
    );
    query.stop()
}
