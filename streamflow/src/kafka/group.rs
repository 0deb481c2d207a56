//! Scale-out over a consumer group, as Kafka Streams does it: processes started with the same
//! group id split the input topic's partitions through Kafka's group protocol; each owns the
//! keyed state of its partitions, kept in a changelog topic, and a rebalance moves the state
//! with the partitions.
//!
//! A [`GroupJob`] runs a keyed update function `(record, &mut Option<state>) -> messages` over
//! the records of its partitions, in offset order per partition, in small batches. The state of
//! input partition `p` lives in memory and in partition `p` of the changelog topic (which needs
//! as many partitions as the input), as entries `key → state (JSON)` followed by a *commit*
//! naming the next input offset. A batch is made final in this order: its output messages are
//! written and acknowledged, then its changelog entries and commit. So the changelog's last
//! commit is always a point whose output is complete.
//!
//! **Rebalance.** When partitions are assigned, the new owner first *claims* each one: it
//! writes a claim record (its owner id — the member name and this process's incarnation, so
//! that a member restarted under the same name is a new owner — and a counter) to the
//! partition's changelog and reads the changelog from the start up to its own claim. Entries count only when followed by
//! a commit of the same owner, and only the entries of the owner of the latest claim before
//! them — so whatever a previous owner writes after the claim (a paused process that did not
//! see its partitions revoked) is ignored: that is the fencing. The state is what the last
//! commit says; the input is read from the commit's offset. On revocation the old owner drops
//! the state of the partitions at once, and writes nothing more for them.
//!
//! **Output guarantee.** Each output message carries the header [`SOURCE_HEADER`],
//! `topic:partition:offset` of the input record it was made from (and its index when a record
//! makes several). Work replayed after a crash or a rebalance repeats output with the same
//! source position and, since state is restored as of the commit, the same content; a reader
//! that keeps the first message of each source position ([`SourceDedup`]) sees every output
//! exactly once. Plain readers see at-least-once. Kafka transactions would make it exactly-once
//! for `read_committed` readers; tansu 0.6, the broker of the tests, has none.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset as KOffset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::record::KafkaRecord;
use super::sink::{Deliveries, KafkaMessage, send};
use super::{Backoff, Quiet, client_config};
use crate::error::{Error, Result};
use crate::exec::lock;

/// The header naming the input record (`topic:partition:offset[:index]`) an output message of a
/// [`GroupJob`] was made from.
pub const SOURCE_HEADER: &str = "streamflow.source";
/// The header naming the group member that wrote a message.
pub const MEMBER_HEADER: &str = "streamflow.member";
const CLAIM_HEADER: &str = "streamflow.claim";
const OWNER_HEADER: &str = "streamflow.owner";
const POSITION_HEADER: &str = "streamflow.position";

/// The settings of a [`GroupJob`].
///
/// ```
/// use streamflow::kafka::GroupJobOptions;
///
/// let options = GroupJobOptions::new("127.0.0.1:9092", "totals")
///     .input("events")
///     .output("totals-out")
///     .changelog("totals-changelog")
///     .member("worker-1")
///     .max_records_per_batch(500);
/// assert_eq!(options.group_id(), "totals");
/// ```
#[derive(Clone, Debug)]
pub struct GroupJobOptions {
    bootstrap_servers: String,
    group_id: String,
    input: String,
    output: String,
    changelog: Option<String>,
    member: Option<String>,
    max_records_per_batch: usize,
    timeout: StdDuration,
    config: BTreeMap<String, String>,
}

impl GroupJobOptions {
    /// A job of the consumer group `group_id` on the brokers at `bootstrap_servers`.
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("127.0.0.1:9092", "g");
    /// # let _ = o;
    /// ```
    pub fn new(bootstrap_servers: impl Into<String>, group_id: impl Into<String>) -> Self {
        GroupJobOptions {
            bootstrap_servers: bootstrap_servers.into(),
            group_id: group_id.into(),
            input: String::new(),
            output: String::new(),
            changelog: None,
            member: None,
            max_records_per_batch: 1_000,
            timeout: StdDuration::from_secs(30),
            config: BTreeMap::new(),
        }
    }

    /// The group id.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::GroupJobOptions::new("h:1", "g").group_id(), "g");
    /// ```
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The topic read (its partitions are split among the group's members).
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("h:1", "g").input("events");
    /// # let _ = o;
    /// ```
    pub fn input(mut self, topic: impl Into<String>) -> Self {
        self.input = topic.into();
        self
    }

    /// The topic of output messages that name none.
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("h:1", "g").output("totals");
    /// # let _ = o;
    /// ```
    pub fn output(mut self, topic: impl Into<String>) -> Self {
        self.output = topic.into();
        self
    }

    /// The changelog topic (default `<group id>-changelog`); it must have as many partitions as
    /// the input.
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("h:1", "g").changelog("g-state");
    /// # let _ = o;
    /// ```
    pub fn changelog(mut self, topic: impl Into<String>) -> Self {
        self.changelog = Some(topic.into());
        self
    }

    /// This member's name, written in its claims and output (default: process id and start
    /// time).
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("h:1", "g").member("worker-2");
    /// # let _ = o;
    /// ```
    pub fn member(mut self, name: impl Into<String>) -> Self {
        self.member = Some(name.into());
        self
    }

    /// At most `n` records per batch (default 1000).
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("h:1", "g").max_records_per_batch(100);
    /// # let _ = o;
    /// ```
    pub fn max_records_per_batch(mut self, n: usize) -> Self {
        self.max_records_per_batch = n.max(1);
        self
    }

    /// How long restoring a partition or acknowledging a batch may take (default 30 s).
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("h:1", "g").timeout(std::time::Duration::from_secs(5));
    /// # let _ = o;
    /// ```
    pub fn timeout(mut self, timeout: StdDuration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A librdkafka setting for the group consumer (`"session.timeout.ms"` …).
    ///
    /// ```
    /// let o = streamflow::kafka::GroupJobOptions::new("h:1", "g").option("session.timeout.ms", "6000");
    /// # let _ = o;
    /// ```
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    fn changelog_topic(&self) -> String {
        self.changelog
            .clone()
            .unwrap_or_else(|| format!("{}-changelog", self.group_id))
    }
}

/// The keyed state of one owned input partition.
struct Owned<S> {
    state: HashMap<Vec<u8>, S>,
    /// The next input offset to process.
    position: i64,
}

/// What the rebalance callback and the processing loop share.
struct Shared<S> {
    options: GroupJobOptions,
    member: String,
    /// Who writes this process's claims and changelog records: the member's name and this
    /// process's incarnation (`member#pid-nanos`), so a member restarted under the same name
    /// (by a supervisor) neither mistakes its former self's claim for its own nor counts the
    /// writes of a former self that still runs.
    owner: String,
    changelog: String,
    producer: ThreadedProducer<Deliveries>,
    owned: Mutex<HashMap<i32, Owned<S>>>,
    /// Partitions assigned at a position whose record has not been seen yet: where the consumer
    /// was sent and when (see `GroupJob::cover`).
    uncovered: Mutex<HashMap<i32, (i64, Instant)>>,
    /// A failure inside a rebalance callback, reported by the loop.
    failure: Mutex<Option<Error>>,
    nonce: std::sync::atomic::AtomicU64,
}

struct GroupContext<S> {
    shared: Arc<Shared<S>>,
}

impl<S: Send + Sync + 'static> ClientContext for GroupContext<S> {}

impl<S: Serialize + DeserializeOwned + Send + Sync + 'static> ConsumerContext for GroupContext<S> {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let shared = &self.shared;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut list = TopicPartitionList::new();
                for element in tpl.elements() {
                    let partition = element.partition();
                    match shared.restore(partition) {
                        Ok(position) => {
                            let offset = if position <= 0 {
                                KOffset::Beginning
                            } else {
                                lock(&shared.uncovered).insert(partition, (position, Instant::now()));
                                KOffset::Offset(position)
                            };
                            if let Err(e) = list.add_partition_offset(element.topic(), partition, offset) {
                                shared.fail(shared.error(format!("assigning {partition}: {e}")));
                            }
                        }
                        Err(e) => shared.fail(e),
                    }
                }
                if let Err(e) = consumer.assign(&list) {
                    shared.fail(shared.error(format!("assigning partitions: {e}")));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                {
                    let mut owned = lock(&shared.owned);
                    let mut uncovered = lock(&shared.uncovered);
                    for p in &revoked {
                        owned.remove(p);
                        uncovered.remove(p);
                    }
                }
                log::info!("{}: partitions {revoked:?} revoked", shared.member);
                if let Err(e) = consumer.unassign() {
                    log::warn!("{}: unassigning: {e}", shared.member);
                }
            }
            other => log::warn!("{}: rebalance error {other:?}", shared.member),
        }
    }
}

impl<S: Serialize + DeserializeOwned> Shared<S> {
    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Source {
            source_name: format!("GroupJob[{}/{}]", self.options.group_id, self.member),
            message: message.to_string(),
        }
    }

    fn fail(&self, error: Error) {
        log::error!("{error}");
        lock(&self.failure).get_or_insert(error);
    }

    fn flush(&self, what: &str) -> Result<()> {
        self.producer
            .flush(self.options.timeout)
            .map_err(|e| self.error(format!("flushing {what}: {e}")))?;
        match self.producer.context().take_failures() {
            Some((n, last)) => Err(self.error(format!("{n} {what} were not delivered (last error: {last})"))),
            None => Ok(()),
        }
    }

    /// Claims changelog partition `partition`, rebuilds its state up to the claim, keeps it as
    /// owned; returns the input offset to read from.
    fn restore(&self, partition: i32) -> Result<i64> {
        let started = Instant::now();
        let nonce = format!("{}:{}", self.owner, self.nonce.fetch_add(1, Ordering::SeqCst));
        let headers = OwnedHeaders::new().insert(Header {
            key: CLAIM_HEADER,
            value: Some(nonce.as_bytes()),
        });
        let claim: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.changelog)
            .partition(partition)
            .headers(headers);
        send(&self.producer, claim)
            .map_err(|e| self.error(format!("claiming partition {partition}: {e}")))?;
        self.flush("claims")?;

        let reader: BaseConsumer<Quiet> = client_config(&self.options.bootstrap_servers)
            .set("group.id", format!("{}-restore", self.options.group_id))
            .set("fetch.wait.max.ms", "10")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create_with_context(Quiet)
            .map_err(|e| Error::InvalidConfig(format!("the changelog reader is refused: {e}")))?;
        // The partition's leader known before the assignment: librdkafka otherwise looks up the
        // start offset on a 500 ms retry timer, which made each restore take 0.6 s.
        reader
            .fetch_metadata(Some(&self.changelog), self.options.timeout)
            .map_err(|e| self.error(format!("the changelog's metadata: {e}")))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.changelog, partition, KOffset::Beginning)
            .map_err(|e| self.error(e))?;
        reader.assign(&list).map_err(|e| self.error(e))?;

        let mut restore = Restore::<S>::default();
        let deadline = Instant::now() + self.options.timeout;
        loop {
            if Instant::now() >= deadline {
                return Err(self.error(format!(
                    "restoring partition {partition}: its changelog did not reach this member's claim within {} s",
                    self.options.timeout.as_secs()
                )));
            }
            match reader.poll(StdDuration::from_millis(100)) {
                Some(Ok(message)) => {
                    let header = |name: &str| -> Option<String> {
                        let headers = message.headers()?;
                        (0..headers.count())
                            .filter_map(|i| headers.try_get(i))
                            .find(|h| h.key == name)
                            .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                    };
                    if let Some(claim) = header(CLAIM_HEADER) {
                        if claim == nonce {
                            break;
                        }
                        restore.claim(claim.rsplit_once(':').map_or(claim.as_str(), |(m, _)| m));
                    } else if let Some(owner) = header(OWNER_HEADER) {
                        match header(POSITION_HEADER) {
                            Some(position) => {
                                let position = position.parse().map_err(|e| {
                                    self.error(format!("a changelog commit with position {position:?}: {e}"))
                                })?;
                                restore.commit(&owner, position);
                            }
                            None => {
                                let key = message.key().unwrap_or_default().to_vec();
                                let value = match message.payload() {
                                    Some(bytes) => Some(serde_json::from_slice(bytes).map_err(|e| {
                                        self.error(format!("a changelog entry of partition {partition} is not the state's JSON: {e}"))
                                    })?),
                                    None => None,
                                };
                                restore.entry(&owner, key, value);
                            }
                        }
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => log::warn!(
                    "{}: reading the changelog of partition {partition}: {e}",
                    self.member
                ),
            }
        }
        let position = restore.position;
        log::info!(
            "{}: partition {partition} restored: {} keys, input from offset {position}, in {} ms",
            self.member,
            restore.state.len(),
            started.elapsed().as_millis()
        );
        lock(&self.owned).insert(
            partition,
            Owned {
                state: restore.state,
                position,
            },
        );
        Ok(position)
    }
}

/// Rebuilding a partition's state from its changelog, record by record.
struct Restore<S> {
    owner: Option<String>,
    pending: Vec<(Vec<u8>, Option<S>)>,
    state: HashMap<Vec<u8>, S>,
    position: i64,
}

impl<S> Default for Restore<S> {
    fn default() -> Self {
        Restore {
            owner: None,
            pending: Vec::new(),
            state: HashMap::new(),
            position: 0,
        }
    }
}

impl<S> Restore<S> {
    fn claim(&mut self, member: &str) {
        self.owner = Some(member.to_string());
        self.pending.clear();
    }

    fn current(&self, owner: &str) -> bool {
        self.owner.as_deref() == Some(owner)
    }

    fn entry(&mut self, owner: &str, key: Vec<u8>, value: Option<S>) {
        if self.current(owner) {
            self.pending.push((key, value));
        }
    }

    fn commit(&mut self, owner: &str, position: i64) {
        if !self.current(owner) {
            return;
        }
        for (key, value) in self.pending.drain(..) {
            match value {
                Some(v) => self.state.insert(key, v),
                None => self.state.remove(&key),
            };
        }
        self.position = position;
    }
}

/// The update function of a [`GroupJob`].
type Update<S> = Box<dyn FnMut(&KafkaRecord, &mut Option<S>) -> Vec<KafkaMessage> + Send>;

/// A keyed job scaled out over a consumer group; see the [module docs](self).
///
/// ```no_run
/// use std::sync::atomic::AtomicBool;
/// use streamflow::kafka::{GroupJob, GroupJobOptions, KafkaMessage};
///
/// // Running totals per key of the numbers in the values of `events`.
/// let options = GroupJobOptions::new("127.0.0.1:9092", "totals").input("events").output("totals");
/// let mut job = GroupJob::new(options, |record, total: &mut Option<i64>| {
///     let n: i64 = record.value_str().ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
///     let t = total.get_or_insert(0);
///     *t += n;
///     vec![KafkaMessage::new(t.to_string()).key(record.key.clone().unwrap_or_default())]
/// })?;
/// job.run(&AtomicBool::new(false))?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct GroupJob<S: Serialize + DeserializeOwned + Send + Sync + 'static> {
    shared: Arc<Shared<S>>,
    consumer: BaseConsumer<GroupContext<S>>,
    update: Update<S>,
    processed: u64,
}

impl<S: Serialize + DeserializeOwned + Send + Sync + 'static> GroupJob<S> {
    /// A member of the group running `update` on each record with the state of its key (the
    /// record's key; no key is the empty key). Connects, but joins the group only in
    /// [`run`](Self::run).
    ///
    /// ```no_run
    /// use streamflow::kafka::{GroupJob, GroupJobOptions};
    /// let job = GroupJob::new(GroupJobOptions::new("h:1", "g").input("i").output("o"), |_, _: &mut Option<u64>| vec![])?;
    /// # let _ = job;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn new(
        options: GroupJobOptions,
        update: impl FnMut(&KafkaRecord, &mut Option<S>) -> Vec<KafkaMessage> + Send + 'static,
    ) -> Result<Self> {
        if options.input.is_empty() || options.output.is_empty() {
            return Err(Error::InvalidConfig(
                "GroupJob: name the input and output topics (GroupJobOptions::input, ::output)".into(),
            ));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let incarnation = format!("{}-{nanos}", std::process::id());
        let member = options.member.clone().unwrap_or_else(|| incarnation.clone());
        let owner = format!("{member}#{incarnation}");
        let producer: ThreadedProducer<Deliveries> = client_config(&options.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2")
            .create_with_context(Deliveries::default())
            .map_err(|e| Error::InvalidConfig(format!("GroupJob: the producer settings are refused: {e}")))?;
        let shared = Arc::new(Shared {
            changelog: options.changelog_topic(),
            options: options.clone(),
            member,
            owner,
            producer,
            owned: Mutex::new(HashMap::new()),
            uncovered: Mutex::new(HashMap::new()),
            failure: Mutex::new(None),
            nonce: std::sync::atomic::AtomicU64::new(0),
        });
        let mut config = client_config(&options.bootstrap_servers);
        config
            .set("group.id", &options.group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500");
        for (k, v) in &options.config {
            config.set(k, v);
        }
        let consumer: BaseConsumer<GroupContext<S>> = config
            .create_with_context(GroupContext {
                shared: shared.clone(),
            })
            .map_err(|e| Error::InvalidConfig(format!("GroupJob: the consumer settings are refused: {e}")))?;
        Ok(GroupJob {
            shared,
            consumer,
            update: Box::new(update),
            processed: 0,
        })
    }

    /// This member's name.
    ///
    /// ```no_run
    /// # use streamflow::kafka::{GroupJob, GroupJobOptions};
    /// let job = GroupJob::new(GroupJobOptions::new("h:1", "g").input("i").output("o").member("w1"), |_, _: &mut Option<u64>| vec![])?;
    /// assert_eq!(job.member(), "w1");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn member(&self) -> &str {
        &self.shared.member
    }

    /// The input partitions this member owns now.
    ///
    /// ```no_run
    /// # use streamflow::kafka::{GroupJob, GroupJobOptions};
    /// let job = GroupJob::new(GroupJobOptions::new("h:1", "g").input("i").output("o"), |_, _: &mut Option<u64>| vec![])?;
    /// assert!(job.owned_partitions().is_empty()); // not joined yet
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn owned_partitions(&self) -> Vec<i32> {
        let mut owned: Vec<i32> = lock(&self.shared.owned).keys().copied().collect();
        owned.sort_unstable();
        owned
    }

    /// How many input records this member has processed (replays included).
    ///
    /// ```no_run
    /// # use streamflow::kafka::{GroupJob, GroupJobOptions};
    /// let job = GroupJob::new(GroupJobOptions::new("h:1", "g").input("i").output("o"), |_, _: &mut Option<u64>| vec![])?;
    /// assert_eq!(job.processed(), 0);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Joins the group and processes batches until `stop` is set (then leaves the group, so
    /// the others take over at once) or a failure.
    ///
    /// ```no_run
    /// # use streamflow::kafka::{GroupJob, GroupJobOptions};
    /// let stop = std::sync::atomic::AtomicBool::new(false);
    /// let mut job = GroupJob::new(GroupJobOptions::new("h:1", "g").input("i").output("o"), |_, _: &mut Option<u64>| vec![])?;
    /// job.run(&stop)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn run(&mut self, stop: &AtomicBool) -> Result<()> {
        self.consumer
            .subscribe(&[self.shared.options.input.as_str()])
            .map_err(|e| self.shared.error(format!("joining the group: {e}")))?;
        let mut backoff = Backoff::default();
        let outcome = loop {
            if stop.load(Ordering::SeqCst) {
                break Ok(());
            }
            if let Some(e) = lock(&self.shared.failure).take() {
                break Err(e);
            }
            let mut batch = Vec::new();
            let mut wait = StdDuration::from_millis(100);
            while batch.len() < self.shared.options.max_records_per_batch {
                match self.consumer.poll(wait) {
                    Some(Ok(message)) => batch.push(super::source::to_record(&message)),
                    Some(Err(KafkaError::PartitionEOF(_))) => {}
                    Some(Err(e)) => {
                        let pause = backoff.failed();
                        log::warn!(
                            "{}: polling: {e}; retrying in {} ms",
                            self.shared.member,
                            pause.as_millis()
                        );
                        std::thread::sleep(pause);
                        break;
                    }
                    None => break,
                }
                wait = StdDuration::ZERO;
            }
            self.cover(&mut batch);
            if batch.is_empty() {
                continue;
            }
            backoff.reset();
            if let Err(e) = self.process(batch) {
                break Err(e);
            }
        };
        self.consumer.unsubscribe();
        lock(&self.shared.owned).clear();
        outcome
    }

    /// Makes sure no record was skipped where a partition was assigned mid-log. Kafka serves a
    /// fetch at any offset; tansu 0.6 only from the record batches that *start* at or after it,
    /// so a consumer sent to a position inside a batch gets nothing, or records past it. Until
    /// the record at (or before) the position is seen, later records are dropped, and the
    /// consumer is sent further back (twice the distance, at least 64) when one comes or
    /// nothing comes for a second; records before the position are skipped by `process`.
    fn cover(&mut self, batch: &mut Vec<KafkaRecord>) {
        let mut uncovered = lock(&self.shared.uncovered);
        if uncovered.is_empty() {
            return;
        }
        let positions: HashMap<i32, i64> = lock(&self.shared.owned)
            .iter()
            .map(|(p, o)| (*p, o.position))
            .collect();
        let mut rewind = BTreeSet::new();
        batch.retain(|r| {
            if !uncovered.contains_key(&r.partition) {
                return true;
            }
            if r.offset <= positions.get(&r.partition).copied().unwrap_or(0) {
                uncovered.remove(&r.partition);
                true
            } else {
                rewind.insert(r.partition);
                false
            }
        });
        rewind.extend(
            uncovered
                .iter()
                .filter(|(_, (_, since))| since.elapsed() >= StdDuration::from_secs(1))
                .map(|(p, _)| *p),
        );
        for partition in rewind {
            let Some(&(at, _)) = uncovered.get(&partition) else {
                continue;
            };
            let position = positions.get(&partition).copied().unwrap_or(0);
            let to = (at - (position - at).max(32) * 2).max(0);
            let offset = if to == 0 {
                KOffset::Beginning
            } else {
                KOffset::Offset(to)
            };
            let topic = &self.shared.options.input;
            match self
                .consumer
                .seek(topic, partition, offset, StdDuration::from_secs(1))
            {
                Ok(()) if to == 0 => {
                    uncovered.remove(&partition);
                }
                Ok(()) => {
                    uncovered.insert(partition, (to, Instant::now()));
                }
                // Not fetching yet: tried again in a second.
                Err(e) => log::debug!("{}: seeking {topic}-{partition} to {to}: {e}", self.shared.member),
            }
        }
    }

    /// Runs a batch: the update per record of an owned partition not processed yet, the output
    /// (acknowledged), then the changelog entries and commits (acknowledged).
    fn process(&mut self, batch: Vec<KafkaRecord>) -> Result<()> {
        let shared = self.shared.clone();
        let mut owned = lock(&shared.owned);
        let mut changed: BTreeMap<i32, (HashSet<Vec<u8>>, i64)> = BTreeMap::new();
        for record in batch {
            let Some(part) = owned.get_mut(&record.partition) else {
                continue; // revoked since it was polled
            };
            if record.offset < part.position {
                continue;
            }
            let key = record.key.clone().unwrap_or_default();
            let mut state = part.state.remove(&key);
            let messages = (self.update)(&record, &mut state);
            if let Some(state) = state {
                part.state.insert(key.clone(), state);
            }
            part.position = record.offset + 1;
            self.processed += 1;
            let entry = changed.entry(record.partition).or_default();
            entry.0.insert(key);
            entry.1 = part.position;
            let source = format!("{}:{}:{}", record.topic, record.partition, record.offset);
            let many = messages.len() > 1;
            for (i, message) in messages.into_iter().enumerate() {
                let source = if many {
                    format!("{source}:{i}")
                } else {
                    source.clone()
                };
                self.send_output(message, &source)?;
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        shared.flush("output messages")?;
        for (partition, (keys, position)) in &changed {
            let Some(part) = owned.get(partition) else {
                continue;
            };
            for key in keys {
                let value = match part.state.get(key) {
                    Some(state) => Some(serde_json::to_vec(state).map_err(|e| {
                        shared.error(format!("the state of a key cannot be written as JSON: {e}"))
                    })?),
                    None => None,
                };
                let headers = OwnedHeaders::new().insert(Header {
                    key: OWNER_HEADER,
                    value: Some(shared.owner.as_bytes()),
                });
                let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&shared.changelog)
                    .partition(*partition)
                    .key(key.as_slice())
                    .headers(headers);
                if let Some(value) = value.as_deref() {
                    record = record.payload(value);
                }
                send(&shared.producer, record)
                    .map_err(|e| shared.error(format!("writing the changelog: {e}")))?;
            }
            let position = position.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: OWNER_HEADER,
                    value: Some(shared.owner.as_bytes()),
                })
                .insert(Header {
                    key: POSITION_HEADER,
                    value: Some(position.as_bytes()),
                });
            let commit: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&shared.changelog)
                .partition(*partition)
                .headers(headers);
            send(&shared.producer, commit)
                .map_err(|e| shared.error(format!("writing the changelog: {e}")))?;
        }
        shared.flush("changelog records")?;
        if log::log_enabled!(log::Level::Debug) {
            let positions: BTreeMap<i32, i64> = changed.iter().map(|(p, (_, at))| (*p, *at)).collect();
            log::debug!(
                "{}: batch committed; next input offsets {positions:?}",
                shared.member
            );
        }
        Ok(())
    }

    fn send_output(&self, message: KafkaMessage, source: &str) -> Result<()> {
        let shared = &self.shared;
        let topic = message.topic.as_deref().unwrap_or(&shared.options.output);
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len() + 2)
            .insert(Header {
                key: SOURCE_HEADER,
                value: Some(source.as_bytes()),
            })
            .insert(Header {
                key: MEMBER_HEADER,
                value: Some(shared.member.as_bytes()),
            });
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
        send(&shared.producer, record).map_err(|e| shared.error(format!("writing to {topic}: {e}")))
    }
}

/// Keeps, of a [`GroupJob`]'s output read in any order, the first message of each source
/// position ([`SOURCE_HEADER`]); messages without one pass.
///
/// ```
/// use streamflow::kafka::{KafkaRecord, SOURCE_HEADER, SourceDedup};
///
/// let made_from = |offset, source: &str| {
///     let mut r = KafkaRecord::new("totals", 0, offset, b"3".to_vec());
///     r.headers.push((SOURCE_HEADER.to_string(), Some(source.as_bytes().to_vec())));
///     r
/// };
/// let mut dedup = SourceDedup::new();
/// assert!(dedup.keep(&made_from(0, "events:1:40")));
/// assert!(!dedup.keep(&made_from(1, "events:1:40")), "a replay of the same input record");
/// assert!(dedup.keep(&made_from(2, "events:1:41")));
/// ```
#[derive(Default)]
pub struct SourceDedup {
    seen: HashSet<Vec<u8>>,
}

impl SourceDedup {
    /// A dedup that has seen nothing.
    ///
    /// ```
    /// let d = streamflow::kafka::SourceDedup::new();
    /// # let _ = d;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `record` is the first with its source position.
    ///
    /// ```
    /// let mut d = streamflow::kafka::SourceDedup::new();
    /// assert!(d.keep(&streamflow::kafka::KafkaRecord::new("t", 0, 0, vec![])));
    /// ```
    pub fn keep(&mut self, record: &KafkaRecord) -> bool {
        match record.header(SOURCE_HEADER) {
            Some(source) => self.seen.insert(source.to_vec()),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_keeps_committed_entries_of_the_latest_claimant_only() {
        let mut r = Restore::<u64>::default();
        r.claim("a");
        r.entry("a", b"x".to_vec(), Some(1));
        r.commit("a", 10);
        r.entry("a", b"x".to_vec(), Some(2)); // never committed: a crash
        r.claim("b");
        r.entry("a", b"x".to_vec(), Some(99)); // the old owner after the claim: fenced
        r.commit("a", 50);
        r.entry("b", b"y".to_vec(), Some(5));
        r.entry("b", b"x".to_vec(), None);
        r.commit("b", 12);
        assert_eq!(r.position, 12);
        assert_eq!(r.state.get(b"y".as_slice()), Some(&5));
        assert_eq!(r.state.get(b"x".as_slice()), None);
    }
}
