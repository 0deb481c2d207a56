use streamflow::prelude::*;

#[stream_job(batch = "1s")]
fn job(port: u16) {
    let _ = port;
}

fn main() {
    job(9999);
}
