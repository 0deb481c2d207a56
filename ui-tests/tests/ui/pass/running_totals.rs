//! State across batches, with the checkpoint directory in the attribute or set in the body.
#![deny(warnings)]

use streamflow::prelude::*;

/// Running totals per word; the checkpoint directory comes from the attribute.
#[stream_job(batch = "1s", checkpoint = "target/ui-checkpoints/running-totals")]
fn running_totals(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1_u64))
        .update_state_by_key(|values: Vec<u64>, total: Option<u64>| {
            Some(total.unwrap_or(0) + values.iter().sum::<u64>())
        })
        .print();
}

/// The same job with the directory chosen at run time, as in Spark's `ssc.checkpoint(dir)`.
#[stream_job(batch = "1s")]
fn running_totals_in(ctx: &StreamingContext, dir: std::path::PathBuf) {
    ctx.checkpoint(dir)?;
    ctx.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1_u64))
        .update_state_by_key(|values: Vec<u64>, total: Option<u64>| {
            Some(total.unwrap_or(0) + values.iter().sum::<u64>())
        })
        .print();
}

fn main() -> streamflow::Result<()> {
    let ssc = running_totals()?;
    assert!(ssc.checkpoint_dir().is_some());
    let dir = std::env::temp_dir().join(format!("streamflow-ui-{}", std::process::id()));
    let ssc = running_totals_in(dir.clone())?;
    assert_eq!(ssc.checkpoint_dir(), Some(dir.clone()));
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
