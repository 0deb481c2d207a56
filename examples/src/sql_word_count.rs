//! The seeds' "DataFrame and SQL operations" word count: each batch of words becomes a
//! DataFrame, is registered as the temporary view `words`, and
//! `select word, count(*) as total from words group by word` is run on it and shown, as
//! Spark's `show()` prints it (feature `sql`: Apache DataFusion).
//!
//! ```text
//! cargo run --release -p streamflow-examples --features sql --bin sql_word_count
//! cargo run --release -p streamflow-examples --features sql --bin sql_word_count -- --batches 5
//! ```
//!
//! The words come from the built-in text (`FEED`), a few lines per batch, on a manual clock,
//! so it runs at once and prints the same every time. `--batches N` (default 3); `--help` lists
//! the options. Ctrl-C stops it gracefully after the batch in progress.

use clap::Parser;
use streamflow::prelude::*;
use streamflow::sql::SqlSession;

const LINES_PER_BATCH: usize = 3;

/// Words of a built-in text counted by SQL over each batch (`select word, count(*) ...`), shown
/// as Spark's `show()` prints a DataFrame.
#[derive(Parser)]
#[command(version, about)]
struct Options {
    /// How many one-second batches to run.
    #[arg(long, value_name = "N", default_value_t = 3)]
    batches: u32,
}

fn main() -> streamflow::Result<()> {
    let options = Options::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let batches = i64::from(options.batches);
    let clock = ManualClock::new(0);
    // Ctrl-C / SIGTERM: finish the batch, then stop.
    let ssc = StreamingContext::builder()
        .batch_duration("1 second")
        .parallelism(2)
        .clock(clock.clone())
        .app_name("sql_word_count")
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let lines: Vec<&str> = streamflow_examples::FEED.lines().collect();
    let queue = StreamQueue::new();
    for b in 0..batches as usize {
        let start = (b * LINES_PER_BATCH) % lines.len().max(1);
        queue.push(
            lines
                .iter()
                .cycle()
                .skip(start)
                .take(LINES_PER_BATCH)
                .map(|l| l.to_string())
                .collect::<Vec<String>>(),
        );
    }
    let words = ssc
        .queue_stream(queue, true, None)
        .flat_map(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
    // val words: DStream[String] = ...; words.foreachRDD { rdd => ... }
    words.foreach_batch(|rdd, time| -> streamflow::Result<()> {
        // Get the singleton instance of the session
        let spark = SqlSession::get_or_create()?;
        // Convert the batch of strings to a DataFrame with one column `word`
        let words_data_frame = spark.create_data_frame(&rdd.collect())?.to_df(&["word"])?;
        // Create a temporary view
        words_data_frame.create_or_replace_temp_view("words")?;
        // Do word count on the DataFrame using SQL and print it
        let word_counts_data_frame =
            spark.sql("select word, count(*) as total from words group by word order by total desc, word")?;
        println!("========= {} =========", time.millis());
        word_counts_data_frame.show()
    });
    ssc.start()?;
    let last = Time::from_millis(batches * 1_000);
    clock.set_time(last);
    ssc.await_batch(last)?;
    ssc.stop(false)?;
    ssc.await_termination()
}
