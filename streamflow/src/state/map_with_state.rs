//! `map_with_state` (Spark's `mapWithState`): [`StateSpec`], [`State`] and
//! [`MapWithStateDStream`].
//!
//! Unlike `update_state_by_key`, the function runs only for keys that have new data — once per
//! value — plus once for each key whose state timed out. Keys that are idle cost nothing, which
//! is why Spark recommends it for large state.
//!
//! **Timeouts** follow Spark: a key's state remembers the batch time it was last called with
//! data. At batch time `t`, a key whose last call is older than `t − timeout` (idle for longer
//! than the timeout) is called once with no value and a state that
//! [`is_timing_out`](State::is_timing_out), and then removed.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::StateStore;
use crate::data::{Data, Key, Pair, StateData};
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::guard;
use crate::graph::NodeKind;
use crate::time::{Duration, IntoDuration, Time};

const NAME: &str = "map_with_state";

/// The state of one key, as the [`map_with_state`](DStream::map_with_state) function sees it
/// (Spark's `State`).
///
/// # Examples
///
/// ```
/// use streamflow::State;
///
/// let mut state = State::new(Some(3));
/// assert!(state.exists());
/// assert_eq!(state.get()?, &3);
/// state.update(4)?;
/// assert_eq!(state.get_option(), Some(&4));
/// state.remove();
/// assert!(!state.exists());
/// assert!(state.get().is_err());
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State<S> {
    value: Option<S>,
    updated: bool,
    removed: bool,
    timing_out: bool,
}

impl<S> State<S> {
    /// A state holding `value` (or none) — for testing mapping functions on their own.
    ///
    /// ```
    /// use streamflow::State;
    ///
    /// let fresh: State<u32> = State::new(None);
    /// assert!(!fresh.exists() && !fresh.is_timing_out());
    /// assert_eq!(State::new(Some(7)).get_option(), Some(&7));
    /// ```
    pub fn new(value: Option<S>) -> Self {
        State {
            value,
            updated: false,
            removed: false,
            timing_out: false,
        }
    }

    /// The state of a key that is being removed because it was idle too long.
    fn timing_out(value: S) -> Self {
        State {
            timing_out: true,
            ..State::new(Some(value))
        }
    }

    /// Whether the key has a state.
    ///
    /// ```
    /// assert!(!streamflow::State::<i32>::new(None).exists());
    /// ```
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// The state; an error if the key has none (check [`exists`](Self::exists) or use
    /// [`get_option`](Self::get_option)).
    ///
    /// ```
    /// let err = streamflow::State::<i32>::new(None).get().unwrap_err();
    /// assert!(err.to_string().contains("get_option"));
    /// ```
    pub fn get(&self) -> Result<&S> {
        self.value.as_ref().ok_or_else(|| {
            Error::illegal_state(
                "the state does not exist: check state.exists() first, or use state.get_option()",
            )
        })
    }

    /// The state, if the key has one.
    ///
    /// ```
    /// assert_eq!(streamflow::State::new(Some(1)).get_option(), Some(&1));
    /// ```
    pub fn get_option(&self) -> Option<&S> {
        self.value.as_ref()
    }

    /// Sets the key's state. An error when the state [`is_timing_out`](Self::is_timing_out):
    /// a key that timed out is removed after this call, whatever the function does.
    ///
    /// ```
    /// let mut state = streamflow::State::new(None);
    /// state.update("first visit")?;
    /// assert_eq!(state.get()?, &"first visit");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn update(&mut self, value: S) -> Result<()> {
        if self.timing_out {
            return Err(Error::illegal_state(
                "cannot update a state that is timing out: the key is removed after this call; check state.is_timing_out() before updating",
            ));
        }
        self.value = Some(value);
        self.updated = true;
        self.removed = false;
        Ok(())
    }

    /// Removes the key's state. Removing a state that is timing out changes nothing: it is
    /// removed anyway.
    ///
    /// ```
    /// let mut state = streamflow::State::new(Some(1));
    /// state.remove();
    /// assert_eq!(state.get_option(), None);
    /// ```
    pub fn remove(&mut self) {
        if !self.timing_out {
            self.value = None;
            self.removed = true;
            self.updated = false;
        }
    }

    /// Whether the key is being called because it was idle longer than the timeout; it is
    /// removed after this call.
    ///
    /// ```
    /// assert!(!streamflow::State::new(Some(1)).is_timing_out());
    /// ```
    pub fn is_timing_out(&self) -> bool {
        self.timing_out
    }
}

type MappingFn<K, V, S, U> = Arc<dyn Fn(Time, &K, Option<V>, &mut State<S>) -> Option<U> + Send + Sync>;

/// What [`map_with_state`](DStream::map_with_state) does (Spark's `StateSpec`): the mapping
/// function, and optionally an initial state, a number of partitions and an idle timeout.
///
/// # Examples
///
/// ```
/// use streamflow::{State, StateSpec};
///
/// // A running count per word, emitted as (word, count); words idle for 30 s are dropped.
/// let spec = StateSpec::function(|word: &String, one: Option<u64>, state: &mut State<u64>| {
///     let count = state.get_option().copied().unwrap_or(0) + one.unwrap_or(0);
///     if !state.is_timing_out() {
///         state.update(count).ok();
///     }
///     (word.clone(), count)
/// })
/// .initial_state(vec![("hello".to_string(), 10)])
/// .num_partitions(4)
/// .timeout("30 seconds");
/// ```
pub struct StateSpec<K, V, S, U> {
    function: MappingFn<K, V, S, U>,
    initial: Vec<(K, S)>,
    num_partitions: Option<usize>,
    timeout: Option<Result<Duration>>,
}

impl<K, V, S, U> StateSpec<K, V, S, U> {
    /// A spec with mapping function `f(key, value, state) -> mapped`: called once per new
    /// value with `Some(value)`, and once with `None` for a key that timed out.
    ///
    /// ```
    /// use streamflow::{State, StateSpec};
    /// let spec = StateSpec::function(|_key: &String, value: Option<i32>, _state: &mut State<i32>| value);
    /// ```
    pub fn function(f: impl Fn(&K, Option<V>, &mut State<S>) -> U + Send + Sync + 'static) -> Self {
        Self::function_with_time(move |_, key, value, state| Some(f(key, value, state)))
    }

    /// A spec whose mapping function also gets the batch time and may emit nothing (Spark's
    /// `StateSpec.function((Time, K, Option[V], State[S]) => Option[U])`): `None` updates the
    /// state and emits no record.
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration, State, StateSpec, Time};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let clicks = t.input(vec![vec![("ann".to_string(), ())], vec![("ann".to_string(), ())], vec![("ann".to_string(), ())]]);
    /// // Emit a user only at their second click, with the time of it.
    /// let second = t.collect(&clicks.map_with_state(StateSpec::function_with_time(
    ///     |time: Time, user: &String, _click: Option<()>, count: &mut State<u32>| {
    ///         let n = count.get_option().copied().unwrap_or(0) + 1;
    ///         count.update(n).ok();
    ///         (n == 2).then(|| (user.clone(), time))
    ///     },
    /// )));
    /// t.run(3)?;
    /// let ann = |ms| vec![("ann".to_string(), Time::from_millis(ms))];
    /// assert_eq!(second.batches(), vec![vec![], ann(2_000), vec![]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn function_with_time(
        f: impl Fn(Time, &K, Option<V>, &mut State<S>) -> Option<U> + Send + Sync + 'static,
    ) -> Self {
        StateSpec {
            function: Arc::new(f),
            initial: Vec::new(),
            num_partitions: None,
            timeout: None,
        }
    }

    /// The states the keys start with (Spark's `initialState`).
    ///
    /// ```
    /// use streamflow::{State, StateSpec};
    /// let spec = StateSpec::function(|_k: &String, v: Option<i32>, _s: &mut State<i32>| v)
    ///     .initial_state(vec![("a".to_string(), 1)]);
    /// ```
    pub fn initial_state(mut self, initial: Vec<(K, S)>) -> Self {
        self.initial = initial;
        self
    }

    /// The number of partitions of the state (default: the context's parallelism).
    ///
    /// ```
    /// use streamflow::{State, StateSpec};
    /// let spec = StateSpec::function(|_k: &String, v: Option<i32>, _s: &mut State<i32>| v).num_partitions(8);
    /// ```
    pub fn num_partitions(mut self, num_partitions: usize) -> Self {
        self.num_partitions = Some(num_partitions);
        self
    }

    /// Removes keys idle for longer than `idle` (a [`Duration`] or a string like `"30s"`),
    /// calling the function once for each with no value and a timing-out state first. A bad
    /// duration is reported by `start()`.
    ///
    /// ```
    /// use streamflow::{State, StateSpec};
    /// let spec = StateSpec::function(|_k: &String, v: Option<i32>, _s: &mut State<i32>| v).timeout("10 minutes");
    /// ```
    pub fn timeout(mut self, idle: impl IntoDuration) -> Self {
        self.timeout = Some(idle.into_duration());
        self
    }
}

/// A state as stored: the value and the batch time the key last had data.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Timed<S> {
    state: S,
    touched: Time,
}

/// What the stateful node produces for one partition and batch.
struct PartitionOutput<K, S, U> {
    mapped: Vec<U>,
    snapshot: Vec<(K, S)>,
}

/// The stream [`map_with_state`](DStream::map_with_state) returns (Spark's
/// `MapWithStateDStream`): it is the `DStream<U>` of what the function returned (it derefs to
/// it, so every operator applies), and [`state_snapshots`](Self::state_snapshots) gives the
/// whole state each batch.
///
/// # Examples
///
/// ```
/// use streamflow::{testing::{sorted, TestContext}, Duration, State, StateSpec};
///
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// let dir = tempfile::tempdir()?;
/// t.context().checkpoint(dir.path())?;
/// let word = |w: &str| w.to_string();
/// let words = t.input(vec![vec![(word("a"), 1), (word("b"), 1)], vec![(word("a"), 1)]]);
/// let counts = words.map_with_state(StateSpec::function(|w: &String, one: Option<i32>, state: &mut State<i32>| {
///     let count = state.get_option().copied().unwrap_or(0) + one.unwrap_or(0);
///     state.update(count).ok();
///     (w.clone(), count)
/// }));
/// let mapped = t.collect(&counts);
/// let snapshots = t.collect(&counts.state_snapshots());
/// t.run(2)?;
/// assert_eq!(mapped.batches()[1], [(word("a"), 2)]); // only keys with data
/// assert_eq!(sorted(&snapshots.batches()[1]), [(word("a"), 2), (word("b"), 1)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MapWithStateDStream<K, V, S, U> {
    mapped: DStream<U>,
    outputs: DStream<Arc<PartitionOutput<K, S, U>>>,
    snapshots_wanted: Arc<AtomicBool>,
    values: PhantomData<fn(V)>,
}

impl<K, V, S, U> Clone for MapWithStateDStream<K, V, S, U> {
    fn clone(&self) -> Self {
        MapWithStateDStream {
            mapped: self.mapped.clone(),
            outputs: self.outputs.clone(),
            snapshots_wanted: self.snapshots_wanted.clone(),
            values: PhantomData,
        }
    }
}

impl<K, V, S, U> std::ops::Deref for MapWithStateDStream<K, V, S, U> {
    type Target = DStream<U>;

    fn deref(&self) -> &DStream<U> {
        &self.mapped
    }
}

impl<K: Key + StateData, V: Data, S: StateData, U: Data> MapWithStateDStream<K, V, S, U> {
    /// Every `(key, state)` after each batch (Spark's `stateSnapshots`).
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration, State, StateSpec};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let last = t.input(vec![vec![("a".to_string(), 1)], vec![]]).map_with_state(StateSpec::function(
    ///     |_key: &String, value: Option<i32>, state: &mut State<i32>| {
    ///         if let Some(v) = value { state.update(v).ok(); }
    ///     },
    /// ));
    /// let snapshots = t.collect(&last.state_snapshots());
    /// t.run(2)?;
    /// let a = ("a".to_string(), 1);
    /// assert_eq!(snapshots.batches(), vec![vec![a.clone()], vec![a]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_snapshots(&self) -> DStream<(K, S)> {
        self.snapshots_wanted.store(true, Ordering::Relaxed);
        self.outputs
            .derive("state_snapshots", NodeKind::Stateless, |batch, _| {
                batch.flat_map(|out: Arc<PartitionOutput<K, S, U>>| out.snapshot.clone())
            })
    }

    /// The stream of mapped values, as a plain [`DStream`].
    ///
    /// ```
    /// use streamflow::{DStream, State, StateSpec};
    ///
    /// let ssc = streamflow::StreamingContext::new(streamflow::Duration::seconds(1), 2)?;
    /// let pairs = ssc.queue_stream(streamflow::StreamQueue::<(String, i32)>::new(), true, None);
    /// let mapped: DStream<i32> = pairs
    ///     .map_with_state(StateSpec::function(|_k: &String, v: Option<i32>, _s: &mut State<()>| v.unwrap_or(0)))
    ///     .into_dstream();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_dstream(self) -> DStream<U> {
        self.mapped
    }
}

impl<T: Data> DStream<T> {
    /// Keeps a state per key and maps each new value with it (Spark's `mapWithState`): the
    /// spec's function runs once for each value of each key with data, in arrival order, with
    /// the key's [`State`], and what it returns forms the output stream. Keys without data are
    /// not called — except, with a [timeout](StateSpec::timeout), once when they have been
    /// idle longer than it, with no value and a timing-out state, before they are removed.
    ///
    /// Keys and states are [`StateData`] (owned serde types: `String`, not `&str`), since the
    /// state store writes them to bytes. Needs a checkpoint directory
    /// ([`StreamingContext::checkpoint`](crate::StreamingContext::checkpoint)).
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::{sorted, TestContext}, Duration, State, StateSpec};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// // Sessions: count clicks per user; a user idle for more than 2 s ends the session.
    /// let user = |name: &str| name.to_string();
    /// let clicks = t.input(vec![vec![(user("ann"), ()), (user("bob"), ())], vec![(user("ann"), ())]]);
    /// let events = t.collect(&clicks.map_with_state(
    ///     StateSpec::function(|user: &String, click: Option<()>, clicks: &mut State<u32>| {
    ///         let n = clicks.get_option().copied().unwrap_or(0);
    ///         match click {
    ///             Some(()) => { clicks.update(n + 1).ok(); format!("{user}: click {}", n + 1) }
    ///             None => format!("{user}: session ended after {n} clicks"),
    ///         }
    ///     })
    ///     .timeout("2s"),
    /// ));
    /// t.run(6)?;
    /// let out = events.batches();
    /// assert_eq!(sorted(&out[0]), ["ann: click 1", "bob: click 1"]);
    /// assert_eq!(out[1], ["ann: click 2"]);
    /// assert_eq!(out[3], ["bob: session ended after 1 clicks"]); // idle at 2 s, 3 s, 4 s
    /// assert_eq!(out[4], ["ann: session ended after 2 clicks"]);
    /// assert!(out[5].is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_with_state<K, V, S: StateData, U: Data>(
        &self,
        spec: StateSpec<K, V, S, U>,
    ) -> MapWithStateDStream<K, V, S, U>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: Data,
    {
        let timeout = match spec.timeout {
            Some(Ok(timeout)) => Some(timeout),
            Some(Err(e)) => {
                self.ssc.defer_error(format!("`{NAME}`: timeout: {e}"));
                None
            }
            None => None,
        };
        let num_partitions = match spec.num_partitions {
            Some(0) => {
                self.ssc.defer_error(format!(
                    "`{NAME}`: the state needs at least one partition, got StateSpec::num_partitions(0)"
                ));
                1
            }
            Some(n) => n,
            None => self.ssc.parallelism(),
        };
        let store: Arc<StateStore<K, Timed<S>>> = Arc::new(StateStore::new(NAME, num_partitions));
        // Initial states count as touched at the first batch; `Time::default()` marks them.
        store.load(spec.initial.into_iter().map(|(k, state)| {
            (
                k,
                Timed {
                    state,
                    touched: Time::default(),
                },
            )
        }));
        let snapshots_wanted = Arc::new(AtomicBool::new(false));
        let wanted = snapshots_wanted.clone();
        let f = spec.function;
        let outputs = self.stateful_by_key(NAME, store, move |time, part, grouped| {
            if part.version().is_none() {
                part.touch_all();
                for timed in part.map.values_mut() {
                    timed.touched = time;
                }
            }
            let mut mapped = Vec::new();
            for (key, values) in grouped {
                part.touch(&key);
                let (mut current, touched) = match part.map.remove(&key) {
                    Some(timed) => (Some(timed.state), Some(timed.touched)),
                    None => (None, None),
                };
                let mut updated = false;
                for value in values {
                    let mut state = State::new(current.take());
                    mapped.extend(guard(NAME, || f(time, &key, Some(value), &mut state)));
                    updated = (updated || state.updated) && !state.removed;
                    current = state.value;
                }
                if let Some(state) = current {
                    // Like Spark: with a timeout, a call with data counts as activity.
                    let touched = match touched {
                        Some(old) if !updated && timeout.is_none() => old,
                        _ => time,
                    };
                    part.map.insert(key, Timed { state, touched });
                }
            }
            if let Some(timeout) = timeout {
                let threshold = time - timeout;
                let idle: Vec<_> = part
                    .map
                    .extract_if(|_, timed| timed.touched < threshold)
                    .collect();
                for (key, timed) in idle {
                    part.touch(&key);
                    let mut state = State::timing_out(timed.state);
                    mapped.extend(guard(NAME, || f(time, &key, None, &mut state)));
                }
            }
            let snapshot = if wanted.load(Ordering::Relaxed) {
                part.map
                    .iter()
                    .map(|(k, timed)| (k.clone(), timed.state.clone()))
                    .collect()
            } else {
                Vec::new()
            };
            Ok(vec![Arc::new(PartitionOutput { mapped, snapshot })])
        });
        let mapped = outputs.derive("map_with_state.mapped", NodeKind::Stateless, |batch, _| {
            batch.flat_map(|out: Arc<PartitionOutput<K, S, U>>| out.mapped.clone())
        });
        MapWithStateDStream {
            mapped,
            outputs,
            snapshots_wanted,
            values: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn updating_a_timing_out_state_is_an_error_and_removal_is_harmless() {
        let mut state = State::timing_out(5);
        assert!(state.is_timing_out());
        let err = state.update(6).unwrap_err().to_string();
        assert!(err.contains("timing out"), "{err}");
        state.remove();
        assert_eq!(state.get_option(), Some(&5));
    }

    #[test]
    fn update_after_remove_brings_the_state_back() {
        let mut state = State::new(Some(1));
        state.remove();
        assert!(state.removed && !state.updated);
        assert!(state.update(2).is_ok());
        assert!(state.updated && !state.removed);
        assert_eq!(state.get_option(), Some(&2));
    }
}
