use streamflow::prelude::*;

/// A running total in a type without serde: a state store writes its states to bytes, so they
/// must be `Serialize + Deserialize`.
#[derive(Clone)]
struct Total(u64);

#[stream_job(batch = "1s", checkpoint = "target/ui-checkpoints/state-not-serde")]
fn running_totals(ssc: &StreamingContext) {
    ssc.socket_text_stream("localhost", 9999)
        .map(|word| (word, 1_u64))
        .update_state_by_key(|values: Vec<u64>, total: Option<Total>| {
            Some(Total(total.map_or(0, |t| t.0) + values.iter().sum::<u64>()))
        })
        .foreach_batch(|_, _| {});
}

fn main() -> streamflow::Result<()> {
    let ssc = running_totals()?;
    ssc.start()?;
    ssc.stop(true)
}
