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
//! the broker of `scripts/kafka_word_count.sh`, has no transactions.

use std::time::Duration as StdDuration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use streamflow::kafka::{KafkaMessage, KafkaOptions, KafkaSink, KafkaSinkOptions, StartingOffsets};
use streamflow::{Duration, ManualClock, StreamingContext, Time};

const USAGE: &str = "usage: kafka_word_count run --brokers ADDR --input TOPIC --output TOPIC --checkpoint DIR [--max-per-batch N] [--batches N] [--delivery transactions|markers|at-least-once]
       kafka_word_count produce --brokers ADDR --topic TOPIC [--lines N] [--partitions N] [--per-second N]";

#[derive(Default)]
struct Args {
    command: String,
    brokers: String,
    input: String,
    output: String,
    topic: String,
    checkpoint: String,
    max_per_batch: Option<u64>,
    batches: Option<u64>,
    lines: u64,
    partitions: i32,
    per_second: u64,
    delivery: String,
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or(USAGE)?;
    let mut parsed = Args {
        command,
        lines: 1_000,
        partitions: 3,
        ..Default::default()
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--brokers" => parsed.brokers = value.clone(),
            "--input" => parsed.input = value.clone(),
            "--output" => parsed.output = value.clone(),
            "--topic" => parsed.topic = value.clone(),
            "--checkpoint" => parsed.checkpoint = value.clone(),
            "--max-per-batch" => parsed.max_per_batch = Some(number()?),
            "--batches" => parsed.batches = Some(number()?),
            "--lines" => parsed.lines = number()?,
            "--partitions" => parsed.partitions = number()? as i32,
            "--per-second" => parsed.per_second = number()?,
            "--delivery" => parsed.delivery = value.clone(),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if !["", "transactions", "markers", "at-least-once"].contains(&parsed.delivery.as_str()) {
        return Err(format!(
            "--delivery {}: not a delivery mode\n{USAGE}",
            parsed.delivery
        ));
    }
    if parsed.brokers.is_empty() {
        return Err(format!("--brokers is required\n{USAGE}"));
    }
    Ok(parsed)
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

fn produce(args: &Args) -> Result<(), String> {
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
            std::thread::sleep(StdDuration::from_secs(1) / args.per_second as u32);
        }
    }
    producer
        .flush(StdDuration::from_secs(60))
        .map_err(|e| e.to_string())?;
    println!("produced {} lines to {}", args.lines, args.topic);
    Ok(())
}

fn run(args: &Args) -> streamflow::Result<()> {
    let clock = args.batches.map(|_| ManualClock::new(0));
    let (brokers, input, output) = (args.brokers.clone(), args.input.clone(), args.output.clone());
    let max_per_batch = args.max_per_batch;
    let delivery = args.delivery.clone();
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
                    match delivery.as_str() {
                        "markers" => sink.commit_markers(),
                        "at-least-once" => sink.at_least_once(),
                        _ => sink,
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
    env_logger::init();
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let outcome = match args.command.as_str() {
        "run" => run(&args).map_err(|e| e.to_string()),
        "produce" => produce(&args),
        other => Err(format!("unknown command {other}\n{USAGE}")),
    };
    if let Err(message) = outcome {
        eprintln!("kafka_word_count: {message}");
        std::process::exit(1);
    }
}
