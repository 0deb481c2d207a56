//! The Kafka source: a replayable [`Source`] whose offset is a position per partition.
//!
//! Each batch plans, per partition, the range `[start, end)` of offsets it reads and records it
//! in the checkpoint before the batch runs, so a restart reads exactly the same records. A
//! partition first seen starts where [`StartingOffsets`] says; that resolved start is written to
//! the source's directory in the checkpoint the first time, so replaying the first batch after
//! a crash does not ask the broker for "latest" again. Ends are the partitions' last stable
//! offsets (the consumer reads committed records only: transactional output of another job is
//! seen once its transaction commits), capped by `max_offsets_per_trigger`.
//!
//! Each Kafka partition is one stream partition, read on a worker by a consumer kept for that
//! partition across batches (its position is already where the next batch starts, so nothing
//! is fetched twice). A broker that cannot be reached is retried with a back-off and logged;
//! planning then says "nothing new" instead of failing, and a partition's read waits for its
//! records up to `fetch_timeout` before failing the batch.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset as KOffset, TopicPartitionList};

use super::record::{KafkaOffsets, KafkaRecord};
use super::{Backoff, KafkaOptions, Quiet, StartingOffsets, Subscription};
use crate::error::{Error, Result};
use crate::exec::{lock, raise};
use crate::metrics::ReceiverStatus;
use crate::source::{ReadLimit, Source, SourceBatch, SourceContext};
use crate::time::Time;

/// The file, in the source's checkpoint directory, with the resolved start of every partition.
const STARTS_FILE: &str = "starting-offsets";
const STARTS_KIND: &str = "kafka-starting-offsets";
/// How long a consumer assigned at an offset may hand out nothing before it is assigned
/// further back (see `Shared::rewind`).
const REWIND_AFTER: std::time::Duration = std::time::Duration::from_millis(500);
/// How long finding the end of a partition by reading may take at least.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads Kafka topics (see the [module docs](super)); made by
/// [`StreamingContext::kafka_direct_stream`](crate::StreamingContext::kafka_direct_stream) and
/// [`DataStreamReader::kafka`](crate::structured::DataStreamReader::kafka).
pub struct KafkaSource {
    options: KafkaOptions,
    name: String,
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    options: KafkaOptions,
    /// For metadata and watermarks; made on first use.
    client: Mutex<Option<BaseConsumer<Quiet>>>,
    /// One consumer per partition, reused batch after batch.
    readers: Mutex<HashMap<(String, i32), Arc<Mutex<Reader>>>>,
    /// Where each partition seen so far starts (resolved `StartingOffsets`), and whether the
    /// first discovery happened (later partitions start at the earliest offset, as in Spark).
    starts: Mutex<(KafkaOffsets, bool)>,
    metadata_path: Mutex<Option<PathBuf>>,
    status: Mutex<ReceiverStatus>,
    backoff: Mutex<Backoff>,
    stopped: AtomicBool,
}

struct Reader {
    consumer: BaseConsumer<Quiet>,
    /// The offset the consumer's position is at (`None`: not assigned yet).
    next: Option<i64>,
    /// A record polled past the end of the previous batch: the first of the next one.
    pending: Option<KafkaRecord>,
}

impl KafkaSource {
    pub(crate) fn new(options: KafkaOptions) -> Self {
        let name = format!("KafkaSource[{}]", options.subscription);
        let shared = Arc::new(Shared {
            name: name.clone(),
            options: options.clone(),
            client: Mutex::new(None),
            readers: Mutex::new(HashMap::new()),
            starts: Mutex::new((KafkaOffsets::new(), false)),
            metadata_path: Mutex::new(None),
            status: Mutex::new(ReceiverStatus::new(&name)),
            backoff: Mutex::new(Backoff::default()),
            stopped: AtomicBool::new(false),
        });
        KafkaSource {
            options,
            name,
            shared,
        }
    }
}

impl Source for KafkaSource {
    type Item = KafkaRecord;
    type Offset = KafkaOffsets;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn start(&self, ctx: &SourceContext) -> Result<()> {
        self.options.validate()?;
        self.shared.stopped.store(false, Ordering::SeqCst);
        if let Some(dir) = ctx.metadata_path() {
            let path = dir.join(STARTS_FILE);
            if let Some(starts) = crate::checkpoint::file::read_json::<KafkaOffsets>(&path, STARTS_KIND)? {
                *lock(&self.shared.starts) = (starts, true);
            }
            *lock(&self.shared.metadata_path) = Some(dir.to_path_buf());
        }
        lock(&self.shared.status).active = true;
        Ok(())
    }

    fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        lock(&self.shared.status).active = false;
    }

    fn initial_offset(&self) -> KafkaOffsets {
        KafkaOffsets::new()
    }

    fn default_read_limit(&self) -> ReadLimit {
        self.options
            .max_offsets_per_trigger
            .map_or(ReadLimit::AllAvailable, ReadLimit::Max)
    }

    fn latest_offset(&self, start: &KafkaOffsets, limit: ReadLimit, _time: Time) -> Result<KafkaOffsets> {
        if !lock(&self.shared.backoff).due() {
            return Ok(start.clone());
        }
        match self.shared.plan(start, limit) {
            Ok(end) => {
                self.shared.succeeded();
                Ok(end)
            }
            Err(Unavailable::Broker(message)) => {
                self.shared.failed("cannot plan a batch", &message);
                Ok(start.clone())
            }
            Err(Unavailable::Fatal(error)) => Err(error),
        }
    }

    fn get_batch(&self, start: &KafkaOffsets, end: &KafkaOffsets) -> Result<SourceBatch<KafkaRecord>> {
        let mut batch = SourceBatch::empty();
        let starts = lock(&self.shared.starts).0.clone();
        for (topic, partition, until) in end.iter() {
            let from = start
                .get(topic, partition)
                .or_else(|| starts.get(topic, partition))
                .unwrap_or(until);
            let shared = self.shared.clone();
            let topic = topic.to_string();
            // One stream partition per Kafka partition, also when it has nothing new.
            batch.push_lazy(move |emit| {
                if let Err(e) = shared.read(&topic, partition, from, until, emit) {
                    raise(e)
                }
            });
        }
        Ok(batch)
    }

    fn is_replayable(&self) -> bool {
        true
    }

    fn status(&self) -> Option<ReceiverStatus> {
        Some(lock(&self.shared.status).clone())
    }
}

/// Why a batch could not be planned.
enum Unavailable {
    /// The brokers did not answer (retried later).
    Broker(String),
    /// A failure that retrying does not cure (data lost under `fail_on_data_loss`).
    Fatal(Error),
}

impl From<KafkaError> for Unavailable {
    fn from(e: KafkaError) -> Self {
        Unavailable::Broker(e.to_string())
    }
}

impl Shared {
    fn consumer_config(&self) -> ClientConfig {
        let mut config = self.options.client_config();
        config
            .set(
                "group.id",
                self.options.group_id.as_deref().unwrap_or("streamflow"),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .set("allow.auto.create.topics", "false")
            .set(
                "auto.offset.reset",
                if self.options.fail_on_data_loss {
                    "error"
                } else {
                    "earliest"
                },
            );
        for (k, v) in &self.options.config {
            config.set(k, v);
        }
        config
    }

    fn with_client<R>(
        &self,
        f: impl FnOnce(&BaseConsumer<Quiet>) -> Result<R, Unavailable>,
    ) -> Result<R, Unavailable> {
        let mut client = lock(&self.client);
        if client.is_none() {
            let mut config = self.consumer_config();
            // Its reads only look for the end of each partition: no long polls.
            config.set("fetch.wait.max.ms", "10");
            let made: BaseConsumer<Quiet> = config.create_with_context(Quiet).map_err(|e| {
                Unavailable::Fatal(Error::InvalidConfig(format!(
                    "{}: the Kafka client settings are refused: {e}",
                    self.name
                )))
            })?;
            *client = Some(made);
        }
        match client.as_ref() {
            Some(c) => f(c),
            None => Err(Unavailable::Broker("no client".into())),
        }
    }

    /// The partitions to read now, from the brokers' metadata.
    fn partitions(&self, client: &BaseConsumer<Quiet>) -> Result<Vec<(String, i32)>, Unavailable> {
        let timeout = self.options.request_timeout;
        if let Subscription::Assign(parts) = &self.options.subscription {
            return Ok(parts.clone());
        }
        let metadata = client.fetch_metadata(None, timeout)?;
        let mut out = Vec::new();
        for topic in metadata.topics() {
            if !self.options.subscription.matches(topic.name()) || topic.error().is_some() {
                continue;
            }
            out.extend(
                topic
                    .partitions()
                    .iter()
                    .map(|p| (topic.name().to_string(), p.id())),
            );
        }
        out.sort();
        Ok(out)
    }

    fn plan(&self, start: &KafkaOffsets, limit: ReadLimit) -> Result<KafkaOffsets, Unavailable> {
        self.with_client(|client| {
            let partitions = self.partitions(client)?;
            let mut ranges = Vec::with_capacity(partitions.len());
            let mut new_starts = Vec::new();
            let (known, discovered) = lock(&self.starts).clone();
            let ends = self.log_ends(client, &partitions)?;
            for ((topic, partition), (low, high)) in partitions.into_iter().zip(ends) {
                let from = match start
                    .get(&topic, partition)
                    .or_else(|| known.get(&topic, partition))
                {
                    Some(at) => at,
                    None => {
                        let at = if discovered {
                            low // a partition added later: from its beginning, as Spark does
                        } else {
                            match &self.options.starting_offsets {
                                StartingOffsets::Earliest => low,
                                StartingOffsets::Latest => high,
                                StartingOffsets::Specific(o) => match o.get(&topic, partition) {
                                    Some(-2) => low,
                                    Some(-1) | None => high,
                                    Some(at) => at,
                                },
                            }
                        };
                        new_starts.push((topic.clone(), partition, at));
                        at
                    }
                };
                let from = self.check_loss(&topic, partition, from, low, high)?;
                ranges.push((topic, partition, from, high));
            }
            if !new_starts.is_empty() || !discovered {
                self.remember_starts(new_starts)?;
            }
            Ok(cap(ranges, limit))
        })
    }

    /// The first and the end offset of each partition. The start comes from the brokers'
    /// offsets API (`ListOffsets`); the end is checked by reading: some brokers (tansu 0.6)
    /// answer "latest" with the base offset of the last record batch plus one, not the end of
    /// that batch, so planning from it alone would read one record per produced batch. The
    /// client reads each partition from the listed end minus one to the end of the log (the
    /// broker's own high watermark, or its last stable offset for this read-committed
    /// consumer, where it signals "end of partition"); on a broker whose listed end is right
    /// that is one record per partition.
    fn log_ends(
        &self,
        client: &BaseConsumer<Quiet>,
        partitions: &[(String, i32)],
    ) -> Result<Vec<(i64, i64)>, Unavailable> {
        let timeout = self.options.request_timeout;
        let mut listed = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            listed.push(client.fetch_watermarks(topic, *partition, timeout)?);
        }
        let mut ends: Vec<(i64, i64)> = listed.clone();
        // One topic at a time: the "end of partition" event names the partition, not the topic.
        let mut topics: Vec<&str> = partitions.iter().map(|(t, _)| t.as_str()).collect();
        topics.dedup();
        for topic in topics {
            let mut list = TopicPartitionList::new();
            let mut open: HashMap<i32, usize> = HashMap::new();
            for (i, ((t, partition), (low, high))) in partitions.iter().zip(&listed).enumerate() {
                if t == topic {
                    let from = (*high - 1).max(*low).max(0);
                    list.add_partition_offset(t, *partition, KOffset::Offset(from))
                        .map_err(Unavailable::from)?;
                    open.insert(*partition, i);
                }
            }
            client.assign(&list)?;
            // The brokers answered the offsets request: the first fetch of a partition (leader
            // connection included) may take longer than one request.
            let deadline = Instant::now() + timeout.max(PROBE_TIMEOUT);
            // Errors of the client's connections (queued while a broker was away, say) are
            // passing: the deadline decides.
            let mut last_error = None;
            let outcome = loop {
                if open.is_empty() {
                    break Ok(());
                }
                if Instant::now() >= deadline {
                    break Err(Unavailable::Broker(format!(
                        "the end of {topic} (partitions {:?}) was not reached in time{}",
                        open.keys().collect::<Vec<_>>(),
                        last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                    )));
                }
                match client.poll(std::time::Duration::from_millis(50)) {
                    Some(Ok(message)) => {
                        if let Some(&i) = open.get(&message.partition()) {
                            ends[i].1 = ends[i].1.max(message.offset() + 1);
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(partition))) => {
                        open.remove(&partition);
                    }
                    Some(Err(e)) if is_out_of_range(&e) => {
                        // The listed offsets moved under us (retention): plan from them.
                        break Ok(());
                    }
                    Some(Err(e)) => last_error = Some(e),
                    None => {}
                }
            };
            client.unassign()?;
            outcome?;
        }
        Ok(ends)
    }

    /// Applies `fail_on_data_loss` to a partition whose planned start is no longer in the log.
    fn check_loss(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        low: i64,
        high: i64,
    ) -> Result<i64, Unavailable> {
        if from >= low && from <= high {
            return Ok(from);
        }
        let what = if from < low {
            format!("offsets {from}..{low} of {topic}-{partition} were deleted (the log now starts at {low})")
        } else {
            format!(
                "{topic}-{partition} ends at {high}, before the offset {from} already read (the topic was recreated or truncated)"
            )
        };
        if self.options.fail_on_data_loss {
            return Err(Unavailable::Fatal(Error::Source {
                source_name: self.name.clone(),
                message: format!(
                    "data loss: {what}; set fail_on_data_loss(false) to go on from the offsets available"
                ),
            }));
        }
        log::warn!(
            "{}: {what}; going on from offset {} (fail_on_data_loss is off)",
            self.name,
            from.clamp(low, high)
        );
        Ok(from.clamp(low, high))
    }

    fn remember_starts(&self, new_starts: Vec<(String, i32, i64)>) -> Result<(), Unavailable> {
        let snapshot = {
            let mut starts = lock(&self.starts);
            for (topic, partition, at) in new_starts {
                starts.0.set(topic, partition, at);
            }
            starts.1 = true;
            starts.0.clone()
        };
        if let Some(dir) = lock(&self.metadata_path).clone() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Unavailable::Fatal(Error::io(format!("creating {}", dir.display()), e)))?;
            crate::checkpoint::file::write_json(&dir.join(STARTS_FILE), STARTS_KIND, &snapshot)
                .map_err(Unavailable::Fatal)?;
        }
        Ok(())
    }

    fn succeeded(&self) {
        lock(&self.backoff).reset();
        lock(&self.status).active = !self.stopped.load(Ordering::SeqCst);
    }

    fn failed(&self, doing: &str, message: &str) {
        let wait = lock(&self.backoff).failed();
        {
            let mut status = lock(&self.status);
            status.errors += 1;
            status.active = false;
            status.last_error = Some(message.to_string());
        }
        log::warn!(
            "{}: {doing}: the Kafka brokers at {} did not answer ({message}); retrying in {} ms",
            self.name,
            self.options.bootstrap_servers,
            wait.as_millis()
        );
    }

    fn reader(&self, topic: &str, partition: i32) -> Result<Arc<Mutex<Reader>>> {
        let mut readers = lock(&self.readers);
        if let Some(r) = readers.get(&(topic.to_string(), partition)) {
            return Ok(r.clone());
        }
        let consumer: BaseConsumer<Quiet> =
            self.consumer_config().create_with_context(Quiet).map_err(|e| {
                Error::InvalidConfig(format!(
                    "{}: the Kafka client settings are refused: {e}",
                    self.name
                ))
            })?;
        let reader = Arc::new(Mutex::new(Reader {
            consumer,
            next: None,
            pending: None,
        }));
        readers.insert((topic.to_string(), partition), reader.clone());
        Ok(reader)
    }

    /// Emits the committed records of `topic`/`partition` in `[from, until)`.
    fn read(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        until: i64,
        emit: &mut dyn FnMut(KafkaRecord),
    ) -> Result<()> {
        if from >= until {
            return Ok(());
        }
        let shared_reader = self.reader(topic, partition)?;
        let mut guard = lock(&shared_reader);
        let reader: &mut Reader = &mut guard;
        // Where the consumer was last assigned, and whether it has been seen to hand out the
        // record at `at` or one before it (then no record of the range was skipped).
        let mut assigned_at = None;
        let mut covered = true;
        if reader.next != Some(from) {
            self.assign(reader, topic, partition, from)?;
            reader.pending = None;
            reader.next = Some(from);
            assigned_at = Some((from, Instant::now()));
            covered = false;
        }
        let mut at = from;
        let mut emitted = 0_u64;
        match reader.pending.take() {
            Some(record) if record.offset >= until => reader.pending = Some(record),
            Some(record) => {
                at = record.offset + 1;
                emit(record);
                emitted += 1;
            }
            None => {}
        }
        let mut deadline = Instant::now() + self.options.fetch_timeout;
        let mut backoff = Backoff::default();
        while at < until && reader.pending.is_none() {
            let polled = reader.consumer.poll(std::time::Duration::from_millis(100));
            match polled {
                Some(Ok(message)) => {
                    let record = to_record(&message);
                    drop(message);
                    if record.offset <= at {
                        covered = true;
                    } else if !covered {
                        // The first record is past `at`: the broker skipped the batch holding
                        // `at` (tansu 0.6 serves a fetch from the batches that *start* at or
                        // after the offset asked). Ask again from further back.
                        match self.rewind(reader, topic, partition, at, assigned_at)? {
                            Some(again) => {
                                assigned_at = Some(again);
                                continue;
                            }
                            None => covered = true,
                        }
                    }
                    if record.offset < at {
                        continue;
                    }
                    if record.offset >= until {
                        reader.pending = Some(record);
                        break;
                    }
                    at = record.offset + 1;
                    emit(record);
                    emitted += 1;
                    deadline = Instant::now() + self.options.fetch_timeout;
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None
                    if !covered && assigned_at.is_some_and(|(_, t)| t.elapsed() >= REWIND_AFTER) =>
                {
                    // Nothing comes from where the consumer was assigned: as above.
                    assigned_at = self.rewind(reader, topic, partition, at, assigned_at)?;
                    covered = assigned_at.is_none();
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => {
                    // The rest of the range may be transaction markers or aborted records,
                    // which a read-committed consumer skips without handing anything out.
                    if position(&reader.consumer, topic, partition).is_some_and(|p| p >= until) {
                        break;
                    }
                    if Instant::now() >= deadline {
                        return Err(self.read_error(
                            topic,
                            partition,
                            &format!(
                                "offsets {at}..{until} did not arrive within {} s (fetch_timeout)",
                                self.options.fetch_timeout.as_secs()
                            ),
                        ));
                    }
                }
                Some(Err(e)) => {
                    if is_out_of_range(&e) && self.options.fail_on_data_loss {
                        return Err(self.read_error(
                            topic,
                            partition,
                            &format!(
                                "data loss: offset {at} is no longer in the log ({e}); set fail_on_data_loss(false) to skip what was deleted"
                            ),
                        ));
                    }
                    let wait = backoff.failed();
                    self.failed(&format!("reading {topic}-{partition}"), &e.to_string());
                    if Instant::now() >= deadline {
                        return Err(self.read_error(topic, partition, &e.to_string()));
                    }
                    std::thread::sleep(wait.min(std::time::Duration::from_secs(1)));
                }
            }
        }
        reader.next = Some(until);
        lock(&self.status).records += emitted;
        Ok(())
    }

    fn assign(&self, reader: &Reader, topic: &str, partition: i32, offset: i64) -> Result<()> {
        let mut list = TopicPartitionList::new();
        let offset = if offset <= 0 {
            KOffset::Beginning
        } else {
            KOffset::Offset(offset)
        };
        list.add_partition_offset(topic, partition, offset)
            .map_err(|e| self.read_error(topic, partition, &e.to_string()))?;
        reader
            .consumer
            .assign(&list)
            .map_err(|e| self.read_error(topic, partition, &e.to_string()))
    }

    /// Re-assigns the consumer further back than it was (twice the distance to `at`, at least
    /// 64 offsets; the log's start at the latest), so that the batch holding `at` is fetched.
    /// Returns `None` when it was at the start already: then the records before the first one
    /// handed out are really not there (aborted, compacted, transaction markers).
    fn rewind(
        &self,
        reader: &Reader,
        topic: &str,
        partition: i32,
        at: i64,
        assigned_at: Option<(i64, Instant)>,
    ) -> Result<Option<(i64, Instant)>> {
        let was = assigned_at.map_or(at, |(offset, _)| offset);
        if was <= 0 {
            return Ok(None);
        }
        let back = (at - was).max(32) * 2;
        let to = (was - back).max(0);
        log::debug!(
            "{}: {topic}-{partition}: offset {at} not served from {was}; reading from {to}",
            self.name
        );
        self.assign(reader, topic, partition, to)?;
        Ok(Some((to, Instant::now())))
    }

    fn read_error(&self, topic: &str, partition: i32, message: &str) -> Error {
        Error::Source {
            source_name: self.name.clone(),
            message: format!("reading {topic}-{partition}: {message}"),
        }
    }
}

fn is_out_of_range(e: &KafkaError) -> bool {
    e.rdkafka_error_code().is_some_and(|c| {
        matches!(
            c,
            rdkafka::types::RDKafkaErrorCode::OffsetOutOfRange
                | rdkafka::types::RDKafkaErrorCode::AutoOffsetReset
        )
    })
}

/// The consumer's position in `topic`/`partition`: the offset of the next record it hands out.
fn position(consumer: &BaseConsumer<Quiet>, topic: &str, partition: i32) -> Option<i64> {
    let list = consumer.position().ok()?;
    match list.find_partition(topic, partition)?.offset() {
        KOffset::Offset(at) => Some(at),
        _ => None,
    }
}

pub(super) fn to_record(message: &rdkafka::message::BorrowedMessage<'_>) -> KafkaRecord {
    let headers = message
        .headers()
        .map(|h| {
            (0..h.count())
                .filter_map(|i| h.try_get(i))
                .map(|header| (header.key.to_string(), header.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    KafkaRecord {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// The end offsets of `ranges` (`(topic, partition, from, available end)`), taking at most
/// `limit` records in all, shared in proportion to what each partition has (Spark's
/// `maxOffsetsPerTrigger`).
fn cap(ranges: Vec<(String, i32, i64, i64)>, limit: ReadLimit) -> KafkaOffsets {
    let available: Vec<u64> = ranges.iter().map(|r| (r.3 - r.2).max(0) as u64).collect();
    let total: u64 = available.iter().sum();
    let allowed = limit.cap(total);
    let mut shares: Vec<u64> = available
        .iter()
        .map(|&a| {
            if total == 0 {
                0
            } else {
                ((a as u128 * allowed as u128) / total as u128) as u64
            }
        })
        .collect();
    let mut left = allowed - shares.iter().sum::<u64>();
    for (share, &a) in shares.iter_mut().zip(&available) {
        if left == 0 {
            break;
        }
        if *share < a {
            *share += 1;
            left -= 1;
        }
    }
    let mut end = KafkaOffsets::new();
    for ((topic, partition, from, _), share) in ranges.into_iter().zip(shares) {
        end.set(topic, partition, from + share as i64);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(p: i32, from: i64, to: i64) -> (String, i32, i64, i64) {
        ("t".to_string(), p, from, to)
    }

    #[test]
    fn all_available_takes_every_partition_to_its_end() {
        let end = cap(vec![range(0, 0, 10), range(1, 5, 5)], ReadLimit::AllAvailable);
        assert_eq!(end, KafkaOffsets::new().with("t", 0, 10).with("t", 1, 5));
    }

    #[test]
    fn max_offsets_per_trigger_is_shared_in_proportion() {
        let end = cap(
            vec![range(0, 0, 30), range(1, 100, 110), range(2, 7, 7)],
            ReadLimit::Max(8),
        );
        assert_eq!(
            end,
            KafkaOffsets::new()
                .with("t", 0, 6)
                .with("t", 1, 102)
                .with("t", 2, 7)
        );
        // A limit smaller than the number of partitions still moves on.
        let end = cap(vec![range(0, 0, 3), range(1, 0, 3)], ReadLimit::Max(1));
        assert_eq!(end.iter().map(|(_, _, o)| o).sum::<i64>(), 1);
    }
}
