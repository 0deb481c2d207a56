use streamflow::prelude::*;
use streamflow::structured::*;

#[allow(dead_code)]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Click {
    user: String,
    ts: Time,
}

/// The operator's own mode (Update) is not the query's (Append).
#[stream_job(output_mode = append)]
fn job(session: &Session, clicks: &MemoryStream<Click>) {
    session
        .read_stream::<Click>()
        .memory(clicks)
        .group_by(|c| c.user.clone())
        .flat_map_groups_with_state(
            OutputMode::Update,
            GroupStateTimeout::NoTimeout,
            |user: &String, new: Vec<Click>, _: &mut GroupState<u64>| vec![(user.clone(), new.len())],
        )
        .write_stream()
        .console()
}

fn main() -> streamflow::Result<()> {
    let session = Session::new(1)?;
    let query = job(&session, &MemoryStream::new())?;
    query.stop()
}
