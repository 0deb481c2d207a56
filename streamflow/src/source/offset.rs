//! Source positions: [`Offset`] and [`ReadLimit`].

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A position in a source, recorded in the batch plan before a batch runs (and written to the
/// checkpoint's `offsets/<batch id>`), so a batch can be read again with exactly the same data.
///
/// Implemented for `u64` and `i64` (a count or a position: rows generated, batches queued, blocks received, files
/// taken — "the first `n` units") and for `BTreeMap<P, u64>` (a position per partition, as
/// Kafka has). A user source may use its own type.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use streamflow::source::Offset;
///
/// assert_eq!(7_u64.earliest(&5), 5);
/// let a = BTreeMap::from([(0_u32, 10_u64), (1, 4)]);
/// let b = BTreeMap::from([(0_u32, 8_u64), (1, 9)]);
/// assert_eq!(a.earliest(&b), BTreeMap::from([(0, 8), (1, 4)]));
/// ```
pub trait Offset: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The earlier of `self` and `other`: reading up to it reads nothing past either. Used where
    /// the end of reading is fixed in advance (`Trigger::available_now`, a graceful stop) and a
    /// batch must not go beyond it.
    fn earliest(&self, other: &Self) -> Self;
}

impl Offset for u64 {
    fn earliest(&self, other: &Self) -> Self {
        (*self).min(*other)
    }
}

impl Offset for i64 {
    fn earliest(&self, other: &Self) -> Self {
        (*self).min(*other)
    }
}

impl<P> Offset for BTreeMap<P, u64>
where
    P: Ord + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Per partition, the smaller position; a partition missing from `other` keeps its position
    /// in `self` only if `other` has no say about it (a partition found after the end was fixed
    /// is not read past where `self` is).
    fn earliest(&self, other: &Self) -> Self {
        self.iter()
            .map(|(p, &at)| (p.clone(), other.get(p).map_or(at, |&o| at.min(o))))
            .collect()
    }
}

/// How much a source may hand to one batch (Spark's `ReadLimit`).
///
/// The driver asks a source for its [`default_read_limit`](super::Source::default_read_limit)
/// each trigger (`max_files_per_trigger`, one queued batch at a time …), and passes
/// [`ReadLimit::AllAvailable`] where Spark does (`Trigger::once`).
///
/// # Examples
///
/// ```
/// use streamflow::source::ReadLimit;
///
/// assert_eq!(ReadLimit::Max(3).cap(10), 3);
/// assert_eq!(ReadLimit::AllAvailable.cap(10), 10);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ReadLimit {
    /// Everything available.
    #[default]
    AllAvailable,
    /// At most this many of the source's units (files, rows, queued batches, records …).
    Max(u64),
    /// New units up to about this many bytes, and at least one unit so that a batch always
    /// makes progress (Spark's `maxBytesPerTrigger`). Sources that do not know their units'
    /// sizes treat it as [`AllAvailable`](Self::AllAvailable).
    MaxBytes(u64),
}

impl ReadLimit {
    /// How many of `available` units this limit lets one batch take.
    ///
    /// ```
    /// use streamflow::source::ReadLimit;
    /// assert_eq!(ReadLimit::Max(0).cap(5), 0);
    /// ```
    ///
    /// A byte limit does not count units: sources that honour it look at their units' sizes
    /// (see [`cap_bytes`](Self::cap_bytes)); here it lets everything through.
    pub fn cap(self, available: u64) -> u64 {
        match self {
            ReadLimit::AllAvailable | ReadLimit::MaxBytes(_) => available,
            ReadLimit::Max(n) => available.min(n),
        }
    }

    /// How many of the units whose sizes in bytes are `sizes` (in the order they are taken)
    /// this limit lets one batch take: under [`MaxBytes`](Self::MaxBytes), the longest prefix
    /// within the limit, and at least one unit.
    ///
    /// ```
    /// use streamflow::source::ReadLimit;
    ///
    /// assert_eq!(ReadLimit::MaxBytes(100).cap_bytes([40, 50, 30]), 2);
    /// assert_eq!(ReadLimit::MaxBytes(10).cap_bytes([40, 50]), 1, "at least one");
    /// assert_eq!(ReadLimit::Max(1).cap_bytes([40, 50]), 1);
    /// assert_eq!(ReadLimit::AllAvailable.cap_bytes([]), 0);
    /// ```
    pub fn cap_bytes(self, sizes: impl IntoIterator<Item = u64>) -> u64 {
        let mut sizes = sizes.into_iter();
        match self {
            ReadLimit::MaxBytes(max) => {
                let mut total = 0_u64;
                let mut taken = 0_u64;
                for size in sizes {
                    total = total.saturating_add(size);
                    if taken > 0 && total > max {
                        break;
                    }
                    taken += 1;
                }
                taken
            }
            limit => limit.cap(sizes.by_ref().count() as u64),
        }
    }
}
