//! Rows per second into a database through `DatabaseSink`: a connection per partition from the
//! pool (the default) against a new connection per batch, into SQLite and PostgreSQL.
//!
//! ```text
//! db_sink --target sqlite|postgresql://… --mode pooled|per-batch [--batches 20] [--rows 20000] [--partitions 4]
//! ```
//!
//! A DStream job on a manual clock runs `--batches` batches of `--rows` generated `(id, word)`
//! rows in `--partitions` partitions back to back, inserted (Append) into a fresh table;
//! prints one line: `mode rows seconds rows_per_s connections_opened`.

use std::time::Instant;

use streamflow::sink::database::DatabaseSink;
use streamflow::{Duration, ManualClock, StreamingContext, Time};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut target, mut mode) = (String::from("sqlite"), String::from("pooled"));
    let (mut batches, mut rows, mut partitions) = (20_i64, 20_000_u64, 4_usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or("every option takes a value")?;
        match flag.as_str() {
            "--target" => target = value,
            "--mode" => mode = value,
            "--batches" => batches = value.parse()?,
            "--rows" => rows = value.parse()?,
            "--partitions" => partitions = value.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let dir = tempfile::tempdir()?;
    let table = format!("bench_{}", std::process::id());
    let create = format!("CREATE TABLE {table} (id BIGINT NOT NULL, word TEXT NOT NULL)");
    let sink = if target.starts_with("postgresql://") {
        DatabaseSink::postgres_with_pool(&target, &table, partitions as u32)?
    } else {
        DatabaseSink::sqlite_with_pool(dir.path().join("bench.db"), &table, partitions as u32)
    }
    .create_table(&create)
    .columns(&["id", "word"]);
    let sink = std::sync::Arc::new(match mode.as_str() {
        "pooled" => sink,
        "per-batch" => sink.connection_per_batch(),
        other => return Err(format!("unknown mode {other}").into()),
    });
    let clock = ManualClock::new(0);
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .parallelism(partitions)
        .clock(clock.clone())
        .app_name("db_sink_bench")
        .build()?;
    ssc.generator_stream(rows, |i| (i as i64, format!("word{}", i % 1000)))
        .sink(sink.clone());
    let started = Instant::now();
    ssc.start()?;
    let last = Time::from_millis(batches * 1_000);
    clock.set_time(last);
    ssc.await_batch(last)?;
    let seconds = started.elapsed().as_secs_f64();
    ssc.stop(false)?;
    ssc.await_termination()?;
    let total = rows * batches as u64;
    println!(
        "{mode} {total} {seconds:.3} {:.0} {}",
        total as f64 / seconds,
        sink.stats().connections_opened
    );
    Ok(())
}
