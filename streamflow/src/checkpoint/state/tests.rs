//! State files: deltas, snapshots, restores, damage.

use std::fs;
use std::sync::Arc;

use super::*;
use crate::state::StateStore;
use crate::time::Time;

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io("tempdir", e))
}

type Store = StateStore<u32, u64>;

fn files_for(store: &Arc<Store>, dir: &Path, every: u64) -> StateFiles {
    let handle: Arc<dyn StateHandle> = store.clone();
    let root = dir.to_path_buf();
    StateFiles::new(
        vec![(Arc::new(handle), every)],
        move |i| root.join(i.to_string()),
        100,
    )
}

/// One batch: adds `add` to keys `keys`, removes `remove`, commits version `id`.
fn batch(store: &Store, id: u64, keys: &[u32], add: u64, remove: &[u32]) -> Result<()> {
    for p in 0..store.num_partitions() {
        let mut part = store.lock(p);
        for k in keys.iter().filter(|k| store.partition_of(k) == p) {
            part.touch(k);
            *part.map.entry(*k).or_insert(0) += add;
        }
        for k in remove.iter().filter(|k| store.partition_of(k) == p) {
            part.touch(k);
            part.map.remove(k);
        }
        part.commit("counts", Time::from_millis(1_000 * (id as i64 + 1)))?;
    }
    Ok(())
}

fn contents(store: &Store) -> Vec<(u32, u64)> {
    let mut all: Vec<(u32, u64)> = (0..store.num_partitions())
        .flat_map(|p| {
            store
                .lock(p)
                .map
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort_unstable();
    all
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|n| (n.split('.').next().and_then(|i| i.parse::<u64>().ok()), n.clone()));
    names
}

#[test]
fn deltas_between_snapshots_restore_every_committed_version() -> Result<()> {
    let dir = tempdir()?;
    let store = Arc::new(Store::new("counts", 2));
    let mut files = files_for(&store, dir.path(), 3);
    files.restore(None)?;
    let mut expected = Vec::new();
    for id in 0..8_u64 {
        let key = id as u32 % 5;
        batch(
            &store,
            id,
            &[key, 10 + key],
            id + 1,
            if id == 5 { &[1] } else { &[] },
        )?;
        files.write(id)?;
        expected.push(contents(&store));
    }
    // Partition of key 0: a snapshot, then deltas, then a snapshot after 3 files.
    let p = store.partition_of(&0);
    let listed = names(&dir.path().join("0").join(p.to_string()));
    assert!(listed.iter().any(|n| n.ends_with(".delta")), "{listed:?}");
    assert!(
        listed.iter().filter(|n| n.ends_with(".snapshot")).count() >= 2,
        "{listed:?}"
    );
    // Newest first: restoring a version removes the files of later ones.
    for (id, want) in expected.iter().enumerate().rev() {
        let copy = Arc::new(Store::new("counts", 2));
        files_for(&copy, dir.path(), 3).restore(Some(id as u64))?;
        assert_eq!(&contents(&copy), want, "version {id}");
        assert_eq!(copy.version(), Some(Time::from_millis(1_000 * (id as i64 + 1))));
    }
    Ok(())
}

#[test]
fn a_partition_the_batch_did_not_change_writes_nothing() -> Result<()> {
    let dir = tempdir()?;
    let store = Arc::new(Store::new("counts", 2));
    let mut files = files_for(&store, dir.path(), 10);
    files.restore(None)?;
    batch(&store, 0, &[1, 2, 3, 4], 1, &[])?;
    assert_eq!(files.write(0)?.files, 2);
    // A key changed in one partition; the other's version moved: a tiny delta keeps it.
    batch(&store, 1, &[1], 1, &[])?;
    assert_eq!(files.write(1)?.files, 2);
    // Nothing changed, no version moved: nothing written.
    assert_eq!(files.write(2)?.files, 0);
    let part = store.partition_of(&1);
    store.lock(part).touch(&1);
    assert_eq!(files.write(3)?.files, 1);
    Ok(())
}

#[test]
fn a_whole_table_rewrite_is_written_as_a_snapshot() -> Result<()> {
    let dir = tempdir()?;
    let store = Arc::new(Store::new("counts", 1));
    let mut files = files_for(&store, dir.path(), 10);
    files.restore(None)?;
    batch(&store, 0, &[1, 2], 1, &[])?;
    files.write(0)?;
    {
        let mut part = store.lock(0);
        part.touch_all();
        part.map.clear();
        part.map.insert(9, 9);
    }
    files.write(1)?;
    assert_eq!(names(&dir.path().join("0/0")), ["0.snapshot", "1.snapshot"]);
    let copy = Arc::new(Store::new("counts", 1));
    files_for(&copy, dir.path(), 10).restore(Some(1))?;
    assert_eq!(contents(&copy), [(9, 9)]);
    Ok(())
}

#[test]
fn files_of_an_uncommitted_batch_are_removed_on_restore() -> Result<()> {
    let dir = tempdir()?;
    let store = Arc::new(Store::new("counts", 1));
    let mut files = files_for(&store, dir.path(), 10);
    files.restore(None)?;
    batch(&store, 0, &[1], 1, &[])?;
    files.write(0)?;
    batch(&store, 1, &[1], 5, &[])?;
    files.write(1)?;
    // Batch 1 never committed: restore at 0, and its file goes.
    let copy = Arc::new(Store::new("counts", 1));
    let mut again = files_for(&copy, dir.path(), 10);
    again.restore(Some(0))?;
    assert_eq!(contents(&copy), [(1, 1)]);
    assert_eq!(names(&dir.path().join("0/0")), ["0.snapshot"]);
    // The re-run writes batch 1 again, on top of batch 0.
    batch(&copy, 1, &[1], 2, &[])?;
    again.write(1)?;
    let third = Arc::new(Store::new("counts", 1));
    files_for(&third, dir.path(), 10).restore(Some(1))?;
    assert_eq!(contents(&third), [(1, 3)]);
    Ok(())
}

#[test]
fn a_broken_chain_is_reported_with_the_missing_or_damaged_file() -> Result<()> {
    let dir = tempdir()?;
    let store = Arc::new(Store::new("counts", 1));
    let mut files = files_for(&store, dir.path(), 10);
    files.restore(None)?;
    for id in 0..4 {
        batch(&store, id, &[1], 1, &[])?;
        files.write(id)?;
    }
    let part = dir.path().join("0/0");
    fs::remove_file(part.join("2.delta")).map_err(|e| Error::io("rm", e))?;
    let copy = Arc::new(Store::new("counts", 1));
    let err = files_for(&copy, dir.path(), 10)
        .restore(Some(3))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&err, Error::CorruptCheckpoint { path, .. } if path.ends_with("2.delta")),
        "{err}"
    );
    let mut bytes = fs::read(part.join("1.delta")).map_err(|e| Error::io("read", e))?;
    let last = bytes.len() - 1;
    bytes[last] ^= 4;
    fs::write(part.join("1.delta"), bytes).map_err(|e| Error::io("write", e))?;
    let err = files_for(&copy, dir.path(), 10)
        .restore(Some(1))
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("1.delta"), "{err}");
    // State written for other types is named too.
    let other = Arc::new(StateStore::<String, String>::new("counts", 1));
    let handle: Arc<dyn StateHandle> = other.clone();
    let root = dir.path().to_path_buf();
    let err = StateFiles::new(
        vec![(Arc::new(handle), 10)],
        move |i| root.join(i.to_string()),
        100,
    )
    .restore(Some(0))
    .map(|_| ())
    .unwrap_err();
    assert!(err.to_string().contains("0.snapshot"), "{err}");
    Ok(())
}

#[test]
fn old_files_are_purged_once_a_newer_snapshot_covers_the_retention() -> Result<()> {
    let dir = tempdir()?;
    let store = Arc::new(Store::new("counts", 1));
    let handle: Arc<dyn StateHandle> = store.clone();
    let root = dir.path().to_path_buf();
    let mut files = StateFiles::new(vec![(Arc::new(handle), 5)], move |i| root.join(i.to_string()), 10);
    files.restore(None)?;
    for id in 0..41 {
        batch(&store, id, &[1], 1, &[])?;
        files.write(id)?;
    }
    let left = names(&dir.path().join("0/0"));
    assert!(left.len() <= 10 + 5 + 1, "{left:?}");
    let copy = Arc::new(Store::new("counts", 1));
    let handle: Arc<dyn StateHandle> = copy.clone();
    let root = dir.path().to_path_buf();
    StateFiles::new(vec![(Arc::new(handle), 5)], move |i| root.join(i.to_string()), 10).restore(Some(40))?;
    assert_eq!(contents(&copy), [(1, 41)]);
    Ok(())
}
