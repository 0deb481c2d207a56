//! `update_state_by_key` and its variants (Spark's `updateStateByKey`).
//!
//! Every batch, for every key that has a state or new values, the update function gets the
//! key's new values (possibly none) and its previous state (possibly none) and returns the new
//! state, or `None` to remove the key. The output of each batch is the whole state.

use std::sync::Arc;

use super::StateStore;
use crate::batch::shuffle::new_map;
use crate::data::{Data, Key, Pair, StateData};
use crate::dstream::DStream;
use crate::exec::guard;
use crate::time::Time;

const NAME: &str = "update_state_by_key";

impl<T: Data> DStream<T> {
    /// Keeps a state per key across batches (Spark's `updateStateByKey`): every batch,
    /// `f(new_values, previous_state)` runs for every key that has a state or new values — also
    /// for keys without new values — and returns the key's new state, or `None` to remove the
    /// key. The output of each batch is every `(key, state)`.
    ///
    /// Keys and states are kept in a state store, which writes them to bytes (for checkpoints),
    /// so both are [`StateData`]: owned serde types — `String`, not `&str`. Needs a checkpoint
    /// directory ([`StreamingContext::checkpoint`](crate::StreamingContext::checkpoint)).
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::{sorted, TestContext}, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let key = |k: &str| k.to_string();
    /// let sales = t.input(vec![vec![(key("apple"), 3), (key("pear"), 1)], vec![(key("apple"), 2)]]);
    /// let totals = t.collect(&sales.update_state_by_key(|new: Vec<i32>, total: Option<i32>| {
    ///     Some(total.unwrap_or(0) + new.iter().sum::<i32>())
    /// }));
    /// t.run(3)?;
    /// let out: Vec<_> = totals.batches().iter().map(|b| sorted(b)).collect();
    /// assert_eq!(out[0], [(key("apple"), 3), (key("pear"), 1)]);
    /// assert_eq!(out[1], [(key("apple"), 5), (key("pear"), 1)]);
    /// assert_eq!(out[2], [(key("apple"), 5), (key("pear"), 1)]); // no data: the state stays
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_state_by_key<K, V, S: StateData>(
        &self,
        f: impl Fn(Vec<V>, Option<S>) -> Option<S> + Send + Sync + 'static,
    ) -> DStream<(K, S)>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: Data,
    {
        self.update_state(Vec::new(), move |_, _, values, state| f(values, state))
    }

    /// [`update_state_by_key`](Self::update_state_by_key) starting from `initial` states
    /// (Spark's `updateStateByKey` with an initial RDD): in the first batch, the keys of
    /// `initial` have these as their previous state.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::{sorted, TestContext}, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let key = |k: &str| k.to_string();
    /// let totals = t.collect(&t.input(vec![vec![(key("apple"), 3)]]).update_state_by_key_with_initial(
    ///     |new: Vec<i32>, total: Option<i32>| Some(total.unwrap_or(0) + new.iter().sum::<i32>()),
    ///     vec![(key("apple"), 100), (key("kiwi"), 7)],
    /// ));
    /// t.run(1)?;
    /// assert_eq!(sorted(&totals.batches()[0]), [(key("apple"), 103), (key("kiwi"), 7)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "updateStateByKey")]
    pub fn update_state_by_key_with_initial<K, V, S: StateData>(
        &self,
        f: impl Fn(Vec<V>, Option<S>) -> Option<S> + Send + Sync + 'static,
        initial: Vec<(K, S)>,
    ) -> DStream<(K, S)>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: Data,
    {
        self.update_state(initial, move |_, _, values, state| f(values, state))
    }

    /// [`update_state_by_key`](Self::update_state_by_key) whose function also gets the batch
    /// time and the key (Spark's `updateStateByKey` with `(Time, K, Seq[V], Option[S])`).
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration, Time};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// // Remember when each key was last seen; forget keys idle for 2 s or more.
    /// let last_seen = t.collect(&t.input(vec![vec![("a".to_string(), ())], vec![]]).update_state_by_key_with_time(
    ///     |time: Time, _key: &String, new: Vec<()>, seen: Option<Time>| {
    ///         if !new.is_empty() { return Some(time); }
    ///         seen.filter(|s| time.millis() - s.millis() < 2_000)
    ///     },
    /// ));
    /// t.run(3)?;
    /// let at = |ms| vec![("a".to_string(), Time::from_millis(ms))];
    /// assert_eq!(last_seen.batches(), vec![at(1_000), at(1_000), vec![]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "updateStateByKey")]
    pub fn update_state_by_key_with_time<K, V, S: StateData>(
        &self,
        f: impl Fn(Time, &K, Vec<V>, Option<S>) -> Option<S> + Send + Sync + 'static,
    ) -> DStream<(K, S)>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: Data,
    {
        self.update_state(Vec::new(), f)
    }

    /// [`update_state_by_key_with_time`](Self::update_state_by_key_with_time) starting from
    /// `initial` states: Spark's full `updateStateByKey((Time, K, Seq[V], Option[S]) =>
    /// Option[S], partitioner, rememberPartitioner, initialRDD)`.
    ///
    /// ```
    /// use streamflow::{testing::{sorted, TestContext}, Duration, Time};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let key = |k: &str| k.to_string();
    /// // (total, time of the last change), from last night's totals.
    /// let totals = t.collect(&t.input(vec![vec![(key("apple"), 3)], vec![]]).update_state_by_key_with_time_and_initial(
    ///     |time: Time, _key: &String, new: Vec<i32>, state: Option<(i32, Time)>| {
    ///         let (total, changed) = state.unwrap_or((0, time));
    ///         Some(if new.is_empty() { (total, changed) } else { (total + new.iter().sum::<i32>(), time) })
    ///     },
    ///     vec![(key("apple"), (100, Time::from_millis(0))), (key("kiwi"), (7, Time::from_millis(0)))],
    /// ));
    /// t.run(2)?;
    /// let at = |ms| Time::from_millis(ms);
    /// assert_eq!(sorted(&totals.batches()[0]), [(key("apple"), (103, at(1_000))), (key("kiwi"), (7, at(0)))]);
    /// assert_eq!(sorted(&totals.batches()[1]), [(key("apple"), (103, at(1_000))), (key("kiwi"), (7, at(0)))]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "updateStateByKey")]
    pub fn update_state_by_key_with_time_and_initial<K, V, S: StateData>(
        &self,
        f: impl Fn(Time, &K, Vec<V>, Option<S>) -> Option<S> + Send + Sync + 'static,
        initial: Vec<(K, S)>,
    ) -> DStream<(K, S)>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: Data,
    {
        self.update_state(initial, f)
    }

    fn update_state<K, V, S: StateData>(
        &self,
        initial: Vec<(K, S)>,
        f: impl Fn(Time, &K, Vec<V>, Option<S>) -> Option<S> + Send + Sync + 'static,
    ) -> DStream<(K, S)>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: Data,
    {
        let store: Arc<StateStore<K, S>> = Arc::new(StateStore::new(NAME, self.ssc.parallelism()));
        store.load(initial);
        self.stateful_by_key(NAME, store, move |time, part, grouped| {
            // Every key is called, so any may change: the checkpoint writes a snapshot.
            part.touch_all();
            let mut previous = std::mem::replace(&mut part.map, new_map());
            part.map.reserve(previous.len().max(grouped.len()));
            for (key, values) in grouped {
                let state = previous.remove(&key);
                if let Some(new) = guard(NAME, || f(time, &key, values, state)) {
                    part.map.insert(key, new);
                }
            }
            // Keys without new values are called too (Spark's contract), with no values.
            for (key, state) in previous.drain() {
                if let Some(new) = guard(NAME, || f(time, &key, Vec::new(), Some(state))) {
                    part.map.insert(key, new);
                }
            }
            Ok(part.map.iter().map(|(k, s)| (k.clone(), s.clone())).collect())
        })
    }
}
