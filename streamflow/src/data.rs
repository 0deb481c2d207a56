//! The bounds on what flows through a stream.

use std::hash::Hash;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a stream can carry: owned, clonable, shareable between worker threads.
///
/// Implemented for every type that is `Clone + Send + Sync + 'static`.
///
/// ```
/// fn takes_data<T: streamflow::Data>(_: T) {}
/// takes_data(("word".to_string(), 1_u64));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot flow through a stream",
    label = "stream elements must be `Clone + Send + Sync + 'static`",
    note = "use owned types (String instead of &str, Arc<T> instead of Rc<T>)"
)]
pub trait Data: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> Data for T {}

/// What can be a key of a `(key, value)` stream: [`Data`] that is `Hash + Eq` and
/// `serde::Serialize`.
///
/// A key's partition — in a shuffle and in a state store — is a hash of its serialized bytes
/// (see [`state`](crate::state#where-a-key-lives)), so it stays the same across crate and
/// compiler versions. Keys that are equal must serialize to the same bytes, as every derived
/// `Serialize` does.
///
/// ```
/// fn takes_key<K: streamflow::Key>(_: K) {}
/// takes_key("apple".to_string());
/// takes_key(("sensor-7", 2024_u16));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a key",
    label = "keys must be `Hash + Eq + Serialize + Clone + Send + Sync + 'static`",
    note = "derive `Hash`, `PartialEq`, `Eq` and `serde::Serialize` for your own key types (a key's partition is a hash of its serialized bytes); `f32`/`f64` have neither `Hash` nor `Eq` (NaN != NaN): key by an integer (e.g. `x.to_bits()`, or cents) or a string instead"
)]
pub trait Key: Data + Hash + Eq + Serialize {}

// Hidden from diagnostics, so a type that misses several of the bounds is one error, with
// the trait's message, not one per missing bound.
#[diagnostic::do_not_recommend]
impl<T: Data + Hash + Eq + Serialize> Key for T {}

/// What a state store can keep: [`Data`] that serde can write to bytes and read back — the
/// keys and states of `update_state_by_key`, `map_with_state`, incremental windows and
/// Structured aggregations.
///
/// State is snapshotted as bytes per partition (what a checkpoint writes) and read back by a
/// later run, so it must own its data: `String`, not `&'static str`. (A `&'static str` key or
/// state is reported by rustc as "implementation of `Deserialize` is not general enough".)
///
/// ```
/// use streamflow::StateData;
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Visits {
///     count: u64,
///     last_page: String,
/// }
///
/// fn takes_state<S: StateData>(_: S) {}
/// takes_state(Visits { count: 1, last_page: "/home".into() });
/// takes_state(("apple".to_string(), 3_i64));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be kept in a state store",
    label = "state keys and values must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`",
    note = "derive `serde::Serialize` and `serde::Deserialize` for your own types, and use owned types (`String`, not `&'static str`): state is written to bytes and read back"
)]
pub trait StateData: Data + Serialize + DeserializeOwned {}

// Hidden from diagnostics, so a type that misses several of the bounds is one error, with
// the trait's message, not one per missing bound.
#[diagnostic::do_not_recommend]
impl<T: Data + Serialize + DeserializeOwned> StateData for T {}

/// A `(key, value)` element: what `reduce_by_key`, `group_by_key`, `join` and the other keyed
/// operators need (Spark's `PairDStreamFunctions`).
///
/// Implemented for every tuple `(K, V)` whose `K` is a [`Key`] and `V` is [`Data`].
///
/// ```
/// use streamflow::Pair;
/// let (k, v) = ("a".to_string(), 1).into_pair();
/// assert_eq!((k.as_str(), v), ("a", 1));
/// ```
#[diagnostic::on_unimplemented(
    message = "this operator needs a stream of `(key, value)` pairs, but the elements are `{Self}`",
    label = "not a `(K, V)` tuple with a hashable key",
    note = "map each element to a pair first, e.g. `.map(|word| (word, 1))`"
)]
pub trait Pair: Data {
    /// The key type.
    type K: Key;
    /// The value type.
    type V: Data;
    /// Splits the element into key and value.
    fn into_pair(self) -> (Self::K, Self::V);
}

impl<K: Key, V: Data> Pair for (K, V) {
    type K = K;
    type V = V;
    fn into_pair(self) -> (K, V) {
        self
    }
}
