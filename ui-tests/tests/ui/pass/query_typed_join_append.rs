// A stream–stream join runs in Append mode (the default, or `.append()`) wherever it is built:
// a helper returning it names its shape (`shape::Joined`).
#![deny(warnings)]

use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Ev {
    ad: u64,
    ts: Time,
}

/// Impressions joined with their clicks within the hour.
fn clicked(impressions: &Dataset<Ev>, clicks: &Dataset<Ev>) -> Dataset<(Ev, Ev), shape::Joined> {
    impressions.with_watermark(|i| i.ts, "2 hours").join(
        &clicks.with_watermark(|c| c.ts, "3 hours"),
        JoinOn::keys(|i: &Ev| i.ad, |c: &Ev| c.ad).time_range(TimeRange::between("0 seconds", "1 hour")),
    )
}

#[stream_job]
fn typed(session: &Session, impressions: &MemoryStream<Ev>, clicks: &MemoryStream<Ev>) {
    let i = session.read_stream::<Ev>().memory(impressions);
    let c = session.read_stream::<Ev>().memory(clicks);
    clicked(&i, &c).write_stream().append().console()
}

#[stream_job]
fn default_mode(session: &Session, impressions: &MemoryStream<Ev>, clicks: &MemoryStream<Ev>) {
    let i = session.read_stream::<Ev>().memory(impressions);
    let c = session.read_stream::<Ev>().memory(clicks);
    clicked(&i, &c).map(|(i, c)| (i.ad, c.ts)).write_stream().console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let (impressions, clicks) = (MemoryStream::new(), MemoryStream::new());
    typed(&session, &impressions, &clicks)?.stop()?;
    default_mode(&session, &impressions, &clicks)?.stop()
}
