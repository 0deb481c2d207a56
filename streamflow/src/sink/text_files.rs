//! `save_as_text_files`: one directory of text per batch (Spark's `saveAsTextFiles`).
//!
//! A batch's directory appears whole or not at all: it is written into `_tmp-<name>` next to
//! it (each file synced), then renamed into place and the parent directory synced. A batch
//! written again — the same batch time re-run after a restart — replaces the earlier directory
//! whole: the old one is first renamed aside to `_old-<name>`, so no stale part file survives.
//! Names starting with `_` are what Hadoop, Spark and our file source skip, so a reader never
//! takes a temporary directory for output; one left by a killed run is removed by the next
//! write of its batch.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Show;
use crate::checkpoint::file::sync_dir;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::time::Time;

/// Spark's `rddToFileName`: the batch time in milliseconds, `prefix-` before it when the prefix
/// is not empty, `.suffix` after it when the suffix is not empty.
fn batch_dir(prefix: &str, suffix: &str, time: Time) -> PathBuf {
    let mut name = time.millis().to_string();
    if !prefix.is_empty() {
        name = format!("{prefix}-{name}");
    }
    if !suffix.is_empty() {
        name = format!("{name}.{suffix}");
    }
    PathBuf::from(name)
}

/// The directory `dir` is in: `.` for a bare name (no prefix, or a prefix without a directory).
fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes the partitions as `part-00000` … plus `_SUCCESS` into a temporary directory, then
/// renames it into place, so a reader never sees half a batch. A re-run of the same batch
/// replaces the earlier output whole (idempotent by batch time).
fn write_batch(dir: &Path, partitions: &[Vec<String>]) -> Result<()> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = parent_of(dir);
    let tmp = parent.join(format!("_tmp-{name}"));
    let old = parent.join(format!("_old-{name}"));
    let io = |what: &str, path: &Path, e| {
        Error::io(format!("save_as_text_files: cannot {what} {}", path.display()), e)
    };
    // Left by a run killed while it wrote this batch: never output, so simply removed.
    for leftover in [&tmp, &old] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover).map_err(|e| io("clean", leftover, e))?;
        }
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io("create", &tmp, e))?;
    for (i, lines) in partitions.iter().enumerate() {
        let path = tmp.join(format!("part-{i:05}"));
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| io("write into", &tmp, e))?);
        for line in lines {
            file.write_all(line.as_bytes())
                .map_err(|e| io("write into", &tmp, e))?;
            file.write_all(b"\n").map_err(|e| io("write into", &tmp, e))?;
        }
        let file = file
            .into_inner()
            .map_err(|e| io("write into", &tmp, e.into_error()))?;
        file.sync_all().map_err(|e| io("sync", &path, e))?;
    }
    std::fs::File::create(tmp.join("_SUCCESS"))
        .and_then(|f| f.sync_all())
        .map_err(|e| io("write into", &tmp, e))?;
    sync_dir(&tmp).map_err(|e| io("sync", &tmp, e))?;
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| io("replace", dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io("move the batch into", dir, e))?;
    sync_dir(&parent).map_err(|e| io("sync", &parent, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| io("remove the replaced", &old, e))?;
    }
    Ok(())
}

impl<T: Data + Show> DStream<T> {
    /// Writes every batch into the directory `prefix-<time ms>` (with `.suffix` when the
    /// suffix is not empty; just `<time ms>` when the prefix is empty, as Spark names it), one
    /// file per partition, one element per line (Spark's `saveAsTextFiles`).
    ///
    /// Each directory appears whole, by rename, and a batch written again — the same batch
    /// re-run after a restart from a checkpoint — replaces it whole: with a replayable source,
    /// the directories of a job killed and restarted are those of a job never interrupted.
    ///
    /// # Examples
    ///
    /// ```
    /// # use streamflow::{testing::TestContext, Duration};
    /// let out = tempfile::tempdir()?;
    /// let prefix = out.path().join("counts");
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// t.input(vec![vec![("a", 1)]]).save_as_text_files(prefix.to_str().unwrap(), "txt");
    /// t.run(1)?;
    /// let dir = out.path().join("counts-1000.txt");
    /// assert!(dir.join("_SUCCESS").exists());
    /// let text = std::fs::read_to_string(dir.join("part-00000"))? + &std::fs::read_to_string(dir.join("part-00001"))?;
    /// assert_eq!(text, "(a,1)\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias("saveAsHadoopFiles", "saveAsObjectFiles"))]
    pub fn save_as_text_files(&self, prefix: &str, suffix: &str) {
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        self.output("save_as_text_files", move |batch, time| {
            let partitions = batch.map(|t| t.show()).collect_partitions();
            write_batch(&batch_dir(&prefix, &suffix, time), &partitions)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::dir_names as names;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn spark_directory_naming() {
        let at = Time::from_millis(5000);
        assert_eq!(batch_dir("out/wc", "", at), PathBuf::from("out/wc-5000"));
        assert_eq!(batch_dir("out/wc", "txt", at), PathBuf::from("out/wc-5000.txt"));
        // Without a prefix, just the time: no dash (Spark's `rddToFileName`).
        assert_eq!(batch_dir("", "", at), PathBuf::from("5000"));
        assert_eq!(batch_dir("", "txt", at), PathBuf::from("5000.txt"));
    }

    #[test]
    fn a_rerun_replaces_the_directory_whole_and_clears_what_a_killed_run_left() -> TestResult {
        let out = tempfile::tempdir()?;
        let dir = out.path().join("wc-1000");
        write_batch(&dir, &[vec!["a".into()], vec!["b".into(), "c".into()]])?;
        assert_eq!(names(&dir)?, ["_SUCCESS", "part-00000", "part-00001"]);
        // A run killed while writing the batch again left its temporary directories.
        for leftover in ["_tmp-wc-1000", "_old-wc-1000"] {
            std::fs::create_dir(out.path().join(leftover))?;
            std::fs::write(out.path().join(leftover).join("part-00000"), "half\n")?;
        }
        write_batch(&dir, &[vec!["new".into()]])?;
        assert_eq!(names(out.path())?, ["wc-1000"]);
        assert_eq!(names(&dir)?, ["_SUCCESS", "part-00000"]);
        assert_eq!(std::fs::read_to_string(dir.join("part-00000"))?, "new\n");
        Ok(())
    }

    #[test]
    fn without_a_prefix_the_directory_is_written_in_the_working_directory() -> TestResult {
        let bare = batch_dir("", "", Time::from_millis(2000));
        assert_eq!(parent_of(&bare), PathBuf::from("."));
        assert_eq!(parent_of(Path::new("out/wc-1")), PathBuf::from("out"));
        let out = tempfile::tempdir()?;
        write_batch(&out.path().join(bare), &[vec!["x".into()]])?;
        assert_eq!(names(out.path())?, ["2000"]);
        Ok(())
    }
}
