//! The state of stateful operators in the checkpoint: per operator and partition, a chain of
//! files named by the batch id that wrote them.
//!
//! ```text
//! state/<op>/<partition>/<id>.snapshot   every key of the partition after batch <id>
//! state/<op>/<partition>/<id>.delta      the keys batch <id> changed (a removed key: no state),
//!                                        with the id of the file it applies to
//! ```
//!
//! A partition is written after a batch only if the batch changed it: a delta of the keys it
//! changed, or a snapshot when the operator rewrote the whole table or when `snapshot_every`
//! deltas were written since the last snapshot (Spark's `minDeltasForSnapshot`, 10). Restoring
//! the version of batch `n` reads the newest file at or before `n` and follows its chain back
//! to a snapshot. Files of batches beyond the retention are removed once a newer snapshot makes
//! them unnecessary.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::file;
use crate::error::{Error, Result};
use crate::state::{StateHandle, StateSnapshot};

/// How many deltas are written between two snapshots, unless an operator says otherwise.
pub(crate) const DEFAULT_SNAPSHOT_EVERY: u64 = 10;

const SNAPSHOT: &str = "snapshot";
const DELTA: &str = "delta";

/// One state file's content: the partition's bytes, and for a delta the file it applies to.
#[derive(serde::Serialize, serde::Deserialize)]
struct StateFile {
    base: Option<u64>,
    data: StateSnapshot,
}

/// Where one partition's chain stands.
#[derive(Clone, Copy, Debug, Default)]
struct Chain {
    /// The id of the newest file.
    last: Option<u64>,
    /// Deltas written since the newest snapshot.
    deltas: u64,
    /// The version the newest file records.
    version: Option<crate::time::Time>,
}

/// Whatever holds a stateful operator's store: the store itself (DStream operators share it as
/// an `Arc`), or a query's stateful operator.
pub(crate) trait StateOwner: Send + Sync {
    /// The store.
    fn handle(&self) -> &dyn StateHandle;
}

impl StateOwner for Arc<dyn StateHandle> {
    fn handle(&self) -> &dyn StateHandle {
        self.as_ref()
    }
}

/// One stateful operator's files.
struct Operator {
    store: Arc<dyn StateOwner>,
    dir: PathBuf,
    snapshot_every: u64,
    chains: Vec<Chain>,
}

/// What one write of the state cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

/// Writes and restores the state of a job's stateful operators.
pub(crate) struct StateFiles {
    operators: Vec<Operator>,
    retain: u64,
}

impl StateFiles {
    /// The state files of `stores` (each with its snapshot interval in batches), operator `i`
    /// in `dir_of(i)`, keeping `retain` batches.
    pub(crate) fn new(
        stores: Vec<(Arc<dyn StateOwner>, u64)>,
        dir_of: impl Fn(usize) -> PathBuf,
        retain: u64,
    ) -> Self {
        let operators = stores
            .into_iter()
            .enumerate()
            .map(|(i, (store, snapshot_every))| Operator {
                chains: vec![Chain::default(); store.handle().num_partitions()],
                dir: dir_of(i),
                snapshot_every: snapshot_every.max(1),
                store,
            })
            .collect();
        StateFiles { operators, retain }
    }

    /// Restores every store at the version of batch `id` (`None`: no batch committed, the
    /// stores start empty), removes files of later batches (a batch that never committed), and
    /// starts noting changes for the next delta.
    pub(crate) fn restore(&mut self, id: Option<u64>) -> Result<()> {
        for op in &mut self.operators {
            for (p, chain) in op.chains.iter_mut().enumerate() {
                let dir = op.dir.join(p.to_string());
                *chain = restore_partition(op.store.handle(), p, &dir, id)?;
            }
            op.store.handle().track_changes();
            for p in 0..op.chains.len() {
                op.store.handle().clear_changes(p);
            }
        }
        Ok(())
    }

    /// Writes what batch `id` changed in every partition, in parallel.
    #[cfg(test)]
    pub(crate) fn write(&mut self, id: u64) -> Result<Written> {
        self.prepare(id)?.write()
    }

    /// Encodes what batch `id` changed in every partition (in parallel), ready to be written
    /// by [`PreparedState::write`] — on another thread, while the next batch runs: the stores
    /// are read now, the files written later.
    pub(crate) fn prepare(&mut self, id: u64) -> Result<PreparedState> {
        let tasks: Vec<(usize, usize, Chain)> = self
            .operators
            .iter()
            .enumerate()
            .flat_map(|(o, op)| op.chains.iter().enumerate().map(move |(p, c)| (o, p, *c)))
            .collect();
        let operators = &self.operators;
        let results: Vec<Result<(usize, usize, Option<(Chain, PreparedFile)>)>> = tasks
            .into_par_iter()
            .map(|(o, p, chain)| {
                let op = &operators[o];
                prepare_partition(op, p, chain, id).map(|r| (o, p, r))
            })
            .collect();
        let mut files = Vec::new();
        for result in results {
            let (o, p, outcome) = result?;
            if let Some((chain, file)) = outcome {
                self.operators[o].chains[p] = chain;
                files.push(file);
            }
        }
        let purge = if id % DEFAULT_SNAPSHOT_EVERY == 0 && id >= self.retain {
            let oldest = id - self.retain;
            self.operators
                .iter()
                .flat_map(|op| (0..op.chains.len()).map(move |p| (op.dir.join(p.to_string()), oldest)))
                .collect()
        } else {
            Vec::new()
        };
        Ok(PreparedState { files, purge })
    }
}

/// One state file, encoded, to be written.
struct PreparedFile {
    path: PathBuf,
    kind: &'static str,
    payload: Vec<u8>,
    /// The file of the other kind under the same id, which a re-run batch may have left.
    other: PathBuf,
}

/// What a batch changed in the state, encoded and ready to be written.
pub(crate) struct PreparedState {
    files: Vec<PreparedFile>,
    /// Partition directories to purge of files older than what restoring from the given
    /// batch on needs.
    purge: Vec<(PathBuf, u64)>,
}

impl PreparedState {
    /// Writes the files (in parallel, each atomically and durably), then purges old ones.
    pub(crate) fn write(self) -> Result<Written> {
        let written: Vec<Result<u64>> = self
            .files
            .into_par_iter()
            .map(|f| {
                file::write(&f.path, &format!("state-{}", f.kind), &f.payload)?;
                let _ = fs::remove_file(&f.other);
                Ok(f.payload.len() as u64)
            })
            .collect();
        let mut total = Written::default();
        for bytes in written {
            total.files += 1;
            total.bytes += bytes?;
        }
        for (dir, oldest) in self.purge {
            purge(&dir, oldest);
        }
        Ok(total)
    }

    /// The files and bytes it will write.
    pub(crate) fn size(&self) -> Written {
        Written {
            files: self.files.len() as u64,
            bytes: self.files.iter().map(|f| f.payload.len() as u64).sum(),
        }
    }
}

/// Encodes partition `p` of `op` after batch `id` if it changed: returns its new chain and the
/// file to write.
fn prepare_partition(
    op: &Operator,
    p: usize,
    chain: Chain,
    id: u64,
) -> Result<Option<(Chain, PreparedFile)>> {
    let store = op.store.handle();
    let due = chain.last.is_none() || chain.deltas + 1 >= op.snapshot_every;
    let delta = if due { None } else { store.delta(p)? };
    let dir = op.dir.join(p.to_string());
    let (content, next, kind) = match delta {
        // postcard's empty sequence: the batch changed no key here. Unless its version moved
        // (a DStream operator that ran), there is nothing to write.
        Some(delta) if delta.bytes == [0] && delta.version == chain.version => return Ok(None),
        Some(delta) => (
            StateFile {
                base: chain.last,
                data: delta,
            },
            Chain {
                last: Some(id),
                deltas: chain.deltas + 1,
                version: None,
            },
            DELTA,
        ),
        None => {
            let snapshot = store.snapshot(p)?;
            store.clear_changes(p);
            (
                StateFile {
                    base: None,
                    data: snapshot,
                },
                Chain {
                    last: Some(id),
                    deltas: 0,
                    version: None,
                },
                SNAPSHOT,
            )
        }
    };
    let payload = postcard::to_allocvec(&content).map_err(|e| Error::State {
        operator: store.operator().to_string(),
        message: format!("partition {p} cannot be written to the checkpoint: {e}"),
    })?;
    let next = Chain {
        version: content.data.version,
        ..next
    };
    let other = if kind == DELTA { SNAPSHOT } else { DELTA };
    let file = PreparedFile {
        path: dir.join(format!("{id}.{kind}")),
        kind,
        payload,
        other: dir.join(format!("{id}.{other}")),
    };
    Ok(Some((next, file)))
}

/// The state files of a partition directory: `(id, is_snapshot)`, sorted by id.
fn list(dir: &Path) -> Result<Vec<(u64, bool)>> {
    file::remove_stray_temps(dir)?;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let parsed = name.split_once('.').and_then(|(id, kind)| {
            let id = id.parse::<u64>().ok()?;
            match kind {
                SNAPSHOT => Some((id, true)),
                DELTA => Some((id, false)),
                _ => None,
            }
        });
        match parsed {
            Some(f) => files.push(f),
            None => {
                return Err(Error::CorruptCheckpoint {
                    path: entry.path(),
                    message: "it is not a state file (`<batch id>.snapshot` or `<batch id>.delta`)".into(),
                });
            }
        }
    }
    files.sort_unstable();
    Ok(files)
}

fn file_path(dir: &Path, id: u64, snapshot: bool) -> PathBuf {
    dir.join(format!("{id}.{}", if snapshot { SNAPSHOT } else { DELTA }))
}

fn read_state_file(path: &Path, snapshot: bool) -> Result<StateFile> {
    let kind = if snapshot { SNAPSHOT } else { DELTA };
    let payload = file::read(path, &format!("state-{kind}"))?.ok_or_else(|| Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        message: "it is missing: a later delta of the partition applies to it".into(),
    })?;
    postcard::from_bytes(&payload).map_err(|e| Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        message: format!("its checksum is right but it is not a state file: {e}"),
    })
}

/// Restores partition `p` of `store` from the files in `dir` at batch `id`; removes files of
/// later batches. Returns where its chain stands.
fn restore_partition(store: &dyn StateHandle, p: usize, dir: &Path, id: Option<u64>) -> Result<Chain> {
    let files = list(dir)?;
    for &(file_id, snapshot) in files.iter().filter(|(f, _)| id.is_none_or(|id| *f > id)) {
        let _ = fs::remove_file(file_path(dir, file_id, snapshot));
    }
    let Some(id) = id else {
        return Ok(Chain::default());
    };
    let Some(&(newest, is_snapshot)) = files.iter().rev().find(|(f, _)| *f <= id) else {
        return Ok(Chain::default());
    };
    // Walk back from the newest file to its snapshot.
    let mut deltas = Vec::new();
    let (mut at, mut snapshot) = (newest, is_snapshot);
    let base = loop {
        let path = file_path(dir, at, snapshot);
        let content = read_state_file(&path, snapshot)?;
        if snapshot {
            break content;
        }
        let Some(base) = content.base else {
            return Err(Error::CorruptCheckpoint {
                path,
                message: "a delta that names no file to apply to".into(),
            });
        };
        if base >= at {
            return Err(Error::CorruptCheckpoint {
                path,
                message: format!("a delta of batch {at} applies to a later batch {base}"),
            });
        }
        deltas.push((path, content));
        let Some(&(_, base_is_snapshot)) = files.iter().find(|(f, _)| *f == base) else {
            return Err(Error::CorruptCheckpoint {
                path: file_path(dir, base, false),
                message: format!(
                    "it is missing (neither {base}.snapshot nor {base}.delta exists), yet the delta of batch {at} applies to it"
                ),
            });
        };
        at = base;
        snapshot = base_is_snapshot;
    };
    let located = |path: &Path, e: Error| match e {
        Error::State { message, .. } => Error::CorruptCheckpoint {
            path: path.to_path_buf(),
            message,
        },
        other => other,
    };
    let base_path = file_path(dir, at, true);
    if base.data.partition != p {
        return Err(Error::CorruptCheckpoint {
            path: base_path,
            message: format!("it holds partition {}, not {p}", base.data.partition),
        });
    }
    store.restore(&base.data).map_err(|e| located(&base_path, e))?;
    let chain_len = deltas.len() as u64;
    for (path, delta) in deltas.into_iter().rev() {
        store.apply_delta(&delta.data).map_err(|e| located(&path, e))?;
    }
    Ok(Chain {
        last: Some(newest),
        deltas: chain_len,
        version: store.partition_version(p),
    })
}

/// Removes the files of a partition that restoring any batch from `oldest` on no longer needs:
/// everything before the newest snapshot at or before `oldest`.
fn purge(dir: &Path, oldest: u64) {
    let Ok(files) = list(dir) else {
        return;
    };
    let Some(&(keep_from, _)) = files.iter().rev().find(|(f, snapshot)| *snapshot && *f <= oldest) else {
        return;
    };
    for &(file_id, snapshot) in files.iter().filter(|(f, _)| *f < keep_from) {
        let _ = fs::remove_file(file_path(dir, file_id, snapshot));
    }
}

#[cfg(test)]
mod tests;
