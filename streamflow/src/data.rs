//! The bounds on what flows through a stream.

use std::hash::Hash;

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

/// What can be a key of a `(key, value)` stream: [`Data`] that is `Hash + Eq`.
///
/// ```
/// fn takes_key<K: streamflow::Key>(_: K) {}
/// takes_key("apple".to_string());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a key",
    label = "keys must be `Hash + Eq + Clone + Send + Sync + 'static`",
    note = "derive `Hash`, `PartialEq` and `Eq` for your own key types; `f32`/`f64` have neither (NaN != NaN): key by an integer (e.g. `x.to_bits()`, or cents) or a string instead"
)]
pub trait Key: Data + Hash + Eq {}

impl<T: Data + Hash + Eq> Key for T {}

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
