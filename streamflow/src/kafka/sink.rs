//! The Kafka sink: each batch's rows as Kafka messages, in one transaction per batch.
//!
//! Exactly-once (the default) follows Flink's two-phase pattern on one transactional producer
//! per sink: `add_batch` begins a transaction and sends the rows (on the workers, in parallel),
//! plus a marker — the sink's consumer-group offset set to `batch id + 1`, committed with the
//! transaction (`send_offsets_to_transaction`) — and `commit` commits the transaction once the
//! engine commits the batch. A job restarted on its checkpoint initialises the same
//! transactional id, which fences the previous producer and aborts its open transaction; it
//! then reads the marker, and a re-run batch the broker already committed (the process died
//! between the Kafka commit and the checkpoint's) is skipped instead of written twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset as KOffset, TopicPartitionList};

use super::commits::COMMIT_HEADER;
use super::{Backoff, client_config};
use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::{BatchId, lock, raise};
use crate::sink::{Sink, SinkContext};

/// The header that carries the id of the batch a message was written by.
pub const BATCH_HEADER: &str = "streamflow.batch";
/// The header that names the transaction (transactional id, batch, attempt) a message was
/// written in, unique per attempt.
pub const TRANSACTION_HEADER: &str = "streamflow.txn";

/// One message for the Kafka sink: a value, and optionally a key, a topic (else the sink's),
/// a partition (else Kafka's partitioner on the key) and headers.
///
/// ```
/// use streamflow::kafka::KafkaMessage;
///
/// let m = KafkaMessage::new("3").key("apple").topic("counts").header("source", "demo");
/// assert_eq!(m.value(), Some(&b"3"[..]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaMessage {
    pub(super) topic: Option<String>,
    pub(super) partition: Option<i32>,
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Option<Vec<u8>>,
    pub(super) headers: Vec<(String, Vec<u8>)>,
}

impl KafkaMessage {
    /// A message with `value`.
    ///
    /// ```
    /// let m = streamflow::kafka::KafkaMessage::new(vec![1_u8, 2]);
    /// assert_eq!(m.value(), Some(&[1_u8, 2][..]));
    /// ```
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        KafkaMessage {
            value: Some(value.into()),
            ..Default::default()
        }
    }

    /// A message with no value (a tombstone for `key`).
    ///
    /// ```
    /// let m = streamflow::kafka::KafkaMessage::tombstone("gone");
    /// assert_eq!(m.value(), None);
    /// ```
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        KafkaMessage {
            key: Some(key.into()),
            ..Default::default()
        }
    }

    /// Its value serialized as JSON.
    ///
    /// ```
    /// let m = streamflow::kafka::KafkaMessage::json(&("a", 1))?;
    /// assert_eq!(m.value(), Some(&br#"["a",1]"#[..]));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn json<T: serde::Serialize>(value: &T) -> Result<Self> {
        serde_json::to_vec(value)
            .map(Self::new)
            .map_err(|e| Error::InvalidConfig(format!("kafka sink: a value cannot be written as JSON: {e}")))
    }

    /// The same message with `key`.
    ///
    /// ```
    /// let m = streamflow::kafka::KafkaMessage::new("v").key("k");
    /// # let _ = m;
    /// ```
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The same message for `topic` instead of the sink's topic.
    ///
    /// ```
    /// let m = streamflow::kafka::KafkaMessage::new("v").topic("other");
    /// # let _ = m;
    /// ```
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// The same message for partition `partition`.
    ///
    /// ```
    /// let m = streamflow::kafka::KafkaMessage::new("v").partition(2);
    /// # let _ = m;
    /// ```
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The same message with one more header.
    ///
    /// ```
    /// let m = streamflow::kafka::KafkaMessage::new("v").header("trace", "1");
    /// # let _ = m;
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Its value.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::KafkaMessage::new("v").value(), Some(&b"v"[..]));
    /// ```
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

/// The Kafka sink's settings.
///
/// ```
/// use streamflow::kafka::KafkaSinkOptions;
///
/// let options = KafkaSinkOptions::new("127.0.0.1:9092")
///     .topic("counts")
///     .transactional_id("word-count-out")
///     .option("linger.ms", "5");
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct KafkaSinkOptions {
    bootstrap_servers: String,
    topic: Option<String>,
    transactional_id: Option<String>,
    delivery: Delivery,
    timeout: StdDuration,
    config: std::collections::BTreeMap<String, String>,
}

impl KafkaSinkOptions {
    /// A sink writing to the brokers at `bootstrap_servers`, exactly-once.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaSinkOptions::new("127.0.0.1:9092").topic("out");
    /// # let _ = o;
    /// ```
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        KafkaSinkOptions {
            bootstrap_servers: bootstrap_servers.into(),
            topic: None,
            transactional_id: None,
            delivery: Delivery::Transactions,
            timeout: StdDuration::from_secs(60),
            config: Default::default(),
        }
    }

    /// The topic of messages that name none.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaSinkOptions::new("h:1").topic("out");
    /// # let _ = o;
    /// ```
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// The transactional id (default `streamflow-<job id>-<topic>`). Two jobs writing at the
    /// same time must have different ids; a restarted job must have the same one.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaSinkOptions::new("h:1").transactional_id("job-7-out");
    /// # let _ = o;
    /// ```
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = Some(id.into());
        self
    }

    /// No transactions: an idempotent producer, flushed when the batch commits. A batch re-run
    /// after a crash is written again (its messages carry the same `streamflow.batch` header,
    /// so readers can drop repeats) — Spark's Kafka sink guarantee.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaSinkOptions::new("h:1").at_least_once();
    /// # let _ = o;
    /// ```
    pub fn at_least_once(mut self) -> Self {
        self.delivery = Delivery::AtLeastOnce;
        self
    }

    /// No transactions, but a commit marker per batch: exactly-once for readers that apply a
    /// [`CommittedFilter`](super::CommittedFilter), at-least-once (with the batch and attempt
    /// in headers) for plain consumers — for brokers without transactions (tansu 0.6). Each
    /// batch is written with an idempotent producer; when the engine commits it, the sink
    /// waits for every acknowledgement, then writes a marker ([`COMMIT_HEADER`](super::COMMIT_HEADER))
    /// to each partition that received messages. A batch re-run after a crash is a new attempt
    /// that the filter drops if an earlier one committed. Needs the job's output to be the same
    /// on a re-run (it is, for deterministic functions over the checkpointed offsets) and each
    /// message to land in the same partition: messages with a key or a partition (the sink
    /// uses Java's murmur2 partitioner, which also sends every message without a key to one
    /// partition).
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaSinkOptions::new("h:1").commit_markers();
    /// # let _ = o;
    /// ```
    pub fn commit_markers(mut self) -> Self {
        self.delivery = Delivery::Markers;
        self
    }

    /// How long initialising, flushing or committing may take before the batch fails
    /// (default 60 s): a string, a `std::time::Duration` or a [`Duration`](crate::Duration); an
    /// error if it is no duration.
    ///
    /// ```
    /// use streamflow::kafka::KafkaSinkOptions;
    /// let o = KafkaSinkOptions::new("h:1").timeout(std::time::Duration::from_secs(10))?;
    /// let o = o.timeout("10 seconds")?.timeout(streamflow::Duration::seconds(10))?;
    /// assert!(o.timeout("soon").is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: impl crate::IntoDuration) -> Result<Self> {
        self.timeout = timeout.into_duration()?.to_std();
        Ok(self)
    }

    /// A librdkafka setting for the sink's producer (`"linger.ms"`, `"compression.type"` …).
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaSinkOptions::new("h:1").option("linger.ms", "10");
    /// # let _ = o;
    /// ```
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }
}

/// How a sink makes a batch's output final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// A Kafka transaction per batch.
    Transactions,
    /// A commit marker per batch and partition (see [`super::commits`]).
    Markers,
    /// Flushed, nothing more.
    AtLeastOnce,
}

/// Counts failed deliveries (the producer's delivery reports) and, for commit markers, the
/// partitions that received messages.
#[derive(Default)]
pub(super) struct Deliveries {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
    track_partitions: bool,
    partitions: Mutex<HashMap<String, BTreeSet<i32>>>,
}

impl Deliveries {
    /// How many messages failed since the last call, and the last error, if any failed.
    pub(super) fn take_failures(&self) -> Option<(u64, String)> {
        let failed = self.failed.swap(0, Ordering::SeqCst);
        (failed > 0).then(|| (failed, lock(&self.last_error).clone().unwrap_or_default()))
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
                *lock(&self.last_error) = Some(e.to_string());
            }
            Ok(message) if self.track_partitions => {
                let mut partitions = lock(&self.partitions);
                match partitions.get_mut(message.topic()) {
                    Some(set) => {
                        set.insert(message.partition());
                    }
                    None => {
                        partitions.insert(message.topic().to_string(), BTreeSet::from([message.partition()]));
                    }
                }
            }
            Ok(_) => {}
        }
    }
}

struct Connected {
    producer: ThreadedProducer<Deliveries>,
    /// Reads and writes the marker (exactly-once only).
    markers: Option<BaseConsumer>,
    /// The first batch id not yet committed to Kafka.
    next_batch: u64,
}

/// Writes rows to Kafka; see the [module docs](super) for its guarantees.
///
/// ```no_run
/// use streamflow::kafka::{KafkaMessage, KafkaSink, KafkaSinkOptions};
/// use streamflow::{Duration, StreamingContext};
///
/// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
/// let counts = ssc.queue_stream(streamflow::StreamQueue::<(String, u64)>::new(), true, None);
/// counts.sink(KafkaSink::new(
///     KafkaSinkOptions::new("127.0.0.1:9092").topic("counts"),
///     |(word, n): &(String, u64)| KafkaMessage::new(n.to_string()).key(word.as_str()),
/// ));
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct KafkaSink<T> {
    options: KafkaSinkOptions,
    to_message: Arc<dyn Fn(&T) -> KafkaMessage + Send + Sync>,
    transactional_id: Mutex<String>,
    connected: Mutex<Option<Connected>>,
    /// The batch whose transaction is open (`None`: nothing to commit).
    open: Mutex<Option<u64>>,
    backoff: Mutex<Backoff>,
}

impl<T: Data> KafkaSink<T> {
    /// A sink turning each row into a message with `to_message`.
    ///
    /// ```
    /// use streamflow::kafka::{KafkaMessage, KafkaSink, KafkaSinkOptions};
    /// let sink = KafkaSink::new(KafkaSinkOptions::new("h:1").topic("t"), |s: &String| KafkaMessage::new(s.as_str()));
    /// # let _ = sink;
    /// ```
    pub fn new(
        options: KafkaSinkOptions,
        to_message: impl Fn(&T) -> KafkaMessage + Send + Sync + 'static,
    ) -> Self {
        KafkaSink {
            options,
            to_message: Arc::new(to_message),
            transactional_id: Mutex::new(String::new()),
            connected: Mutex::new(None),
            open: Mutex::new(None),
            backoff: Mutex::new(Backoff::default()),
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Sink {
            sink_name: self.name(),
            message: message.to_string(),
        }
    }

    fn marker_partition(&self, batch_end: Option<u64>) -> Result<TopicPartitionList> {
        let mut list = TopicPartitionList::new();
        let topic = self.options.topic.as_deref().unwrap_or("streamflow");
        let offset = match batch_end {
            Some(n) => KOffset::Offset(n as i64),
            None => KOffset::Invalid,
        };
        list.add_partition_offset(topic, 0, offset)
            .map_err(|e| self.error(e))?;
        Ok(list)
    }

    /// Connects (once): the producer, fencing any earlier one of the same transactional id,
    /// and the marker. Retries with a back-off until `timeout`.
    fn connect(&self) -> Result<()> {
        if lock(&self.connected).is_some() {
            return Ok(());
        }
        let deadline = std::time::Instant::now() + self.options.timeout;
        loop {
            match self.try_connect() {
                Ok(connected) => {
                    lock(&self.backoff).reset();
                    *lock(&self.connected) = Some(connected);
                    return Ok(());
                }
                Err(e) if std::time::Instant::now() < deadline => {
                    let wait = lock(&self.backoff).failed();
                    log::warn!(
                        "{}: cannot reach the Kafka brokers at {} ({e}); retrying in {} ms",
                        self.name(),
                        self.options.bootstrap_servers,
                        wait.as_millis()
                    );
                    std::thread::sleep(wait);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_connect(&self) -> Result<Connected> {
        let id = lock(&self.transactional_id).clone();
        let mut config: ClientConfig = client_config(&self.options.bootstrap_servers);
        config
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", self.options.timeout.as_millis().to_string());
        match self.options.delivery {
            Delivery::Transactions => {
                config.set("transactional.id", &id);
            }
            // The same partition for a message on a re-run, also without a key.
            Delivery::Markers => {
                config.set("partitioner", "murmur2");
            }
            Delivery::AtLeastOnce => {}
        }
        for (k, v) in &self.options.config {
            config.set(k, v);
        }
        let context = Deliveries {
            track_partitions: self.options.delivery == Delivery::Markers,
            ..Deliveries::default()
        };
        let producer: ThreadedProducer<Deliveries> = config.create_with_context(context).map_err(|e| {
            Error::InvalidConfig(format!("{}: the producer settings are refused: {e}", self.name()))
        })?;
        if self.options.delivery != Delivery::Transactions {
            return Ok(Connected {
                producer,
                markers: None,
                next_batch: 0,
            });
        }
        producer
            .init_transactions(self.options.timeout)
            .map_err(|e| self.error(format!("initialising transactions: {e}")))?;
        let markers: BaseConsumer = client_config(&self.options.bootstrap_servers)
            .set("group.id", &id)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(|e| {
                Error::InvalidConfig(format!("{}: the marker consumer is refused: {e}", self.name()))
            })?;
        let committed = markers
            .committed_offsets(self.marker_partition(None)?, self.options.timeout)
            .map_err(|e| self.error(format!("reading the last committed batch: {e}")))?;
        let next_batch = committed
            .elements()
            .first()
            .and_then(|e| match e.offset() {
                KOffset::Offset(n) if n >= 0 => Some(n as u64),
                _ => None,
            })
            .unwrap_or(0);
        Ok(Connected {
            producer,
            markers: Some(markers),
            next_batch,
        })
    }

    fn send_all(&self, producer: &ThreadedProducer<Deliveries>, batch: BatchId, rows: Batch<T>) {
        let to_message = self.to_message.clone();
        let default_topic = self.options.topic.clone();
        let txn = self.attempt_name(batch);
        let batch_id = batch.id.to_string();
        let name = self.name();
        rows.foreach(|row| {
            let message = to_message(&row);
            let Some(topic) = message.topic.as_deref().or(default_topic.as_deref()) else {
                raise(Error::InvalidConfig(format!(
                    "{name}: a message names no topic and the sink has none; set KafkaSinkOptions::topic"
                )))
            };
            let mut headers = attempt_headers(message.headers.len(), &batch_id, TRANSACTION_HEADER, &txn);
            for (k, v) in &message.headers {
                headers = headers.insert(Header {
                    key: k.as_str(),
                    value: Some(v.as_slice()),
                });
            }
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).headers(headers);
            if let Some(key) = message.key.as_deref() {
                record = record.key(key);
            }
            if let Some(value) = message.value.as_deref() {
                record = record.payload(value);
            }
            if let Some(p) = message.partition {
                record = record.partition(p);
            }
            if let Err(e) = send(producer, record) {
                raise(Error::Sink {
                    sink_name: name.clone(),
                    message: format!("sending to {topic}: {e}"),
                })
            }
        });
    }

    /// The name of this process's attempt at `batch`: `writer:batch:attempt`.
    fn attempt_name(&self, batch: BatchId) -> String {
        format!("{}:{}:{}", lock(&self.transactional_id), batch.id, attempt())
    }

    /// Waits for every message of `batch`, then writes a commit marker to each partition that
    /// received some, and waits for those.
    fn write_markers(&self, producer: &ThreadedProducer<Deliveries>, batch: BatchId) -> Result<()> {
        let flush = |what: &str| -> Result<()> {
            producer
                .flush(self.options.timeout)
                .map_err(|e| self.error(format!("flushing {what} of batch {}: {e}", batch.id)))?;
            self.delivery_failures(producer)
        };
        flush("the messages")?;
        let partitions = std::mem::take(&mut *lock(&producer.context().partitions));
        let txn = self.attempt_name(batch);
        let batch_id = batch.id.to_string();
        for (topic, parts) in &partitions {
            for &partition in parts {
                let headers = attempt_headers(0, &batch_id, COMMIT_HEADER, &txn);
                let record: BaseRecord<'_, [u8], [u8]> =
                    BaseRecord::to(topic).partition(partition).headers(headers);
                send(producer, record).map_err(|e| {
                    self.error(format!("sending the commit marker to {topic}-{partition}: {e}"))
                })?;
            }
        }
        flush("the commit markers")?;
        lock(&producer.context().partitions).clear();
        Ok(())
    }

    fn delivery_failures(&self, producer: &ThreadedProducer<Deliveries>) -> Result<()> {
        match producer.context().take_failures() {
            Some((failed, last)) => Err(self.error(format!(
                "{failed} messages were not delivered (last error: {last})"
            ))),
            None => Ok(()),
        }
    }
}

/// Sends `record`, waiting for deliveries while the producer's queue is full (bounded memory).
pub(super) fn send(
    producer: &ThreadedProducer<Deliveries>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> std::result::Result<(), rdkafka::error::KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((e, back)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                producer.poll(StdDuration::from_millis(10));
                record = back;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// The headers naming a message's batch and attempt (`kind`: [`TRANSACTION_HEADER`] on
/// messages, [`COMMIT_HEADER`] on markers), with room for `more`.
fn attempt_headers(more: usize, batch_id: &str, kind: &'static str, txn: &str) -> OwnedHeaders {
    OwnedHeaders::new_with_capacity(more + 2)
        .insert(Header {
            key: BATCH_HEADER,
            value: Some(batch_id.as_bytes()),
        })
        .insert(Header {
            key: kind,
            value: Some(txn.as_bytes()),
        })
}

/// A number telling this process's attempts apart (process id and start time).
fn attempt() -> String {
    static ATTEMPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ATTEMPT
        .get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("{}-{nanos}", std::process::id())
        })
        .clone()
}

impl<T: Data> Sink<T> for KafkaSink<T> {
    fn name(&self) -> String {
        format!(
            "KafkaSink[{}]",
            self.options.topic.as_deref().unwrap_or("per message")
        )
    }

    fn start(&self, ctx: &SinkContext) -> Result<()> {
        let id = self.options.transactional_id.clone().unwrap_or_else(|| {
            format!(
                "streamflow-{}-{}",
                ctx.job_id(),
                self.options.topic.as_deref().unwrap_or("per-message")
            )
        });
        *lock(&self.transactional_id) = id;
        Ok(())
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        self.connect()?;
        let connected = lock(&self.connected);
        let Some(c) = connected.as_ref() else {
            return Err(self.error("not connected"));
        };
        if self.options.delivery != Delivery::Transactions {
            self.send_all(&c.producer, batch, rows);
            return Ok(());
        }
        if batch.id < c.next_batch {
            log::info!(
                "{}: batch {} was committed to Kafka before the restart; not writing it again",
                self.name(),
                batch.id
            );
            return Ok(());
        }
        if lock(&self.open).take().is_some() {
            // The previous batch was not committed (its output failed): drop its writes.
            c.producer
                .abort_transaction(self.options.timeout)
                .map_err(|e| self.error(format!("aborting: {e}")))?;
        }
        c.producer
            .begin_transaction()
            .map_err(|e| self.error(format!("beginning a transaction: {e}")))?;
        *lock(&self.open) = Some(batch.id);
        self.send_all(&c.producer, batch, rows);
        if let Some(group) = c.markers.as_ref().and_then(|m| m.group_metadata()) {
            c.producer
                .send_offsets_to_transaction(
                    &self.marker_partition(Some(batch.id + 1))?,
                    &group,
                    self.options.timeout,
                )
                .map_err(|e| self.error(format!("recording batch {} in the transaction: {e}", batch.id)))?;
        }
        Ok(())
    }

    fn commit(&self, batch: BatchId) -> Result<()> {
        let mut connected = lock(&self.connected);
        let Some(c) = connected.as_mut() else {
            return Ok(());
        };
        match self.options.delivery {
            Delivery::AtLeastOnce => {
                c.producer
                    .flush(self.options.timeout)
                    .map_err(|e| self.error(format!("flushing batch {}: {e}", batch.id)))?;
                return self.delivery_failures(&c.producer);
            }
            Delivery::Markers => return self.write_markers(&c.producer, batch),
            Delivery::Transactions => {}
        }
        if lock(&self.open).take() != Some(batch.id) {
            return Ok(()); // skipped: already in Kafka
        }
        if let Err(e) = c
            .producer
            .commit_transaction(self.options.timeout)
            .map_err(|e| self.error(format!("committing batch {}: {e}", batch.id)))
            .and_then(|()| self.delivery_failures(&c.producer))
        {
            let _ = c.producer.abort_transaction(self.options.timeout);
            return Err(e);
        }
        c.next_batch = batch.id + 1;
        Ok(())
    }
}
