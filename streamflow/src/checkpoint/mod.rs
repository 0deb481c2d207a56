//! The checkpoint directory: what a job writes so that a restart carries on exactly where it
//! stopped — the same layout under a DStream context and a Structured query.
//!
//! ```text
//! <dir>/metadata            the job's id and the settings that may not change across restarts
//! <dir>/offsets/<batch id>  the batch's plan, written before it runs (the write-ahead log)
//! <dir>/commits/<batch id>  written once its sinks committed: what the next batch starts from
//! <dir>/state/<op>/<part>/  snapshots and deltas of each stateful operator's partitions
//! <dir>/sources/<index>/    each source's own records (files taken, received blocks)
//! ```
//!
//! Every file goes through [`file`]: atomic, versioned, checksummed. On restart
//! ([`Checkpoint::open`]) the last batch that has an `offsets` file but no `commits` file is
//! re-run with exactly its recorded plan; committed batches are never re-run; state is restored
//! at the version of the last committed batch ([`state`]).

pub(crate) mod file;
pub(crate) mod state;
pub(crate) mod writer;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::exec::BatchPlan;
use crate::time::Time;

/// How many batches the checkpoint keeps (Spark's `minBatchesToRetain`).
pub(crate) const DEFAULT_RETAIN: u64 = 100;

/// The settings a checkpoint records on its first run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    /// Settings a restart may not change: a different value is an error naming the setting.
    pub(crate) fixed: BTreeMap<String, String>,
    /// Settings the first run decides: a restart with another value keeps the recorded one
    /// (Spark's multiple-watermark policy), with a warning.
    pub(crate) sticky: BTreeMap<String, String>,
}

/// The `metadata` file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Metadata {
    /// The job's id, kept across restarts.
    id: String,
    fixed: BTreeMap<String, String>,
    sticky: BTreeMap<String, String>,
}

/// A `commits/<id>` file: what the batch after this one starts from.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CommitInfo {
    /// The global watermark in force for the next batch (Spark's `nextBatchWatermarkMs`).
    pub(crate) next_watermark: Option<Time>,
    /// Whether a batch without new data is due (the watermark moved and a stateful operator
    /// may have rows to emit or evict).
    #[serde(default)]
    pub(crate) no_data_batch: bool,
}

/// What a restart starts from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recovered {
    /// The job's id (new on a first run).
    pub(crate) id: String,
    /// The settings in force: the recorded sticky ones win.
    pub(crate) sticky: BTreeMap<String, String>,
    /// The last committed batch and its commit record.
    pub(crate) committed: Option<(BatchPlan, CommitInfo)>,
    /// The batch planned after it and never committed: re-run with exactly this plan.
    pub(crate) pending: Option<BatchPlan>,
    /// The plans of the committed batches still in the checkpoint, oldest first (a DStream
    /// job re-reads the recent ones to rebuild its windows).
    pub(crate) history: Vec<BatchPlan>,
}

impl Recovered {
    /// Whether there is anything to carry on from.
    pub(crate) fn is_restart(&self) -> bool {
        self.committed.is_some() || self.pending.is_some()
    }

    /// The id of the next batch to plan (after a pending one is re-run).
    pub(crate) fn next_id(&self) -> u64 {
        match (&self.pending, &self.committed) {
            (Some(p), _) => p.batch.id,
            (None, Some((c, _))) => c.batch.id + 1,
            (None, None) => 0,
        }
    }
}

/// How a checkpoint is opened.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenOptions {
    /// Drop a last batch whose `offsets` or `commits` file is torn or corrupt (it is re-planned
    /// or re-run) instead of failing.
    pub(crate) discard_torn_last: bool,
    /// How many batches to keep.
    pub(crate) retain: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            discard_torn_last: false,
            retain: DEFAULT_RETAIN,
        }
    }
}

/// An open checkpoint directory.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    dir: PathBuf,
    retain: u64,
}

const OFFSETS: &str = "offsets";
const COMMITS: &str = "commits";
const METADATA: &str = "metadata";

impl Checkpoint {
    /// Opens (creating it if needed) the checkpoint at `dir` for a job with `settings`, and reads
    /// where a restart carries on. `new_id` names a job that has never run.
    ///
    /// Errors: a changed fixed setting ([`Error::IncompatibleRestart`]); a torn or corrupt file,
    /// a `commits` file without its `offsets`, or a gap ([`Error::CorruptCheckpoint`], with the
    /// path).
    pub(crate) fn open(
        dir: &Path,
        settings: &Settings,
        options: OpenOptions,
        new_id: impl FnOnce() -> String,
    ) -> Result<(Checkpoint, Recovered)> {
        fs::create_dir_all(dir).map_err(|e| Error::Directory {
            path: dir.to_path_buf(),
            reason: format!("cannot create the checkpoint directory: {e}"),
        })?;
        let checkpoint = Checkpoint {
            dir: dir.to_path_buf(),
            retain: options.retain.max(1),
        };
        for sub in ["", OFFSETS, COMMITS] {
            file::remove_stray_temps(&dir.join(sub))?;
        }
        let offsets = checkpoint.ids(OFFSETS)?;
        let commits = checkpoint.ids(COMMITS)?;
        let metadata_path = dir.join(METADATA);
        let metadata: Option<Metadata> = file::read_json(&metadata_path, METADATA)?;
        let metadata = match metadata {
            Some(recorded) => check_settings(&recorded, settings)?,
            None => {
                if let Some(first) = offsets.first().or(commits.first()) {
                    return Err(Error::CorruptCheckpoint {
                        path: metadata_path,
                        message: format!(
                            "it is missing, yet the checkpoint holds batch {first}: restore the file or start on an empty directory"
                        ),
                    });
                }
                let fresh = Metadata {
                    id: new_id(),
                    fixed: settings.fixed.clone(),
                    sticky: settings.sticky.clone(),
                };
                file::write_json(&metadata_path, METADATA, &fresh)?;
                fresh
            }
        };
        let mut recovered = Recovered {
            id: metadata.id.clone(),
            sticky: metadata.sticky.clone(),
            ..Recovered::default()
        };
        let Some(&latest) = offsets.last() else {
            if let Some(c) = commits.last() {
                return Err(checkpoint.orphan_commit(*c));
            }
            return Ok((checkpoint, recovered));
        };
        if let Some(&c) = commits.last() {
            if c > latest {
                return Err(checkpoint.orphan_commit(c));
            }
        }
        // The last plan: torn only if the disk lied; then, if allowed, it is planned again.
        let mut latest = latest;
        let latest_plan = match checkpoint.read_plan(latest) {
            Ok(plan) => plan,
            Err(e) if options.discard_torn_last => {
                log::warn!("{e}; discarding it (the batch is planned again)");
                checkpoint.remove(OFFSETS, latest);
                let _ = checkpoint.remove_commit_if_any(latest);
                match offsets.iter().rev().nth(1) {
                    Some(&previous) => {
                        latest = previous;
                        checkpoint.read_plan(previous)?
                    }
                    None => return Ok((checkpoint, recovered)),
                }
            }
            Err(e) => return Err(e),
        };
        let commit = match checkpoint.read_commit(latest) {
            Ok(commit) => commit,
            Err(e) if options.discard_torn_last => {
                log::warn!("{e}; discarding it (the batch runs again)");
                checkpoint.remove(COMMITS, latest);
                None
            }
            Err(e) => return Err(e),
        };
        let committed_id =
            match commit {
                Some(info) => {
                    recovered.committed = Some((latest_plan, info));
                    latest
                }
                None => {
                    // Planned, never committed: re-run it after the batch before it.
                    recovered.pending = Some(latest_plan);
                    if latest == 0 {
                        return Ok((checkpoint, recovered));
                    }
                    let previous = latest - 1;
                    let plan = checkpoint.read_plan(previous)?;
                    let info = checkpoint.read_commit(previous)?.ok_or_else(|| Error::CorruptCheckpoint {
                    path: checkpoint.path(COMMITS, previous),
                    message: format!(
                        "it is missing, yet batch {latest} was planned after it: batches commit in order"
                    ),
                })?;
                    recovered.committed = Some((plan, info));
                    previous
                }
            };
        let plan_ids: Vec<u64> = offsets.into_iter().filter(|&i| i <= committed_id).collect();
        let first_kept = committed_id.saturating_sub(checkpoint.retain - 1);
        for id in plan_ids.into_iter().filter(|&i| i >= first_kept) {
            if id == committed_id {
                if let Some((plan, _)) = &recovered.committed {
                    recovered.history.push(plan.clone());
                }
            } else if let Ok(plan) = checkpoint.read_plan(id) {
                recovered.history.push(plan);
            }
        }
        Ok((checkpoint, recovered))
    }

    /// Whether the directory at `dir` holds a checkpoint (its `metadata` file).
    pub(crate) fn exists(dir: &Path) -> bool {
        dir.join(METADATA).is_file()
    }

    /// The checkpoint's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of source number `index`.
    pub(crate) fn source_dir(&self, index: usize) -> PathBuf {
        self.dir.join("sources").join(index.to_string())
    }

    /// The directory of stateful operator number `index`.
    pub(crate) fn state_dir(&self, index: usize) -> PathBuf {
        self.dir.join("state").join(index.to_string())
    }

    /// How many batches are kept.
    pub(crate) fn retain(&self) -> u64 {
        self.retain
    }

    /// Writes `offsets/<id>` for `plan`, before the batch runs. Returns its size in bytes.
    #[cfg(test)]
    pub(crate) fn write_plan(&self, plan: &BatchPlan) -> Result<u64> {
        let payload = Self::encode_plan(plan)?;
        self.write_plan_bytes(plan.batch.id, &payload)?;
        Ok(payload.len() as u64)
    }

    /// A plan as the payload of its `offsets/<id>` file.
    pub(crate) fn encode_plan(plan: &BatchPlan) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(plan)
            .map_err(|e| Error::illegal_state(format!("cannot encode the plan of {}: {e}", plan.batch)))
    }

    /// Writes `offsets/<id>` with an encoded plan.
    pub(crate) fn write_plan_bytes(&self, id: u64, payload: &[u8]) -> Result<()> {
        file::write(&self.path(OFFSETS, id), OFFSETS, payload)
    }

    /// Writes `commits/<id>`, once the batch's sinks committed; forgets batches beyond the
    /// retention.
    pub(crate) fn write_commit(&self, id: u64, info: &CommitInfo) -> Result<()> {
        file::write_json(&self.path(COMMITS, id), COMMITS, info)?;
        if id >= self.retain {
            let old = id - self.retain;
            // Batches are forgotten one by one as new ones commit; one removal per batch.
            self.remove(OFFSETS, old);
            self.remove(COMMITS, old);
        }
        Ok(())
    }

    fn path(&self, log: &str, id: u64) -> PathBuf {
        self.dir.join(log).join(id.to_string())
    }

    fn remove(&self, log: &str, id: u64) {
        let _ = fs::remove_file(self.path(log, id));
    }

    fn remove_commit_if_any(&self, id: u64) -> Result<()> {
        self.remove(COMMITS, id);
        Ok(())
    }

    fn orphan_commit(&self, id: u64) -> Error {
        Error::CorruptCheckpoint {
            path: self.path(COMMITS, id),
            message: format!("batch {id} is committed but its plan (offsets/{id}) is missing"),
        }
    }

    fn read_plan(&self, id: u64) -> Result<BatchPlan> {
        let path = self.path(OFFSETS, id);
        let plan: BatchPlan = file::read_json(&path, OFFSETS)?.ok_or_else(|| Error::CorruptCheckpoint {
            path: path.clone(),
            message: "it is missing".into(),
        })?;
        if plan.batch.id != id {
            return Err(Error::CorruptCheckpoint {
                path,
                message: format!("it holds the plan of batch {}", plan.batch.id),
            });
        }
        Ok(plan)
    }

    fn read_commit(&self, id: u64) -> Result<Option<CommitInfo>> {
        file::read_json(&self.path(COMMITS, id), COMMITS)
    }

    /// The batch ids of a log, in order. A name that is not a number is an error.
    fn ids(&self, log: &str) -> Result<Vec<u64>> {
        let dir = self.dir.join(log);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match name.parse::<u64>() {
                Ok(id) => ids.push(id),
                Err(_) => {
                    return Err(Error::CorruptCheckpoint {
                        path: entry.path(),
                        message: format!("`{name}` is not a batch id: only streamflow writes in {log}/"),
                    });
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }
}

/// The recorded metadata, checked against this run's settings.
fn check_settings(recorded: &Metadata, settings: &Settings) -> Result<Metadata> {
    // The job's own settings first: a changed number of partitions is reported as that, not
    // as a change of each operator's.
    let (job, operators): (Vec<_>, Vec<_>) = settings
        .fixed
        .iter()
        .partition(|(k, _)| !k.starts_with("operator "));
    for (name, now) in job.into_iter().chain(operators) {
        match recorded.fixed.get(name) {
            Some(before) if before != now => {
                return Err(Error::IncompatibleRestart {
                    setting: name.clone(),
                    message: format!(
                        "was {before} when the checkpoint was written and is {now} now: restart with {before}, or use a new checkpoint directory"
                    ),
                });
            }
            Some(_) => {}
            None => {
                return Err(Error::IncompatibleRestart {
                    setting: name.clone(),
                    message: format!(
                        "({now}) is new: the checkpoint was written by a job without it; use a new checkpoint directory"
                    ),
                });
            }
        }
    }
    if let Some(gone) = recorded.fixed.keys().find(|k| !settings.fixed.contains_key(*k)) {
        return Err(Error::IncompatibleRestart {
            setting: gone.clone(),
            message: format!(
                "({}) was part of the job that wrote the checkpoint and is gone: restart the same job, or use a new checkpoint directory",
                recorded.fixed[gone]
            ),
        });
    }
    for (name, now) in &settings.sticky {
        if let Some(before) = recorded.sticky.get(name) {
            if before != now {
                log::warn!(
                    "`{name}` is {now} but the checkpoint was written with {before}: keeping {before}, as Spark does"
                );
            }
        }
    }
    let mut sticky = settings.sticky.clone();
    sticky.extend(recorded.sticky.clone());
    Ok(Metadata {
        id: recorded.id.clone(),
        fixed: recorded.fixed.clone(),
        sticky,
    })
}

/// Opens the checkpoint of a job at `dir` with its stateful operators `stores` (each with its
/// snapshot interval in batches) and the job's own `settings`, to which the operators' names,
/// state types and partitions are added as fixed settings.
pub(crate) fn open_for_job(
    name: &str,
    dir: &Path,
    mut settings: Settings,
    stores: Vec<(std::sync::Arc<dyn state::StateOwner>, u64)>,
    options: OpenOptions,
    new_id: impl FnOnce() -> String,
) -> Result<crate::exec::Durability> {
    let names: Vec<&str> = stores.iter().map(|(s, _)| s.handle().operator()).collect();
    settings
        .fixed
        .insert("stateful operators".into(), format!("[{}]", names.join(", ")));
    for (i, (owner, _)) in stores.iter().enumerate() {
        let store = owner.handle();
        let op = format!("operator {i} ({})", store.operator());
        settings.fixed.insert(
            format!("{op} state partitions"),
            store.num_partitions().to_string(),
        );
        settings.fixed.insert(format!("{op} state type"), store.schema());
    }
    let (checkpoint, recovered) = Checkpoint::open(dir, &settings, options, new_id)?;
    let state_dirs: Vec<PathBuf> = (0..stores.len()).map(|i| checkpoint.state_dir(i)).collect();
    let state = state::StateFiles::new(stores, move |i| state_dirs[i].clone(), checkpoint.retain());
    let checkpoint = std::sync::Arc::new(checkpoint);
    let writer = writer::Writer::start(checkpoint.clone(), name)?;
    Ok(crate::exec::Durability {
        checkpoint,
        state,
        writer,
        recovered: Some(recovered),
    })
}

#[cfg(test)]
mod tests;
