//! Opening a checkpoint: fresh, restarted, changed, damaged.

use std::fs;
use std::path::Path;

use super::*;
use crate::exec::BatchId;
use crate::source::SourceRange;

fn settings(partitions: &str, policy: &str) -> Settings {
    Settings {
        fixed: [("state partitions".to_string(), partitions.to_string())].into(),
        sticky: [("multiple watermark policy".to_string(), policy.to_string())].into(),
    }
}

fn plan(id: u64) -> BatchPlan {
    BatchPlan {
        batch: BatchId {
            id,
            time: Time::from_millis(1_000 * (id as i64 + 1)),
        },
        sources: vec![SourceRange {
            source: "numbers".into(),
            start: serde_json::json!(id * 10),
            end: serde_json::json!(id * 10 + 10),
        }],
        watermark: Some(Time::from_millis(500 * id as i64)),
    }
}

fn open(dir: &Path) -> Result<(Checkpoint, Recovered)> {
    Checkpoint::open(dir, &settings("2", "min"), OpenOptions::default(), || {
        "job-1".into()
    })
}

fn open_err(dir: &Path) -> String {
    match open(dir) {
        Ok(_) => "opened".into(),
        Err(e) => e.to_string(),
    }
}

/// Runs batches `0..n`, committing all but (with `pending`) the last.
fn run(dir: &Path, n: u64, pending: bool) -> Result<()> {
    let (ckpt, _) = open(dir)?;
    for id in 0..n {
        ckpt.write_plan(&plan(id))?;
        if !(pending && id + 1 == n) {
            ckpt.write_commit(
                id,
                &CommitInfo {
                    next_watermark: Some(Time::from_millis(7 * id as i64)),
                    no_data_batch: id % 2 == 0,
                },
            )?;
        }
    }
    Ok(())
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io("tempdir", e))
}

#[test]
fn a_fresh_directory_is_a_first_run_and_keeps_its_id() -> Result<()> {
    let dir = tempdir()?;
    let (_, recovered) = open(dir.path())?;
    assert!(!recovered.is_restart());
    assert_eq!(recovered.id, "job-1");
    assert_eq!(recovered.next_id(), 0);
    // A second open keeps the first id, whatever the new one would be.
    let (_, again) = Checkpoint::open(dir.path(), &settings("2", "min"), OpenOptions::default(), || {
        "other".into()
    })?;
    assert_eq!(again.id, "job-1");
    Ok(())
}

#[test]
fn a_committed_last_batch_resumes_after_it() -> Result<()> {
    let dir = tempdir()?;
    run(dir.path(), 3, false)?;
    let (_, r) = open(dir.path())?;
    let (last, info) = r
        .committed
        .clone()
        .ok_or_else(|| Error::illegal_state("no commit"))?;
    assert_eq!(last, plan(2));
    assert_eq!(info.next_watermark, Some(Time::from_millis(14)));
    assert!(info.no_data_batch);
    assert!(r.pending.is_none());
    assert_eq!(r.next_id(), 3);
    assert_eq!(r.history, vec![plan(0), plan(1), plan(2)]);
    Ok(())
}

#[test]
fn a_planned_uncommitted_batch_is_re_run_with_its_plan() -> Result<()> {
    let dir = tempdir()?;
    run(dir.path(), 3, true)?;
    let (_, r) = open(dir.path())?;
    assert_eq!(r.pending, Some(plan(2)));
    assert_eq!(r.committed.as_ref().map(|c| c.0.clone()), Some(plan(1)));
    assert_eq!(r.next_id(), 2);
    // The very first batch pending: nothing committed.
    let first = tempdir()?;
    run(first.path(), 1, true)?;
    let (_, r) = open(first.path())?;
    assert_eq!(r.pending, Some(plan(0)));
    assert!(r.committed.is_none());
    Ok(())
}

#[test]
fn a_changed_fixed_setting_is_refused_by_name_and_sticky_ones_keep_the_first_value() -> Result<()> {
    let dir = tempdir()?;
    run(dir.path(), 1, false)?;
    let err = Checkpoint::open(dir.path(), &settings("4", "min"), OpenOptions::default(), || {
        "x".into()
    })
    .map(|_| ())
    .unwrap_err();
    assert!(matches!(&err, Error::IncompatibleRestart { setting, .. } if setting == "state partitions"));
    assert!(
        err.to_string()
            .contains("was 2 when the checkpoint was written and is 4 now"),
        "{err}"
    );
    let (_, r) = Checkpoint::open(dir.path(), &settings("2", "max"), OpenOptions::default(), || {
        "x".into()
    })?;
    assert_eq!(
        r.sticky.get("multiple watermark policy").map(String::as_str),
        Some("min")
    );
    // A fixed setting added or removed is a change too.
    let mut more = settings("2", "min");
    more.fixed.insert("operator 0".into(), "count".into());
    let err = Checkpoint::open(dir.path(), &more, OpenOptions::default(), || "x".into())
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("`operator 0` (count) is new"), "{err}");
    Ok(())
}

#[test]
fn every_kind_of_damage_is_reported_with_its_path() -> Result<()> {
    // A flipped byte in the last plan.
    let dir = tempdir()?;
    run(dir.path(), 3, false)?;
    let path = dir.path().join("offsets/2");
    let mut bytes = fs::read(&path).map_err(|e| Error::io("read", e))?;
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).map_err(|e| Error::io("write", e))?;
    let err = open_err(dir.path());
    assert!(err.contains("offsets/2") && err.contains("checksum"), "{err}");

    // A truncated commit.
    let dir = tempdir()?;
    run(dir.path(), 3, false)?;
    let path = dir.path().join("commits/2");
    let bytes = fs::read(&path).map_err(|e| Error::io("read", e))?;
    fs::write(&path, &bytes[..bytes.len() - 3]).map_err(|e| Error::io("write", e))?;
    let err = open_err(dir.path());
    assert!(err.contains("commits/2") && err.contains("torn"), "{err}");

    // A commit of the batch before the pending one is missing.
    let dir = tempdir()?;
    run(dir.path(), 3, true)?;
    fs::remove_file(dir.path().join("commits/1")).map_err(|e| Error::io("rm", e))?;
    let err = open_err(dir.path());
    assert!(err.contains("commits/1") && err.contains("missing"), "{err}");

    // A commit without its plan.
    let dir = tempdir()?;
    run(dir.path(), 2, false)?;
    fs::remove_file(dir.path().join("offsets/1")).map_err(|e| Error::io("rm", e))?;
    let err = open_err(dir.path());
    assert!(err.contains("commits/1") && err.contains("plan"), "{err}");

    // The metadata gone.
    let dir = tempdir()?;
    run(dir.path(), 1, false)?;
    fs::remove_file(dir.path().join("metadata")).map_err(|e| Error::io("rm", e))?;
    let err = open_err(dir.path());
    assert!(err.contains("metadata") && err.contains("missing"), "{err}");

    // A stranger in offsets/.
    let dir = tempdir()?;
    run(dir.path(), 1, false)?;
    fs::write(dir.path().join("offsets/notes.txt"), b"hi").map_err(|e| Error::io("write", e))?;
    let err = open_err(dir.path());
    assert!(
        err.contains("notes.txt") && err.contains("not a batch id"),
        "{err}"
    );

    // A stray temporary file is only a warning: it is removed.
    let dir = tempdir()?;
    run(dir.path(), 2, false)?;
    fs::write(dir.path().join("offsets/.2.tmp"), b"half").map_err(|e| Error::io("write", e))?;
    let (_, r) = open(dir.path())?;
    assert_eq!(r.next_id(), 2);
    assert!(!dir.path().join("offsets/.2.tmp").exists());
    Ok(())
}

#[test]
fn a_torn_last_batch_can_be_discarded_on_request() -> Result<()> {
    let dir = tempdir()?;
    run(dir.path(), 3, true)?;
    fs::write(
        dir.path().join("offsets/2"),
        b"streamflow-checkpoint offsets v1 len=99 crc32=0\n{",
    )
    .map_err(|e| Error::io("write", e))?;
    assert!(open_err(dir.path()).contains("offsets/2"));
    let options = OpenOptions {
        discard_torn_last: true,
        ..OpenOptions::default()
    };
    let (_, r) = Checkpoint::open(dir.path(), &settings("2", "min"), options, || "x".into())?;
    assert!(r.pending.is_none());
    assert_eq!(r.next_id(), 2);
    assert!(!dir.path().join("offsets/2").exists());
    // A torn last commit: the batch runs again.
    let dir = tempdir()?;
    run(dir.path(), 3, false)?;
    fs::write(dir.path().join("commits/2"), b"").map_err(|e| Error::io("write", e))?;
    let (_, r) = Checkpoint::open(dir.path(), &settings("2", "min"), options, || "x".into())?;
    assert_eq!(r.pending, Some(plan(2)));
    Ok(())
}

#[test]
fn old_batches_are_forgotten_beyond_the_retention() -> Result<()> {
    let dir = tempdir()?;
    let options = OpenOptions {
        retain: 5,
        ..OpenOptions::default()
    };
    let (ckpt, _) = Checkpoint::open(dir.path(), &settings("2", "min"), options, || "x".into())?;
    for id in 0..12 {
        ckpt.write_plan(&plan(id))?;
        ckpt.write_commit(id, &CommitInfo::default())?;
    }
    let mut left: Vec<u64> = fs::read_dir(dir.path().join("offsets"))
        .map_err(|e| Error::io("ls", e))?
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect();
    left.sort_unstable();
    assert_eq!(left, vec![7, 8, 9, 10, 11]);
    let (_, r) = Checkpoint::open(dir.path(), &settings("2", "min"), options, || "x".into())?;
    assert_eq!(r.next_id(), 12);
    assert_eq!(r.history.len(), 5);
    Ok(())
}
