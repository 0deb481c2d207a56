use streamflow::prelude::*;
use streamflow::structured::*;

#[allow(dead_code)]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Ad {
    id: u64,
    ts: Time,
}

#[stream_job(output_mode = update)]
fn job(session: &Session, impressions: &MemoryStream<Ad>, clicks: &MemoryStream<Ad>) {
    let clicks = session.read_stream::<Ad>().memory(clicks).with_watermark(|c| c.ts, "3 hours");
    session
        .read_stream::<Ad>()
        .memory(impressions)
        .with_watermark(|i| i.ts, "2 hours")
        .join(&clicks, JoinOn::keys(|i: &Ad| i.id, |c: &Ad| c.id))
        .write_stream()
        .console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = job(&session, &MemoryStream::new(), &MemoryStream::new())?;
    query.stop()
}
