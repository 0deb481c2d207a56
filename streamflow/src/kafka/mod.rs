//! Kafka in and out (feature `kafka`): a replayable source in both vocabularies and a
//! transactional sink, over librdkafka built from source.
//!
//! | | DStream | Structured |
//! |---|---|---|
//! | read | [`ssc.kafka_direct_stream(options)`](crate::StreamingContext::kafka_direct_stream) (Spark's `KafkaUtils.createDirectStream`) | [`session.read_stream::<KafkaRecord>().kafka(options)`](crate::structured::DataStreamReader::kafka) |
//! | write | [`stream.sink(KafkaSink::new(..))`](crate::DStream::sink) | [`write_stream().sink(KafkaSink::new(..))`](crate::structured::DataStreamWriter::sink) |
//!
//! **Source** ([`KafkaOptions`]): subscribe to topics, to a pattern, or assign partitions;
//! start at the earliest, latest or given offsets; at most `max_offsets_per_trigger` records a
//! batch, shared among partitions in proportion to what they have. Its offset
//! ([`KafkaOffsets`]) is a position per partition, recorded in the checkpoint before each
//! batch, so a restarted job reads exactly the records it read before — the checkpoint, not
//! Kafka's committed offsets, is the truth. Each Kafka partition is one stream partition.
//! Records ([`KafkaRecord`]) carry key, value, topic, partition, offset, timestamp and
//! headers, with text and JSON decoding. It reads committed records only (`read_committed`).
//!
//! **When the broker misbehaves**: a broker that is down at start or goes away is retried with
//! a back-off (100 ms doubling to 10 s) and a warning per attempt; meanwhile batches see no new
//! data, and the source's [`ReceiverStatus`](crate::ReceiverStatus) (in progress reports) shows
//! it inactive with its errors and last error. A partition's planned records are waited for up
//! to [`fetch_timeout`](KafkaOptions::fetch_timeout) (2 minutes) before the batch fails.
//! Records deleted before they were read fail the job unless
//! [`fail_on_data_loss(false)`](KafkaOptions::fail_on_data_loss).
//!
//! **Sink** ([`KafkaSink`]): each row becomes a [`KafkaMessage`] (a fixed topic or one per
//! message, key, value, headers). Exactly-once by default, through a Kafka transaction per
//! batch: the rows of batch `N` and a marker "batch `N` of this sink" are written in one
//! transaction, committed when the engine commits the batch; a restarted job fences the
//! previous producer (same transactional id), which aborts its open transaction, and skips
//! batches whose marker is already committed. Readers must read with `read_committed`.
//! [`KafkaSinkOptions::at_least_once`] gives an idempotent producer without transactions
//! (a re-run batch is written again; every message carries its batch id in the header
//! `streamflow.batch`).
//!
//! Brokers without transactions: [`KafkaSinkOptions::commit_markers`] writes each batch with its
//! attempt in a header and, when the batch commits, a commit marker per partition
//! ([`commits`]); a reader applying [`CommittedFilter`] sees each batch once (exactly-once for
//! such readers; plain consumers get at-least-once with headers to drop repeats).
//!
//! The tests (`streamflow/tests/kafka.rs`, `examples/tests/kafka_crash.rs`) run against a real
//! broker, `tansu`, that `scripts/tansu.sh` installs and starts on 127.0.0.1. tansu 0.6 offers
//! no transactions to librdkafka, so the transactional mode has not been run against a broker;
//! the crash test uses commit markers there. Every message carries the headers
//! [`BATCH_HEADER`] and [`TRANSACTION_HEADER`] (the attempt), so a reader can drop repeats.

mod admin;
pub mod commits;
pub mod group;
mod record;
mod sink;
mod source;

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use rdkafka::config::ClientConfig;

use crate::IntoDuration;
use crate::error::{Error, Result};

pub use admin::create_topic;
pub use commits::{COMMIT_HEADER, CommittedFilter};
pub use group::{GroupJob, GroupJobOptions, MEMBER_HEADER, SOURCE_HEADER, SourceDedup};
pub use record::{KafkaOffsets, KafkaRecord};
pub use sink::{BATCH_HEADER, KafkaMessage, KafkaSink, KafkaSinkOptions, TRANSACTION_HEADER};
pub use source::KafkaSource;

/// What the Kafka source reads (Spark's `subscribe`, `subscribePattern`, `assign`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// Every partition of these topics (partitions added later are read from their start).
    Topics(Vec<String>),
    /// Every partition of every topic whose whole name matches this regular expression.
    Pattern(String),
    /// Exactly these `(topic, partition)`s.
    Assign(Vec<(String, i32)>),
}

impl Subscription {
    fn matches(&self, topic: &str) -> bool {
        match self {
            Subscription::Topics(topics) => topics.iter().any(|t| t == topic),
            Subscription::Pattern(pattern) => {
                regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(topic))
            }
            Subscription::Assign(parts) => parts.iter().any(|(t, _)| t == topic),
        }
    }
}

impl std::fmt::Display for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subscription::Topics(topics) => write!(f, "Subscribe[{}]", topics.join(",")),
            Subscription::Pattern(p) => write!(f, "SubscribePattern[{p}]"),
            Subscription::Assign(parts) => {
                let parts: Vec<String> = parts.iter().map(|(t, p)| format!("{t}-{p}")).collect();
                write!(f, "Assign[{}]", parts.join(","))
            }
        }
    }
}

/// Where a partition the job has never read starts (Spark's `startingOffsets`). Once a job has
/// a checkpoint, it resumes from the checkpoint's offsets instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StartingOffsets {
    /// The first record still in the log.
    Earliest,
    /// After the last record present when the job first plans a batch (the default).
    #[default]
    Latest,
    /// Given per partition (`-2` earliest, `-1` latest); partitions not named start at the
    /// latest offset.
    Specific(KafkaOffsets),
}

/// The Kafka source's settings (Spark's Kafka source options).
///
/// ```
/// use streamflow::kafka::{KafkaOptions, StartingOffsets};
///
/// let options = KafkaOptions::new("127.0.0.1:9092")
///     .subscribe(["orders", "refunds"])
///     .starting_offsets(StartingOffsets::Earliest)
///     .max_offsets_per_trigger(10_000)
///     .fail_on_data_loss(false)
///     .fetch_timeout("30 seconds")?
///     .option("fetch.min.bytes", "1");
/// assert_eq!(options.bootstrap_servers(), "127.0.0.1:9092");
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct KafkaOptions {
    bootstrap_servers: String,
    subscription: Subscription,
    starting_offsets: StartingOffsets,
    max_offsets_per_trigger: Option<u64>,
    fail_on_data_loss: bool,
    fetch_timeout: StdDuration,
    request_timeout: StdDuration,
    group_id: Option<String>,
    config: BTreeMap<String, String>,
}

impl KafkaOptions {
    /// Options for the brokers at `bootstrap_servers` (`host:port[,host:port…]`); say what to
    /// read with [`subscribe`](Self::subscribe), [`subscribe_pattern`](Self::subscribe_pattern)
    /// or [`assign`](Self::assign).
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("127.0.0.1:9092").subscribe(["t"]);
    /// # let _ = o;
    /// ```
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaOptions {
            bootstrap_servers: bootstrap_servers.into(),
            subscription: Subscription::Topics(Vec::new()),
            starting_offsets: StartingOffsets::Latest,
            max_offsets_per_trigger: None,
            fail_on_data_loss: true,
            fetch_timeout: StdDuration::from_secs(120),
            request_timeout: StdDuration::from_secs(5),
            group_id: None,
            config: BTreeMap::new(),
        }
    }

    /// The brokers.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::KafkaOptions::new("h:1").bootstrap_servers(), "h:1");
    /// ```
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Reads every partition of `topics`.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("h:1").subscribe(["a", "b"]);
    /// # let _ = o;
    /// ```
    pub fn subscribe<S: Into<String>>(mut self, topics: impl IntoIterator<Item = S>) -> Self {
        self.subscription = Subscription::Topics(topics.into_iter().map(Into::into).collect());
        self
    }

    /// Reads every topic whose name matches the regular expression `pattern` (whole name).
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("h:1").subscribe_pattern("events-.*");
    /// # let _ = o;
    /// ```
    pub fn subscribe_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.subscription = Subscription::Pattern(pattern.into());
        self
    }

    /// Reads exactly these `(topic, partition)`s.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("h:1").assign([("t", 0), ("t", 2)]);
    /// # let _ = o;
    /// ```
    pub fn assign<S: Into<String>>(mut self, partitions: impl IntoIterator<Item = (S, i32)>) -> Self {
        self.subscription =
            Subscription::Assign(partitions.into_iter().map(|(t, p)| (t.into(), p)).collect());
        self
    }

    /// Where partitions never read start (default [`StartingOffsets::Latest`]).
    ///
    /// ```
    /// use streamflow::kafka::{KafkaOffsets, KafkaOptions, StartingOffsets};
    /// let o = KafkaOptions::new("h:1").subscribe(["t"])
    ///     .starting_offsets(StartingOffsets::Specific(KafkaOffsets::new().with("t", 0, 42)));
    /// # let _ = o;
    /// ```
    pub fn starting_offsets(mut self, starting: StartingOffsets) -> Self {
        self.starting_offsets = starting;
        self
    }

    /// At most `n` records per batch over all partitions (Spark's `maxOffsetsPerTrigger`).
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("h:1").max_offsets_per_trigger(1_000);
    /// # let _ = o;
    /// ```
    pub fn max_offsets_per_trigger(mut self, n: u64) -> Self {
        self.max_offsets_per_trigger = Some(n);
        self
    }

    /// Whether records deleted before they were read (retention, a recreated topic) fail the
    /// job (`true`, the default) or are skipped with a warning.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("h:1").fail_on_data_loss(false);
    /// # let _ = o;
    /// ```
    pub fn fail_on_data_loss(mut self, fail: bool) -> Self {
        self.fail_on_data_loss = fail;
        self
    }

    /// How long a batch waits for the records it planned to read (default 2 minutes, Spark's
    /// network timeout) before it fails: a string, a `std::time::Duration` or a
    /// [`Duration`](crate::Duration); an error if it is no duration.
    ///
    /// ```
    /// use streamflow::kafka::KafkaOptions;
    /// let o = KafkaOptions::new("h:1").fetch_timeout(std::time::Duration::from_secs(10))?;
    /// let o = o.fetch_timeout("10 seconds")?.fetch_timeout(streamflow::Duration::seconds(10))?;
    /// assert!(o.fetch_timeout("ten seconds").is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn fetch_timeout(mut self, timeout: impl IntoDuration) -> Result<Self> {
        self.fetch_timeout = timeout.into_duration()?.to_std();
        Ok(self)
    }

    /// How long one metadata or offsets request may take (default 5 s): a string, a
    /// `std::time::Duration` or a [`Duration`](crate::Duration); an error if it is no duration.
    ///
    /// ```
    /// use streamflow::kafka::KafkaOptions;
    /// let o = KafkaOptions::new("h:1").request_timeout("1 second")?;
    /// let o = o.request_timeout(std::time::Duration::from_secs(1))?;
    /// assert!(o.request_timeout("1 sec ond").is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn request_timeout(mut self, timeout: impl IntoDuration) -> Result<Self> {
        self.request_timeout = timeout.into_duration()?.to_std();
        Ok(self)
    }

    /// The consumer group id the source's consumers use (default `streamflow`). The source
    /// commits no offsets to Kafka: the checkpoint holds them.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("h:1").group_id("my-job");
    /// # let _ = o;
    /// ```
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// A librdkafka setting for the source's consumers (`"fetch.max.bytes"`, `"security.protocol"`
    /// …; Spark's `kafka.`-prefixed options).
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOptions::new("h:1").option("client.id", "job-7");
    /// # let _ = o;
    /// ```
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    fn validate(&self) -> Result<()> {
        let nothing = match &self.subscription {
            Subscription::Topics(t) => t.is_empty(),
            Subscription::Pattern(p) => {
                if let Err(e) = regex::Regex::new(p) {
                    return Err(Error::InvalidConfig(format!(
                        "kafka: the pattern `{p}` is not a regular expression: {e}"
                    )));
                }
                p.is_empty()
            }
            Subscription::Assign(parts) => parts.is_empty(),
        };
        if nothing {
            return Err(Error::InvalidConfig(
                "kafka: nothing to read; call subscribe([..]), subscribe_pattern(..) or assign([..])".into(),
            ));
        }
        if self.bootstrap_servers.trim().is_empty() {
            return Err(Error::InvalidConfig("kafka: no bootstrap servers given".into()));
        }
        Ok(())
    }

    fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap_servers)
    }
}

/// The settings every client of ours starts from.
fn client_config(bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "10000")
        // librdkafka's own log lines go to the `log` crate at these levels.
        .set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
    config
}

/// The context of the source's consumers: librdkafka's client-level errors are logged as
/// warnings (the source retries and reports them itself), and "end of partition" events that
/// reach the client after a re-assignment are not logged at all.
pub(crate) struct Quiet;

impl rdkafka::ClientContext for Quiet {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if !matches!(error, rdkafka::error::KafkaError::PartitionEOF(_))
            && error.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        {
            log::warn!("librdkafka: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for Quiet {}

/// A doubling back-off between attempts: 100 ms, 200 ms … 10 s.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    next: Option<std::time::Instant>,
}

impl Backoff {
    const FIRST: StdDuration = StdDuration::from_millis(100);
    const MAX: StdDuration = StdDuration::from_secs(10);

    /// Notes a failure; returns how long to wait before the next attempt.
    pub(crate) fn failed(&mut self) -> StdDuration {
        let wait = Self::FIRST
            .saturating_mul(1 << self.failures.min(10))
            .min(Self::MAX);
        self.failures += 1;
        self.next = Some(std::time::Instant::now() + wait);
        wait
    }

    /// Forgets the failures.
    pub(crate) fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// Whether an attempt may be made now.
    pub(crate) fn due(&self) -> bool {
        self.next.is_none_or(|at| std::time::Instant::now() >= at)
    }
}

impl crate::StreamingContext {
    /// A stream of the records of Kafka topics (Spark's `KafkaUtils.createDirectStream`): one
    /// stream partition per Kafka partition, the offsets of each batch recorded in the
    /// checkpoint so a restart reads exactly the same records (see [`crate::kafka`]).
    /// Needs the `kafka` feature.
    ///
    /// ```no_run
    /// use streamflow::kafka::{KafkaOptions, StartingOffsets};
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// let options = KafkaOptions::new("127.0.0.1:9092")
    ///     .subscribe(["lines"])
    ///     .starting_offsets(StartingOffsets::Earliest);
    /// ssc.kafka_direct_stream(options)
    ///     .map(|r| r.value_str().ok().flatten().unwrap_or_default().to_string())
    ///     .print();
    /// ssc.start()?;
    /// ssc.await_termination()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn kafka_direct_stream(&self, options: KafkaOptions) -> crate::DStream<KafkaRecord> {
        if let Err(e) = options.validate() {
            self.defer_error(e.to_string());
        }
        self.source_stream(KafkaSource::new(options))
    }
}

impl crate::structured::DataStreamReader<KafkaRecord> {
    /// Records of Kafka topics (Spark's `readStream.format("kafka")`); see [`crate::kafka`].
    /// Every query started from the dataset reads with a source of its own; options that name
    /// nothing to read fail the query's start. Needs the `kafka` feature.
    ///
    /// ```no_run
    /// use streamflow::kafka::{KafkaOptions, KafkaRecord};
    /// use streamflow::structured::Session;
    ///
    /// let session = Session::new(2)?;
    /// let values = session
    ///     .read_stream::<KafkaRecord>()
    ///     .kafka(KafkaOptions::new("127.0.0.1:9092").subscribe(["events"]))
    ///     .map(|r| r.value_str().ok().flatten().unwrap_or_default().to_string());
    /// # let _ = values;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn kafka(&self, options: KafkaOptions) -> crate::structured::Dataset<KafkaRecord> {
        // Options that name nothing to read fail the query's start (`KafkaSource::start`).
        self.source_per_query("kafka_source", move || KafkaSource::new(options.clone()))
    }
}
