//! Kafka in, Kafka out: the words of a topic of lines counted per batch, each batch's counts
//! written to a topic of counts — exactly once, through a Kafka transaction per batch.
//!
//! ```text
//! scripts/kafka_word_count.sh        # starts a broker, a producer of lines, and this job
//!
//! kafka_word_count produce --brokers 127.0.0.1:9092 --topic lines --lines 1000
//! kafka_word_count run --brokers 127.0.0.1:9092 --input lines --output counts --checkpoint /tmp/ck
//! ```
//!
//! `run` prints each batch's counts (Spark's format) and writes them to `--output`, one message
//! per word: key the word, value `batch,count`. With `--batches N` it runs N batches of a
//! manual clock as fast as it can and stops (what the crash test kills); otherwise it runs a
//! batch a second until stopped (Ctrl-C stops it gracefully). `--delivery markers` writes without
//! transactions but with a commit marker per batch (exactly once for readers that apply
//! `streamflow::kafka::CommittedFilter`), `--delivery at-least-once` without either: tansu 0.6,
//! the broker of `scripts/kafka_word_count.sh`, has no transactions. `--help` (and
//! `run --help`, `produce --help`) lists the options and their defaults.

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use streamflow::kafka::{KafkaMessage, KafkaOptions, KafkaSink, KafkaSinkOptions, StartingOffsets};
use streamflow::{Duration, ManualClock, StreamingContext, Time};

/// Kafka in, Kafka out: the words of a topic of lines counted per batch, each batch's counts
/// written to a topic of counts in one Kafka transaction per batch.
#[derive(Parser)]
#[command(version, about)]
enum Command {
    /// Run the word count: read --input, print each batch's counts and write them to --output.
    Run(RunArgs),
    /// Write sample lines to a topic (created if missing).
    Produce(ProduceArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The Kafka bootstrap servers, e.g. 127.0.0.1:9092.
    #[arg(long, value_name = "ADDR")]
    brokers: String,
    /// The topic of lines to read.
    #[arg(long, value_name = "TOPIC")]
    input: String,
    /// The topic to write the counts to.
    #[arg(long, value_name = "TOPIC")]
    output: String,
    /// The checkpoint directory: a run restarted on it carries on where the last one stopped.
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// Read at most N records per batch [default: no limit].
    #[arg(long, value_name = "N")]
    max_per_batch: Option<u64>,
    /// Run N batches of a manual clock as fast as possible, then stop [default: a batch a
    /// second until stopped].
    #[arg(long, value_name = "N")]
    batches: Option<u64>,
    /// How the counts reach --output: in a Kafka transaction per batch, with a commit marker
    /// per batch (exactly once for readers that honour the markers, on brokers without
    /// transactions such as tansu 0.6), or at least once.
    #[arg(long, value_enum, default_value_t = Delivery::Transactions)]
    delivery: Delivery,
}

/// How `run` writes its counts.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Delivery {
    /// One Kafka transaction per batch.
    Transactions,
    /// No transactions; a commit marker per batch.
    Markers,
    /// No transactions, no markers.
    AtLeastOnce,
}

#[derive(clap::Args)]
struct ProduceArgs {
    /// The Kafka bootstrap servers, e.g. 127.0.0.1:9092.
    #[arg(long, value_name = "ADDR")]
    brokers: String,
    /// The topic to write to.
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// How many lines to write.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    lines: u64,
    /// The topic's partitions, if it is created.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Lines per second (0: as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 0)]
    per_second: u32,
}

/// Sample line `i`: a few words from a small vocabulary, the same for the same `i`.
fn line(i: u64) -> String {
    const WORDS: [&str; 12] = [
        "apple", "banana", "cherry", "kafka", "stream", "batch", "spark", "rust", "state", "window",
        "offset", "commit",
    ];
    let n = 3 + (i * 7) % 5;
    (0..n)
        .map(|k| WORDS[((i * 31 + k * 17) % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn produce(args: &ProduceArgs) -> Result<(), String> {
    streamflow::kafka::create_topic(
        &args.brokers,
        &args.topic,
        args.partitions,
        StdDuration::from_secs(30),
    )
    .map_err(|e| e.to_string())?;
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .create()
        .map_err(|e| e.to_string())?;
    for i in 0..args.lines {
        let text = line(i);
        let key = i.to_string();
        // Line i goes to partition i mod partitions, so a run's input is the same every time.
        let mut record = BaseRecord::to(&args.topic)
            .partition((i % args.partitions as u64) as i32)
            .key(key.as_bytes())
            .payload(text.as_bytes());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(StdDuration::from_millis(10));
                    record = back;
                }
            }
        }
        if args.per_second > 0 {
            std::thread::sleep(StdDuration::from_secs(1) / args.per_second);
        }
    }
    producer
        .flush(StdDuration::from_secs(60))
        .map_err(|e| e.to_string())?;
    println!("produced {} lines to {}", args.lines, args.topic);
    Ok(())
}

fn run(args: &RunArgs) -> streamflow::Result<()> {
    let clock = args.batches.map(|_| ManualClock::new(0));
    let (brokers, input, output) = (args.brokers.clone(), args.input.clone(), args.output.clone());
    let max_per_batch = args.max_per_batch;
    let delivery = args.delivery;
    let job_clock = clock.clone();
    let ssc = StreamingContext::get_or_create(&args.checkpoint, move || {
        let mut builder = StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .parallelism(2)
            .app_name("kafka_word_count")
            .stop_gracefully_on_shutdown(true);
        if let Some(clock) = job_clock.clone() {
            builder = builder.clock(clock);
        }
        let ssc = builder.build()?;
        let mut source = KafkaOptions::new(&brokers)
            .subscribe([input.as_str()])
            .starting_offsets(StartingOffsets::Earliest);
        if let Some(n) = max_per_batch {
            source = source.max_offsets_per_trigger(n);
        }
        let counts = ssc
            .kafka_direct_stream(source)
            .flat_map(|record| {
                let text = record.value_str().ok().flatten().unwrap_or_default().to_string();
                streamflow::text::words(text).map(|w| w.to_string())
            })
            .map(|word| (word, 1_u64))
            .reduce_by_key(|a, b| a + b);
        counts.print();
        // The batch time (its id on a restart too) goes with each count, so a reader can tell
        // batches apart.
        counts
            .transform(|batch, time| batch.map(move |(w, n)| (w, n, time.millis() / 1_000)))
            .sink(KafkaSink::new(
                {
                    let sink = KafkaSinkOptions::new(&brokers)
                        .topic(output.clone())
                        .transactional_id(format!("kafka_word_count-{output}"));
                    // tansu 0.6 has no transactions: `--delivery markers` (exactly once for
                    // readers that honour commit markers) or `at-least-once` run there.
                    match delivery {
                        Delivery::Transactions => sink,
                        Delivery::Markers => sink.commit_markers(),
                        Delivery::AtLeastOnce => sink.at_least_once(),
                    }
                },
                |(word, n, batch): &(String, u64, i64)| {
                    KafkaMessage::new(format!("{batch},{n}")).key(word.as_str())
                },
            ));
        Ok(ssc)
    })?;
    ssc.start()?;
    match (args.batches, clock) {
        (Some(batches), Some(clock)) => {
            let last = Time::from_millis(batches as i64 * 1_000);
            clock.set_time(last);
            ssc.await_batch(last)?;
            ssc.stop(false)?;
            ssc.await_termination()
        }
        _ => ssc.await_termination(),
    }
}

fn main() {
    let command = Command::parse();
    env_logger::init();
    let outcome = match &command {
        Command::Run(args) => run(args).map_err(|e| e.to_string()),
        Command::Produce(args) => produce(args),
    };
    if let Err(message) = outcome {
        eprintln!("kafka_word_count: {message}");
        std::process::exit(1);
    }
}
