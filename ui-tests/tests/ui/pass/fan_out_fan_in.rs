//! `let` bindings for fan-out and fan-in, `foreach_batch`, `?` in the body, and the `_on`
//! function on a context the caller built.
#![deny(warnings)]

use streamflow::prelude::*;

#[stream_job(batch = "500ms", parallelism = 1)]
fn levels(ssc: &StreamingContext, port: u16) {
    let lines = ssc.socket_text_stream("localhost", port);
    let errors = lines.filter(|line| line.starts_with("ERROR"));
    let warnings = lines.filter(|line| line.starts_with("WARN"));
    errors.union(&warnings).foreach_batch(|batch, time| {
        let _ = (batch, time);
    });
    errors.map(|line| (line, 1)).reduce_by_key(|a, b| a + b).print();
}

fn main() -> streamflow::Result<()> {
    let ssc = StreamingContext::builder()
        .batch_duration(streamflow::Duration::from_millis(500))
        .parallelism(1)
        .app_name("levels under test")
        .build()?;
    levels_on(&ssc, 9999)?;
    assert_eq!(ssc.app_name(), "levels under test");
    assert_eq!(
        levels_plan(),
        "stage 1: socket_text_stream\n\
         stage 2: filter\n\
         stage 3: filter (reads stage 1)\n\
         stage 4: union → foreach_batch (reads stages 2, 3)\n\
         stage 5: map (reads stage 2)\n\
         stage 6: reduce_by_key → print"
    );
    let built = levels(9999)?;
    assert_eq!(built.app_name(), "levels");
    Ok(())
}
