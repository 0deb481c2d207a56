//! Scale-out over a Kafka consumer group: running totals per key of a topic of events, computed
//! by several worker processes of one group. Each owns a share of the input partitions and the
//! totals of their keys, kept in a changelog topic. Stop a worker (Ctrl-C, SIGTERM) and it
//! finishes its batch and leaves the group: the others take over its partitions, restoring their
//! totals from the changelog before going on. A worker killed (SIGKILL) and started again under
//! its name, as a supervisor would, gets partitions back the same way; a killed worker that stays
//! dead is handed on by Kafka after the session timeout, but not by tansu 0.6 (see
//! `examples/tests/kafka_scale_out.rs`).
//!
//! ```text
//! scripts/kafka_scale_out.sh     # a broker, three workers, one stopped; prints the totals
//!
//! kafka_scale_out produce --brokers 127.0.0.1:9092 --topic events --count 3000
//! kafka_scale_out worker --brokers 127.0.0.1:9092 --group totals --input events \
//!     --output totals --changelog totals-changelog --member w1
//! ```
//!
//! Each output message is `key → running total` with the input record it was made from in the
//! header `streamflow.source`; a reader keeping the first message per source position
//! (`streamflow::kafka::SourceDedup`) sees each total once, also across kills and rebalances.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration as StdDuration;

use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use streamflow::kafka::{GroupJob, GroupJobOptions, KafkaMessage};

/// Running totals per key over a Kafka consumer group of worker processes.
#[derive(Parser)]
#[command(version, about)]
enum Command {
    /// Write events (key: a word, value: an amount) to a topic, created if missing.
    Produce(ProduceArgs),
    /// Run one worker of the group until Ctrl-C or SIGTERM (it finishes its batch and leaves
    /// the group, so the others take over at once) or until it is killed.
    Worker(WorkerArgs),
}

#[derive(clap::Args)]
struct ProduceArgs {
    /// The Kafka bootstrap servers, e.g. 127.0.0.1:9092.
    #[arg(long, value_name = "ADDR")]
    brokers: String,
    /// The topic to write to.
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// The index of the first event (events are numbered; event i is the same every time).
    #[arg(long, value_name = "N", default_value_t = 0)]
    from: u64,
    /// How many events to write.
    #[arg(long, value_name = "N", default_value_t = 3_000)]
    count: u64,
    /// The topic's partitions.
    #[arg(long, value_name = "N", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
}

#[derive(clap::Args)]
struct WorkerArgs {
    /// The Kafka bootstrap servers.
    #[arg(long, value_name = "ADDR")]
    brokers: String,
    /// The consumer group: workers of one group share the input's partitions.
    #[arg(long, value_name = "ID")]
    group: String,
    /// The topic of events.
    #[arg(long, value_name = "TOPIC")]
    input: String,
    /// The topic of running totals.
    #[arg(long, value_name = "TOPIC")]
    output: String,
    /// The changelog topic (as many partitions as the input).
    #[arg(long, value_name = "TOPIC")]
    changelog: String,
    /// This worker's name.
    #[arg(long, value_name = "NAME")]
    member: String,
    /// At most N records per batch.
    #[arg(long, value_name = "N", default_value_t = 50)]
    batch: usize,
}

const WORDS: [&str; 12] = [
    "apple", "banana", "cherry", "kafka", "stream", "batch", "spark", "rust", "state", "window", "offset",
    "commit",
];

/// Event `i`: a word and an amount, the same for the same `i`.
fn event(i: u64) -> (&'static str, u64) {
    (WORDS[((i * 7 + i / 5) % WORDS.len() as u64) as usize], 1 + i % 9)
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
    for i in args.from..args.from + args.count {
        let (word, amount) = event(i);
        let amount = amount.to_string();
        // A word's events all go to one partition (the word's index), in order.
        let partition = WORDS.iter().position(|w| *w == word).unwrap_or(0) as i32 % args.partitions;
        let mut record = BaseRecord::to(&args.topic)
            .partition(partition)
            .key(word.as_bytes())
            .payload(amount.as_bytes());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    producer.poll(StdDuration::from_millis(10));
                    record = back;
                }
            }
        }
    }
    producer
        .flush(StdDuration::from_secs(60))
        .map_err(|e| e.to_string())?;
    println!(
        "produced events {}..{} to {}",
        args.from,
        args.from + args.count,
        args.topic
    );
    Ok(())
}

fn worker(args: &WorkerArgs) -> streamflow::Result<()> {
    for topic in [&args.output, &args.changelog] {
        // The changelog needs the input's partition count; the output any.
        streamflow::kafka::create_topic(&args.brokers, topic, 6, StdDuration::from_secs(30))?;
    }
    let options = GroupJobOptions::new(&args.brokers, &args.group)
        .input(&args.input)
        .output(&args.output)
        .changelog(&args.changelog)
        .member(&args.member)
        .max_records_per_batch(args.batch);
    let mut job = GroupJob::new(options, |record, total: &mut Option<u64>| {
        let amount: u64 = record
            .value_str()
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let total = total.get_or_insert(0);
        *total += amount;
        vec![KafkaMessage::new(total.to_string()).key(record.key.clone().unwrap_or_default())]
    })?;
    // Runs until Ctrl-C or SIGTERM: the worker ends its batch and leaves the group. Killed
    // instead, a Kafka broker notices within the session timeout (6 s) and hands the partitions
    // to the others; tansu 0.6 only once a member joins (the worker restarted, say).
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| streamflow::Error::io("handling Ctrl-C", e))?;
    }
    eprintln!(
        "kafka_scale_out: worker {} joining group {}",
        job.member(),
        args.group
    );
    job.run(&stop)
}

fn main() {
    let command = Command::parse();
    env_logger::init();
    let outcome = match &command {
        Command::Produce(args) => produce(args),
        Command::Worker(args) => worker(args).map_err(|e| e.to_string()),
    };
    if let Err(message) = outcome {
        eprintln!("kafka_scale_out: {message}");
        std::process::exit(1);
    }
}
