#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Ad {
    id: u64,
    ts: Time,
}

/// Impressions with the clicks within the hour after them, and those never clicked.
#[stream_job]
fn job(session: &Session, impressions: &MemoryStream<Ad>, clicks: &MemoryStream<Ad>) {
    let clicks = session.read_stream::<Ad>().memory(clicks).with_watermark(|c| c.ts, "3 hours");
    session
        .read_stream::<Ad>()
        .memory(impressions)
        .with_watermark(|i| i.ts, "2 hours")
        .left_outer_join(
            &clicks,
            JoinOn::keys(|i: &Ad| i.id, |c: &Ad| c.id).time_range(TimeRange::between("0 seconds", "1 hour")),
        )
        .map(|(impression, click)| (impression.id, click.is_some()))
        .write_stream()
        .console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = job(&session, &MemoryStream::new(), &MemoryStream::new())?;
    query.stop()
}
