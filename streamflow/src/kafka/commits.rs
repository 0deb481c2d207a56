//! Exactly-once output without broker transactions: the commit markers a [`KafkaSink`]
//! writes in its [`commit_markers`](super::KafkaSinkOptions::commit_markers) mode, and the
//! [`CommittedFilter`] that a reader applies to see each batch once.
//!
//! The sink writes every message of batch `N` with the header
//! [`TRANSACTION_HEADER`] = `writer:N:attempt`; when the engine
//! commits the batch, it waits until every message is acknowledged and then writes, to each
//! partition that received some, a marker: a message without key or value whose header
//! [`COMMIT_HEADER`] names the same attempt. A batch re-run after a crash is written again as a
//! new attempt with its own markers. Within a partition, a reader keeps the messages of the
//! first attempt of each batch whose marker it meets, and drops every other attempt of that
//! batch and every attempt that never got a marker — what Kafka's own transaction markers do
//! for `read_committed` consumers, per partition.
//!
//! [`KafkaSink`]: super::KafkaSink

use std::collections::{BTreeMap, HashMap};

use super::record::KafkaRecord;
use super::sink::TRANSACTION_HEADER;

/// The header of a commit marker: the attempt (`writer:batch:attempt`) it commits in its
/// partition.
pub const COMMIT_HEADER: &str = "streamflow.commit";

/// An attempt's name, `writer:batch:attempt`, split (the writer may itself contain `:`).
fn parse(txn: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(txn).ok()?;
    let mut parts = text.rsplitn(3, ':');
    let _attempt = parts.next()?;
    let batch = parts.next()?.parse().ok()?;
    let writer = parts.next()?;
    Some((writer.to_string(), batch))
}

#[derive(Default)]
struct PartitionState {
    /// Per writer, the last batch committed in this partition.
    committed: HashMap<String, u64>,
    /// Messages of attempts not committed yet, by attempt name: `(writer, batch, messages)`.
    pending: BTreeMap<Vec<u8>, (String, u64, Vec<KafkaRecord>)>,
}

/// Hands on, of the messages of one or more partitions read in offset order, those of
/// committed batch attempts, each batch once; see the [module docs](self).
///
/// Messages without the sink's headers pass straight through. Memory holds only the messages
/// of attempts not committed yet: an attempt left without a marker by a crash is dropped when
/// a later batch of the same writer commits.
///
/// ```
/// use streamflow::kafka::{COMMIT_HEADER, CommittedFilter, KafkaRecord, TRANSACTION_HEADER};
///
/// let message = |offset, value: &str, txn: &str| {
///     let mut r = KafkaRecord::new("out", 0, offset, value.as_bytes().to_vec());
///     r.headers.push((TRANSACTION_HEADER.to_string(), Some(txn.as_bytes().to_vec())));
///     r
/// };
/// let marker = |offset, txn: &str| {
///     let mut r = KafkaRecord::new("out", 0, offset, Vec::new());
///     r.value = None;
///     r.headers.push((COMMIT_HEADER.to_string(), Some(txn.as_bytes().to_vec())));
///     r
/// };
/// let mut filter = CommittedFilter::new();
/// let mut seen = Vec::new();
/// for r in [
///     message(0, "a", "job:7:first"),    // the process died before committing: dropped
///     message(1, "a", "job:7:second"),
///     marker(2, "job:7:second"),         // batch 7 committed: "a" is handed on
///     message(3, "a", "job:7:third"),    // batch 7 re-run after another crash: dropped
///     marker(4, "job:7:third"),
/// ] {
///     seen.extend(filter.push(r));
/// }
/// assert_eq!(seen.len(), 1);
/// assert_eq!((seen[0].offset, seen[0].value_str()?), (1, Some("a")));
/// assert_eq!(filter.held(), 0);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Default)]
pub struct CommittedFilter {
    partitions: HashMap<(String, i32), PartitionState>,
}

impl CommittedFilter {
    /// A filter that has seen nothing.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::CommittedFilter::new().held(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next message of its partition; returns the messages this releases (for a
    /// marker, the committed attempt's messages in offset order; for a message without the
    /// sink's headers, itself).
    ///
    /// ```
    /// use streamflow::kafka::{CommittedFilter, KafkaRecord};
    /// let plain = KafkaRecord::new("t", 0, 0, b"x".to_vec());
    /// assert_eq!(CommittedFilter::new().push(plain.clone()), vec![plain]);
    /// ```
    pub fn push(&mut self, record: KafkaRecord) -> Vec<KafkaRecord> {
        let marker = record.header(COMMIT_HEADER).map(<[u8]>::to_vec);
        let txn = record.header(TRANSACTION_HEADER).map(<[u8]>::to_vec);
        let (txn, is_marker) = match (marker, txn) {
            (Some(m), _) => (m, true),
            (None, Some(t)) => (t, false),
            (None, None) => return vec![record],
        };
        let Some((writer, batch)) = parse(&txn) else {
            return vec![record];
        };
        let state = self
            .partitions
            .entry((record.topic.clone(), record.partition))
            .or_default();
        let done = state.committed.get(&writer).is_some_and(|&c| c >= batch);
        if !is_marker {
            if !done {
                state
                    .pending
                    .entry(txn)
                    .or_insert_with(|| (writer, batch, Vec::new()))
                    .2
                    .push(record);
            }
            return Vec::new();
        }
        if done {
            state.pending.remove(&txn);
            return Vec::new();
        }
        state.committed.insert(writer.clone(), batch);
        let released = state.pending.remove(&txn).map(|p| p.2).unwrap_or_default();
        // Attempts of this writer's batches up to this one that never committed: gone for good.
        state
            .pending
            .retain(|_, (w, b, _)| !(*w == writer && *b <= batch));
        released
    }

    /// How many messages are held, waiting for their attempt's marker.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::CommittedFilter::new().held(), 0);
    /// ```
    pub fn held(&self) -> usize {
        self.partitions
            .values()
            .flat_map(|p| p.pending.values())
            .map(|p| p.2.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(partition: i32, offset: i64, header: &str, txn: &str) -> KafkaRecord {
        let mut r = KafkaRecord::new("t", partition, offset, format!("{offset}").into_bytes());
        r.headers
            .push((header.to_string(), Some(txn.as_bytes().to_vec())));
        r
    }

    fn offsets(records: Vec<KafkaRecord>) -> Vec<i64> {
        records.into_iter().map(|r| r.offset).collect()
    }

    #[test]
    fn partitions_commit_independently_and_stale_attempts_are_dropped() {
        let mut f = CommittedFilter::new();
        // Partition 0: attempt a of batch 1 commits; partition 1: attempt a has no marker (the
        // process died between the two markers), attempt b re-runs the batch on both.
        assert!(f.push(with(0, 0, TRANSACTION_HEADER, "w:x:1:a")).is_empty());
        assert!(f.push(with(1, 0, TRANSACTION_HEADER, "w:x:1:a")).is_empty());
        assert_eq!(offsets(f.push(with(0, 1, COMMIT_HEADER, "w:x:1:a"))), vec![0]);
        assert!(f.push(with(0, 2, TRANSACTION_HEADER, "w:x:1:b")).is_empty());
        assert!(f.push(with(1, 1, TRANSACTION_HEADER, "w:x:1:b")).is_empty());
        assert!(f.push(with(0, 3, COMMIT_HEADER, "w:x:1:b")).is_empty());
        assert_eq!(offsets(f.push(with(1, 2, COMMIT_HEADER, "w:x:1:b"))), vec![1]);
        assert_eq!(f.held(), 0, "attempt a of partition 1 is dropped once b commits");
        // A later batch of another writer is independent.
        assert!(f.push(with(1, 3, TRANSACTION_HEADER, "v:1:a")).is_empty());
        assert_eq!(offsets(f.push(with(1, 4, COMMIT_HEADER, "v:1:a"))), vec![3]);
    }

    #[test]
    fn an_attempt_without_marker_is_dropped_when_a_later_batch_commits() {
        let mut f = CommittedFilter::new();
        assert!(f.push(with(0, 0, TRANSACTION_HEADER, "w:3:a")).is_empty());
        assert!(f.push(with(0, 1, TRANSACTION_HEADER, "w:4:b")).is_empty());
        assert_eq!(f.held(), 2);
        assert_eq!(offsets(f.push(with(0, 2, COMMIT_HEADER, "w:4:b"))), vec![1]);
        assert_eq!(f.held(), 0);
        // Batch 3 can no longer commit here: it is older than a committed batch.
        assert!(f.push(with(0, 3, TRANSACTION_HEADER, "w:3:c")).is_empty());
        assert!(f.push(with(0, 4, COMMIT_HEADER, "w:3:c")).is_empty());
        assert_eq!(f.held(), 0);
    }
}
