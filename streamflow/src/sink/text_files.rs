//! `save_as_text_files`: one directory of text per batch (Spark's `saveAsTextFiles`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Show;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::time::Time;

/// `prefix-<time ms>[.suffix]`, Spark's naming.
fn batch_dir(prefix: &str, suffix: &str, time: Time) -> PathBuf {
    if suffix.is_empty() {
        PathBuf::from(format!("{prefix}-{}", time.millis()))
    } else {
        PathBuf::from(format!("{prefix}-{}.{suffix}", time.millis()))
    }
}

/// Writes the partitions as `part-00000` … plus `_SUCCESS` into a temporary directory, then
/// renames it into place, so a reader never sees half a batch. A re-run of the same batch
/// replaces the earlier output (idempotent by batch time).
fn write_batch(dir: &Path, partitions: &[Vec<String>]) -> Result<()> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.with_file_name(format!("_tmp-{name}"));
    let io = |what: &str, e| Error::io(format!("save_as_text_files: cannot {what} {}", tmp.display()), e);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io("clean", e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io("create", e))?;
    for (i, lines) in partitions.iter().enumerate() {
        let path = tmp.join(format!("part-{i:05}"));
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| io("write into", e))?);
        for line in lines {
            file.write_all(line.as_bytes()).map_err(|e| io("write into", e))?;
            file.write_all(b"\n").map_err(|e| io("write into", e))?;
        }
        let file = file.into_inner().map_err(|e| io("write into", e.into_error()))?;
        file.sync_all().map_err(|e| io("sync", e))?;
    }
    std::fs::File::create(tmp.join("_SUCCESS")).map_err(|e| io("write into", e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| Error::io(format!("save_as_text_files: cannot replace {}", dir.display()), e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| {
        Error::io(
            format!("save_as_text_files: cannot move the batch into {}", dir.display()),
            e,
        )
    })
}

impl<T: Data + Show> DStream<T> {
    /// Writes every batch into the directory `prefix-<time ms>` (with `.suffix` when the
    /// suffix is not empty), one file per partition, one element per line
    /// (Spark's `saveAsTextFiles`). Each directory appears whole, by rename.
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

    #[test]
    fn spark_directory_naming() {
        assert_eq!(
            batch_dir("out/wc", "", Time::from_millis(5000)),
            PathBuf::from("out/wc-5000")
        );
        assert_eq!(
            batch_dir("out/wc", "txt", Time::from_millis(5000)),
            PathBuf::from("out/wc-5000.txt")
        );
    }
}
