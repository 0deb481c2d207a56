//! What the Kafka source hands out ([`KafkaRecord`]) and where it stands ([`KafkaOffsets`]).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::source::Offset;

/// One record read from Kafka, with everything Kafka says about it (Spark's Kafka source
/// schema: key, value, topic, partition, offset, timestamp, headers).
///
/// The key and value are bytes; [`value_str`](Self::value_str),
/// [`value_json`](Self::value_json) and their `key_` twins decode them.
///
/// ```
/// use streamflow::kafka::KafkaRecord;
///
/// #[derive(serde::Deserialize)]
/// struct Click { user: String }
///
/// let record = KafkaRecord::new("clicks", 0, 41, br#"{"user":"ann"}"#.to_vec()).with_key(b"ann".to_vec());
/// assert_eq!(record.key_str()?, Some("ann"));
/// assert_eq!(record.value_json::<Click>()?.user, "ann");
/// assert_eq!((record.topic.as_str(), record.partition, record.offset), ("clicks", 0, 41));
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KafkaRecord {
    /// The topic it was read from.
    pub topic: String,
    /// The partition of the topic.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp (milliseconds since the epoch), when the producer or broker set one.
    pub timestamp: Option<i64>,
    /// Its key, if it has one.
    pub key: Option<Vec<u8>>,
    /// Its value (`None` for a tombstone).
    pub value: Option<Vec<u8>>,
    /// Its headers, in order (a header may have no value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl KafkaRecord {
    /// A record of `topic`/`partition` at `offset` with `value` and nothing else (for tests).
    ///
    /// ```
    /// let r = streamflow::kafka::KafkaRecord::new("t", 1, 5, b"v".to_vec());
    /// assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
    /// ```
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64, value: Vec<u8>) -> Self {
        KafkaRecord {
            topic: topic.into(),
            partition,
            offset,
            timestamp: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
        }
    }

    /// The same record with `key`.
    ///
    /// ```
    /// let r = streamflow::kafka::KafkaRecord::new("t", 0, 0, vec![]).with_key(b"k".to_vec());
    /// assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
    /// ```
    pub fn with_key(mut self, key: Vec<u8>) -> Self {
        self.key = Some(key);
        self
    }

    fn text<'a>(&self, what: &str, bytes: Option<&'a [u8]>) -> Result<Option<&'a str>> {
        bytes
            .map(|b| {
                std::str::from_utf8(b).map_err(|e| {
                    Error::InvalidConfig(format!(
                        "the {what} of the Kafka record {}-{}@{} is not UTF-8 ({e})",
                        self.topic, self.partition, self.offset
                    ))
                })
            })
            .transpose()
    }

    /// The value as text (`None` for a tombstone); an error if it is not UTF-8.
    ///
    /// ```
    /// let r = streamflow::kafka::KafkaRecord::new("t", 0, 0, b"hello".to_vec());
    /// assert_eq!(r.value_str()?, Some("hello"));
    /// assert!(streamflow::kafka::KafkaRecord::new("t", 0, 1, vec![0xff]).value_str().is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn value_str(&self) -> Result<Option<&str>> {
        self.text("value", self.value.as_deref())
    }

    /// The key as text (`None` without a key); an error if it is not UTF-8.
    ///
    /// ```
    /// let r = streamflow::kafka::KafkaRecord::new("t", 0, 0, vec![]);
    /// assert_eq!(r.key_str()?, None);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn key_str(&self) -> Result<Option<&str>> {
        self.text("key", self.key.as_deref())
    }

    /// The value decoded as JSON into `T`; an error names the record when it does not parse
    /// (or the record is a tombstone).
    ///
    /// ```
    /// let r = streamflow::kafka::KafkaRecord::new("t", 0, 0, b"[1,2]".to_vec());
    /// assert_eq!(r.value_json::<Vec<u32>>()?, [1, 2]);
    /// assert!(r.value_json::<String>().is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn value_json<T: DeserializeOwned>(&self) -> Result<T> {
        self.json("value", self.value.as_deref())
    }

    /// The key decoded as JSON into `T`.
    ///
    /// ```
    /// let r = streamflow::kafka::KafkaRecord::new("t", 0, 0, vec![]).with_key(b"7".to_vec());
    /// assert_eq!(r.key_json::<u8>()?, 7);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn key_json<T: DeserializeOwned>(&self) -> Result<T> {
        self.json("key", self.key.as_deref())
    }

    fn json<T: DeserializeOwned>(&self, what: &str, bytes: Option<&[u8]>) -> Result<T> {
        let bytes = bytes.ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the Kafka record {}-{}@{} has no {what}",
                self.topic, self.partition, self.offset
            ))
        })?;
        serde_json::from_slice(bytes).map_err(|e| {
            Error::InvalidConfig(format!(
                "the {what} of the Kafka record {}-{}@{} is not the JSON expected: {e}",
                self.topic, self.partition, self.offset
            ))
        })
    }

    /// The value of the first header called `name`.
    ///
    /// ```
    /// let mut r = streamflow::kafka::KafkaRecord::new("t", 0, 0, vec![]);
    /// r.headers.push(("trace".into(), Some(b"42".to_vec())));
    /// assert_eq!(r.header("trace"), Some(&b"42"[..]));
    /// assert_eq!(r.header("other"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// The Kafka source's position: per topic, per partition, the offset of the next record to
/// read (Spark's JSON offsets: `{"topic":{"0":23,"1":-1}}`).
///
/// A batch reads, in each partition, the records from its start offset up to (not including)
/// its end offset. Recorded in the checkpoint before a batch runs, so a restart reads exactly
/// the same records.
///
/// ```
/// use streamflow::kafka::KafkaOffsets;
///
/// let offsets = KafkaOffsets::new().with("orders", 0, 120).with("orders", 1, 80);
/// assert_eq!(offsets.get("orders", 1), Some(80));
/// assert_eq!(serde_json::to_string(&offsets)?, r#"{"orders":{"0":120,"1":80}}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct KafkaOffsets(pub BTreeMap<String, BTreeMap<i32, i64>>);

impl KafkaOffsets {
    /// No partitions.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::KafkaOffsets::new().len(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The same offsets with `topic`/`partition` at `offset`. In
    /// [`StartingOffsets::Specific`](super::StartingOffsets::Specific), `-2` means the
    /// earliest offset and `-1` the latest, as in Spark.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOffsets::new().with("t", 0, 3);
    /// assert_eq!(o.get("t", 0), Some(3));
    /// ```
    pub fn with(mut self, topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        self.set(topic.into(), partition, offset);
        self
    }

    /// The offset of `topic`/`partition`, if it has one.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::KafkaOffsets::new().get("t", 0), None);
    /// ```
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.get(topic).and_then(|p| p.get(&partition)).copied()
    }

    pub(crate) fn set(&mut self, topic: String, partition: i32, offset: i64) {
        self.0.entry(topic).or_default().insert(partition, offset);
    }

    /// Every `(topic, partition, offset)`, in order.
    ///
    /// ```
    /// let o = streamflow::kafka::KafkaOffsets::new().with("b", 0, 1).with("a", 2, 5);
    /// assert_eq!(o.iter().collect::<Vec<_>>(), [("a", 2, 5), ("b", 0, 1)]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> + '_ {
        self.0
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(&p, &o)| (t.as_str(), p, o)))
    }

    /// How many partitions it has an offset for.
    ///
    /// ```
    /// assert_eq!(streamflow::kafka::KafkaOffsets::new().with("t", 0, 0).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    /// Whether it has no partitions.
    ///
    /// ```
    /// assert!(streamflow::kafka::KafkaOffsets::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Offset for KafkaOffsets {
    /// Per partition the smaller offset; a partition `other` does not know keeps its offset.
    fn earliest(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (topic, partition, at) in self.iter() {
            if let Some(o) = other.get(topic, partition) {
                out.set(topic.to_string(), partition, at.min(o));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_through_spark_json() {
        let o = KafkaOffsets::new()
            .with("t", 0, 5)
            .with("t", 10, -2)
            .with("u", 1, 0);
        let text = serde_json::to_string(&o).unwrap_or_default();
        assert_eq!(text, r#"{"t":{"0":5,"10":-2},"u":{"1":0}}"#);
        assert_eq!(serde_json::from_str::<KafkaOffsets>(&text).ok(), Some(o));
    }

    #[test]
    fn earliest_takes_the_smaller_offset_of_known_partitions() {
        let a = KafkaOffsets::new().with("t", 0, 9).with("t", 1, 3);
        let b = KafkaOffsets::new().with("t", 0, 4);
        assert_eq!(
            a.earliest(&b),
            KafkaOffsets::new().with("t", 0, 4).with("t", 1, 3)
        );
    }
}
