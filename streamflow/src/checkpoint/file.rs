//! One checkpoint file: written atomically, read back only if whole.
//!
//! A file is a header line, then its payload:
//!
//! ```text
//! streamflow-checkpoint <kind> v<version> len=<payload bytes> crc32=<8 hex digits>\n
//! <payload>
//! ```
//!
//! It is written to a temporary file in the same directory (`.<name>.tmp`), synced, renamed over
//! its final name and the directory synced: a reader sees the old file or the new one, never a
//! part. A file that was torn anyway (a disk that lies, a copy cut short), whose bytes changed, or
//! that a newer streamflow wrote is refused with its path ([`Error::CorruptCheckpoint`]).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The format version this build writes, and the newest it reads.
pub(crate) const VERSION: u32 = 1;

const MAGIC: &str = "streamflow-checkpoint";

/// The longest header a reader accepts before calling the file corrupt.
const MAX_HEADER: usize = 200;

/// The name of the temporary file `path` is written through.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Whether `name` is one of the temporary files [`write`] leaves behind when it is killed.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// The bytes of a file of `kind` holding `payload`.
pub(crate) fn encode(kind: &str, payload: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(payload);
    let mut out = format!(
        "{MAGIC} {kind} v{VERSION} len={} crc32={crc:08x}\n",
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Writes `payload` as a file of `kind` at `path`, atomically and durably: after this returns,
/// a crash leaves the new file; before, the old one (or none).
pub(crate) fn write(path: &Path, kind: &str, payload: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let temp = temp_path(path);
    let bytes = encode(kind, payload);
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        sync_dir(dir)
    })();
    written.map_err(|e| {
        let _ = fs::remove_file(&temp);
        Error::io(format!("cannot write checkpoint file {}", path.display()), e)
    })
}

/// Syncs a directory, so that a rename or removal in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Directories cannot be opened for syncing everywhere; where they can, a failure is real.
    match File::open(dir) {
        Ok(d) => match d.sync_all() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            Err(e) if e.raw_os_error() == Some(21) || e.raw_os_error() == Some(9) => Ok(()),
            Err(e) => Err(e),
        },
        Err(_) => Ok(()),
    }
}

/// Reads the payload of the file of `kind` at `path`, checking its header, length and checksum.
/// `Ok(None)` if there is no such file.
pub(crate) fn read(path: &Path, kind: &str) -> Result<Option<Vec<u8>>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::io(
                format!("cannot read checkpoint file {}", path.display()),
                e,
            ));
        }
    };
    decode(&bytes, kind)
        .map(Some)
        .map_err(|message| Error::CorruptCheckpoint {
            path: path.to_path_buf(),
            message,
        })
}

/// The payload of a file's bytes, or why they are not a whole file of `kind`.
pub(crate) fn decode(bytes: &[u8], kind: &str) -> std::result::Result<Vec<u8>, String> {
    let end = bytes
        .iter()
        .take(MAX_HEADER)
        .position(|&b| b == b'\n')
        .ok_or_else(|| {
            if bytes.is_empty() {
                "the file is empty (torn by a crash while it was written?)".to_string()
            } else {
                "it does not start with a streamflow checkpoint header".to_string()
            }
        })?;
    let header = std::str::from_utf8(&bytes[..end]).map_err(|_| "its header is not text".to_string())?;
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, found_kind, version, len, crc] = fields[..] else {
        return Err(format!(
            "its header `{header}` is not a streamflow checkpoint header"
        ));
    };
    if magic != MAGIC {
        return Err(format!(
            "its header `{header}` is not a streamflow checkpoint header"
        ));
    }
    if found_kind != kind {
        return Err(format!("it holds `{found_kind}`, not `{kind}`"));
    }
    let version: u32 = version
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("its version `{version}` is not a version"))?;
    if version > VERSION {
        return Err(format!(
            "it was written in format v{version} by a newer streamflow; this one reads up to v{VERSION}"
        ));
    }
    let len: usize = len
        .strip_prefix("len=")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("its length `{len}` is not a number"))?;
    let crc = crc
        .strip_prefix("crc32=")
        .and_then(|v| u32::from_str_radix(v, 16).ok())
        .ok_or_else(|| format!("its checksum `{crc}` is not a checksum"))?;
    let payload = &bytes[end + 1..];
    if payload.len() != len {
        return Err(format!(
            "it should hold {len} bytes after its header but holds {} (torn by a crash, or cut short by a copy)",
            payload.len()
        ));
    }
    let found = crc32fast::hash(payload);
    if found != crc {
        return Err(format!(
            "its checksum is {found:08x}, its header says {crc:08x}: its bytes changed after it was written"
        ));
    }
    Ok(payload.to_vec())
}

/// Writes `value` as JSON in a file of `kind`.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, kind: &str, value: &T) -> Result<()> {
    let payload = serde_json::to_vec_pretty(value).map_err(|e| {
        Error::illegal_state(format!("cannot encode checkpoint file {}: {e}", path.display()))
    })?;
    write(path, kind, &payload)
}

/// Reads a JSON file of `kind`; `Ok(None)` if there is none.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path, kind: &str) -> Result<Option<T>> {
    let Some(payload) = read(path, kind)? else {
        return Ok(None);
    };
    serde_json::from_slice(&payload)
        .map(Some)
        .map_err(|e| Error::CorruptCheckpoint {
            path: path.to_path_buf(),
            message: format!("its checksum is right but its content is not a `{kind}` record: {e}"),
        })
}

/// Removes the temporary files a killed writer left in `dir`, logging each: they never hold
/// anything that was acknowledged.
pub(crate) fn remove_stray_temps(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_temp_name(&name) {
            log::warn!(
                "removing {}: a checkpoint file whose writing was interrupted (it was never used)",
                entry.path().display()
            );
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bytes: &[u8]) -> String {
        match decode(bytes, "offsets") {
            Ok(_) => "decoded".into(),
            Err(e) => e,
        }
    }

    #[test]
    fn a_written_file_reads_back() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("offsets").join("7");
        write(&path, "offsets", b"{\"batch\": 7}")?;
        assert_eq!(read(&path, "offsets")?.as_deref(), Some(&b"{\"batch\": 7}"[..]));
        assert_eq!(read(&dir.path().join("none"), "offsets")?, None);
        // Overwriting replaces it whole, and leaves no temporary file.
        write(&path, "offsets", b"x")?;
        assert_eq!(read(&path, "offsets")?.as_deref(), Some(&b"x"[..]));
        let names: Vec<String> = fs::read_dir(path.parent().unwrap_or(dir.path()))
            .map_err(|e| Error::io("list", e))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["7"]);
        Ok(())
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let good = encode("offsets", b"hello world");
        assert_eq!(decode(&good, "offsets").as_deref(), Ok(&b"hello world"[..]));
        assert!(err(&[]).contains("empty"));
        assert!(
            err(&good[..good.len() - 1]).contains("torn"),
            "{}",
            err(&good[..good.len() - 1])
        );
        assert!(err(&good[..10]).contains("header"));
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x20;
        assert!(err(&flipped).contains("checksum"), "{}", err(&flipped));
        let mut longer = good.clone();
        longer.push(b'!');
        assert!(err(&longer).contains("holds 12"));
        assert!(err(&encode("commits", b"x")).contains("holds `commits`"));
        let newer = String::from_utf8_lossy(&good).replace(" v1 ", " v9 ");
        assert!(err(newer.as_bytes()).contains("newer streamflow"));
        assert!(err(b"not a checkpoint\n").contains("not a streamflow checkpoint header"));
        assert!(err(&[0xff; 300]).contains("does not start"));
    }

    #[test]
    fn damage_never_panics_nor_reads_wrong_bytes() {
        let good = encode("state", &[7_u8; 64]);
        for cut in 0..good.len() {
            let _ = decode(&good[..cut], "state");
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                // Refused, or (a hex digit's case flipped) the very same payload.
                if let Ok(payload) = decode(&bad, "state") {
                    assert_eq!(payload, [7_u8; 64], "byte {i} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn stray_temporary_files_are_removed() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        fs::write(dir.path().join(".3.tmp"), b"half").map_err(|e| Error::io("w", e))?;
        fs::write(dir.path().join("3"), b"kept").map_err(|e| Error::io("w", e))?;
        remove_stray_temps(dir.path())?;
        assert!(!dir.path().join(".3.tmp").exists());
        assert!(dir.path().join("3").exists());
        Ok(())
    }
}
