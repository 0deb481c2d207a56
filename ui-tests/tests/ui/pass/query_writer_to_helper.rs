//! A writer handed to code the macro cannot see may get its output mode there: the macro
//! gives the default mode only to writers the body's value is made of.
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

/// A word.
#[derive(Clone, Debug)]
struct Word {
    word: String,
}

/// Counts per word, by key: Update or Complete, not Append.
fn totals(words: &Dataset<Word>) -> Dataset<AggRow<String, u64>, shape::Aggregated> {
    words.group_by(|w| w.word.clone()).count()
}

/// The writer's mode and sink, chosen by the application.
fn configured(writer: DataStreamWriter<AggRow<String, u64>, shape::Aggregated>) -> DataStreamWriter<AggRow<String, u64>> {
    writer.update().memory("configured")
}

#[stream_job]
fn handed_over(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    configured(totals(&words).write_stream())
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let input = MemoryStream::new();
    let query = handed_over(&session, &input)?;
    assert!(query.explain().contains("Update mode"), "{}", query.explain());
    input.add_data([Word { word: "cat".into() }, Word { word: "cat".into() }]);
    query.process_all_available()?;
    let rows = session.memory_table::<AggRow<String, u64>>("configured")?.rows();
    assert_eq!(rows.iter().map(|r| (r.key.as_str(), r.value)).collect::<Vec<_>>(), [("cat", 2)]);
    query.stop()
}
