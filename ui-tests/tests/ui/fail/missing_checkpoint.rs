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
    let ssc = running_totals()?;
    ssc.start()?;
    ssc.stop(true)
}
