//! State across batches on a context whose checkpoint the caller of `job_on` set.
#![deny(warnings)]

use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn running_totals(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1_u64))
        .update_state_by_key(|values: Vec<u64>, total: Option<u64>| {
            Some(total.unwrap_or(0) + values.iter().sum::<u64>())
        })
        .print();
}

fn main() -> streamflow::Result<()> {
    let dir = std::env::temp_dir().join(format!("streamflow-ui-caller-{}", std::process::id()));
    let ssc = StreamingContext::builder()
        .batch_duration(streamflow::Duration::seconds(1))
        .checkpoint(&dir)
        .build()?;
    running_totals_on(&ssc)?;
    assert_eq!(ssc.checkpoint_dir(), Some(dir.clone()));
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
