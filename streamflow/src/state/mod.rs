//! State across batches, for both vocabularies: Spark's `updateStateByKey` and `mapWithState`,
//! Structured aggregations, and the keyed state under every stateful operator.
//!
//! A stateful operator keeps a value per key from one batch to the next. Its input is shuffled
//! by key into `n` partitions, and partition `i` of every batch meets partition `i` of the
//! operator's state store: one task per partition updates that partition's keys, so the
//! partitions run in parallel and never share a lock. Each partition records the batch time it
//! is at, so batches apply once and in order; the node of a stateful operator is computed
//! exactly once per batch time. `update_state_by_key`, `map_with_state`, incremental windows
//! (`reduce_by_key_and_window_inv`) and Structured aggregations all run on this one path.
//!
//! | operator | called for | output each batch |
//! |---|---|---|
//! | [`update_state_by_key`](crate::DStream::update_state_by_key) | every key with state or new values | every `(key, state)` |
//! | [`update_state_by_key_with_initial`](crate::DStream::update_state_by_key_with_initial) | the same, starting from given states | every `(key, state)` |
//! | [`update_state_by_key_with_time`](crate::DStream::update_state_by_key_with_time) | the same, also given the batch time | every `(key, state)` |
//! | [`map_with_state`](crate::DStream::map_with_state) | each new value, and keys timing out | what the function returns; [`state_snapshots`](MapWithStateDStream::state_snapshots) for every `(key, state)` |
//! | Structured [`group_by`](crate::structured::Dataset::group_by), [`group_by_window`](crate::structured::Dataset::group_by_window) with an [`Aggregator`](crate::structured::Aggregator) | each record, in its group (and windows) | by output mode: every group, the groups changed, or the windows the watermark closed |
//!
//! | file | what |
//! |---|---|
//! | `store.rs` | the state store: a hash map per partition, versioned, snapshot to bytes and restored |
//! | `keyed.rs` | the keyed-state primitive every stateful operator runs on |
//! | `update.rs`, `map_with_state.rs` | the DStream operators |
//! | `aggregators.rs` | the [`Aggregator`](crate::structured::Aggregator) contract, the built-in ones, the rows they emit |
//! | `aggregation.rs` | the Structured aggregation operator: groups, event-time windows and sessions |
//! | `group_state.rs` | `map_groups_with_state` / `flat_map_groups_with_state`, `GroupState`, timeouts |
//! | `dedup.rs` | the Structured deduplication: `drop_duplicates` and its event-time forms |
//!
//! # Where a key lives
//!
//! A key's partition among `n` is a specified function of the key's bytes, the same in every
//! run, process and build (a dependency or compiler upgrade cannot move a key, so saved state
//! stays readable):
//!
//! ```text
//! hash      = XXH3-64 chained over the key's serde values (fixed-width LE words; see
//!             batch/stable_hash.rs for the exact definition)
//! partition = (hash as u128 * n as u128) >> 64          (0 when n == 1)
//! ```
//!
//! Keys are therefore [`Key`](crate::Key)s: `Hash + Eq + serde::Serialize`.
//!
//! # State is bytes
//!
//! Keys and states kept across batches are [`StateData`](crate::StateData) — serde types that
//! own their data. A store writes each partition as bytes (postcard) with its version, and
//! restores it from them; a checkpoint stores these per operator and partition, and a stopped
//! Structured query's [`ResumeState`](crate::structured::ResumeState) carries them.
//!
//! State lives in memory between batches. Like in Spark, stateful operators (and incremental
//! windows) require a checkpoint directory: `start()` fails without
//! [`checkpoint(dir)`](crate::StreamingContext::checkpoint).
//!
//! # Examples
//!
//! ```
//! use streamflow::{testing::{sorted, TestContext}, Duration};
//!
//! let t = TestContext::new(Duration::seconds(1), 2)?;
//! let dir = tempfile::tempdir()?;
//! t.context().checkpoint(dir.path())?;
//! let words = t.input(vec![vec![("cat".to_string(), 1)], vec![("cat".to_string(), 1), ("dog".to_string(), 1)]]);
//! let counts = t.collect(&words.update_state_by_key(|new: Vec<u32>, count: Option<u32>| {
//!     Some(count.unwrap_or(0) + new.iter().sum::<u32>())
//! }));
//! t.run(2)?;
//! assert_eq!(sorted(&counts.batches()[1]), [("cat".to_string(), 2), ("dog".to_string(), 1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod aggregation;
pub(crate) mod aggregators;
pub(crate) mod dedup;
pub(crate) mod group_state;
pub(crate) mod keyed;
mod map_with_state;
pub(crate) mod store;
mod update;
pub(crate) mod window_tables;

pub use map_with_state::{MapWithStateDStream, State, StateSpec};
pub(crate) use store::{StateHandle, StateSnapshot, StateStore, StorePartition};
