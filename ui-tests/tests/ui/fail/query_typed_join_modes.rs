// Update or Complete on a stream–stream join, wherever the query is built: a join is
// `shape::Joined` in its type, whose writer has `.append()` only (Spark runs a join in Append
// mode only). Each mistake is one error, rustc's, with the shape's message.
use streamflow::prelude::*;
use streamflow::structured::*;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Ev {
    ad: u64,
    ts: Time,
}

/// Impressions joined with their clicks within the hour, made away from where the mode is
/// chosen.
fn clicked(
    impressions: &Dataset<Ev>,
    clicks: &Dataset<Ev>,
) -> Dataset<(Ev, Ev), shape::Joined> {
    impressions.with_watermark(|i| i.ts, "2 hours").join(
        &clicks.with_watermark(|c| c.ts, "3 hours"),
        JoinOn::keys(|i: &Ev| i.ad, |c: &Ev| c.ad).time_range(TimeRange::between("0 seconds", "1 hour")),
    )
}

/// The helper's join in Update mode.
#[stream_job]
fn helper(session: &Session, impressions: &MemoryStream<Ev>, clicks: &MemoryStream<Ev>) {
    let i = session.read_stream::<Ev>().memory(impressions);
    let c = session.read_stream::<Ev>().memory(clicks);
    clicked(&i, &c).write_stream().update().console()
}

/// The attribute's mode on the helper's join: the macro writes it as `.update()`, the error is
/// at the mode.
#[stream_job(output_mode = update)]
fn attribute(session: &Session, impressions: &MemoryStream<Ev>, clicks: &MemoryStream<Ev>) {
    let i = session.read_stream::<Ev>().memory(impressions);
    let c = session.read_stream::<Ev>().memory(clicks);
    clicked(&i, &c).write_stream().console()
}

/// Whichever join the `if` chooses, it is a join.
#[stream_job]
fn branch(session: &Session, impressions: &MemoryStream<Ev>, clicks: &MemoryStream<Ev>, semi: bool) {
    let i = session.read_stream::<Ev>().memory(impressions).with_watermark(|i| i.ts, "2 hours");
    let c = session.read_stream::<Ev>().memory(clicks).with_watermark(|c| c.ts, "3 hours");
    let on = || JoinOn::keys(|i: &Ev| i.ad, |c: &Ev| c.ad).time_range(TimeRange::between("0 seconds", "1 hour"));
    let joined = if semi {
        i.left_semi_join(&c, on())
    } else {
        i.join(&c, on()).map(|(i, _)| i)
    };
    joined.write_stream().update().console()
}

/// Filters added in a loop keep the shape: still a join, and Complete needs an aggregation.
#[stream_job]
fn looped(session: &Session, impressions: &MemoryStream<Ev>, clicks: &MemoryStream<Ev>, ads: &[u64]) {
    let i = session.read_stream::<Ev>().memory(impressions);
    let c = session.read_stream::<Ev>().memory(clicks);
    let mut joined = clicked(&i, &c);
    for ad in ads.iter().copied() {
        joined = joined.filter(move |(i, _)| i.ad != ad);
    }
    joined.write_stream().complete().console()
}

/// Without the attribute: the types hold the rule.
fn by_hand(session: &Session, impressions: &MemoryStream<Ev>, clicks: &MemoryStream<Ev>) -> streamflow::Result<StreamingQuery> {
    let i = session.read_stream::<Ev>().memory(impressions);
    let c = session.read_stream::<Ev>().memory(clicks);
    clicked(&i, &c).write_stream().update().memory("clicked").start()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let (impressions, clicks) = (MemoryStream::new(), MemoryStream::new());
    helper(&session, &impressions, &clicks)?.stop()?;
    attribute(&session, &impressions, &clicks)?.stop()?;
    branch(&session, &impressions, &clicks, true)?.stop()?;
    looped(&session, &impressions, &clicks, &[1, 2])?.stop()?;
    by_hand(&session, &impressions, &clicks)?.stop()
}
