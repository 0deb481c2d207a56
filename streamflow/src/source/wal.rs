//! The write-ahead log of a receiver's blocks (Spark's receiver `WriteAheadLog`): what a
//! receiver stored survives a kill, and a restarted job reads its blocks again.
//!
//! The log is a directory of append-only segment files, `<first block>.wal`, each opening with
//! a header line (`streamflow-wal v1`) followed by records:
//!
//! ```text
//! payload length   u32 LE
//! payload crc32    u32 LE
//! header crc32     u32 LE   (of the 8 bytes before it: a damaged length is caught, not trusted)
//! payload          [tag, …]
//! ```
//!
//! A payload is one of:
//!
//! - a **chunk** (tag 0, then the encoded records): what one `store` call handed over;
//! - a **seal** (tag 1, then the block's sequence number, u64 LE): the chunks since the previous
//!   seal form that block — written before the block can be planned;
//! - a **commit** (tag 2, then the end offset, u64 LE): a batch ending there was committed, for
//!   retention after a restart.
//!
//! Appends are group-committed: each append gets a ticket, and [`Wal::flush`] writes and syncs
//! everything appended so far, so callers waiting together share one `fsync`. A segment is
//! closed right after a seal, once it holds [`SEGMENT_BLOCKS`] blocks or [`SEGMENT_BYTES`]
//! bytes, so a segment holds whole blocks (plus, in the last one, the chunks of the block not
//! sealed yet).
//!
//! On open, the records are read back. A record cut short at the end of the last segment — the
//! job killed in the middle of an append, before anything waiting on it was acknowledged — is
//! truncated with a warning. Any other damage is [`Error::CorruptCheckpoint`] naming the segment:
//! nothing is dropped silently.
//!
//! Retention: a segment is deleted once every block in it is older than what the last
//! [`RETAINED_COMMITS`] commits read, which is all a restarted job can ask for again.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::checkpoint::file::sync_dir;
use crate::error::{Error, Result};
use crate::exec::lock;

/// The first bytes of every segment.
const SEGMENT_HEADER: &[u8] = b"streamflow-wal v1\n";

/// Length, payload checksum, header checksum.
const RECORD_HEADER: usize = 12;

/// Blocks per segment: small segments let retention delete old blocks soon.
pub(crate) const SEGMENT_BLOCKS: u64 = 10;

/// Bytes after which a segment is closed at the next seal.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;

/// How many commits' blocks are kept. A restarted job re-runs the last planned batch, and a
/// DStream job may read again the batches of its windows (its remember duration); 100 batches
/// (Spark's default number of batches a checkpoint retains) cover windows up to 100 batch
/// intervals.
pub(crate) const RETAINED_COMMITS: usize = 100;

/// The longest payload a reader believes; a longer length is damage.
const MAX_PAYLOAD: u32 = 1 << 30;

const CHUNK: u8 = 0;
const SEAL: u8 = 1;
const COMMIT: u8 = 2;

/// Where a chunk's record is: its segment, the offset of its record header, its payload length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChunkAt {
    segment: u64,
    offset: u64,
    len: u32,
}

/// What is appended and not yet written, and what the log holds.
struct Appends {
    /// Framed records not written yet, by segment, in order.
    pending: Vec<(u64, Vec<u8>)>,
    /// Records appended so far: a flush up to ticket `n` makes the first `n` durable.
    appended: u64,
    /// The segment appended to (the last of `segments`), its size once the pending bytes are
    /// written, and the blocks sealed in it.
    segment: u64,
    size: u64,
    blocks_in_segment: u64,
    /// Every segment, oldest first, by its name (the first block it holds).
    segments: Vec<u64>,
    /// The chunks since the last seal.
    open: Vec<ChunkAt>,
    /// Every sealed block still in the log.
    sealed: BTreeMap<u64, Vec<ChunkAt>>,
    /// The ends of the last commits, oldest first (at most `RETAINED_COMMITS + 1`).
    commits: VecDeque<u64>,
    /// The next block's sequence number, once a seal fixed the numbering.
    next_block: Option<u64>,
}

/// The file written to.
struct Writer {
    file: Option<(u64, File)>,
    /// Records durable so far (a ticket).
    durable: u64,
    /// Why a write failed: what was appended since is in an unknown state, so the log refuses
    /// everything after.
    broken: Option<String>,
}

/// A receiver's write-ahead log in `dir`.
pub(crate) struct Wal {
    dir: PathBuf,
    appends: Mutex<Appends>,
    writer: Mutex<Writer>,
}

/// What the log held when it was opened, beyond its sealed blocks.
pub(crate) struct Recovered {
    /// The payloads of the chunks stored after the last seal (durable, not yet in a block).
    pub(crate) open_chunks: Vec<Vec<u8>>,
    /// The sequence number of the next block, if the log ever sealed one.
    pub(crate) next_block: Option<u64>,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.wal"))
}

/// A record's bytes: header and payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(RECORD_HEADER + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let header_crc = crc32fast::hash(&out[..8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    let mut word = [0; 8];
    word.copy_from_slice(slice);
    Some(u64::from_le_bytes(word))
}

/// A record read from a segment.
enum Parsed<'a> {
    /// A whole record: its payload and where the next one starts.
    Record(&'a [u8], usize),
    /// The bytes from here on are a record cut short (or, after a crash of the machine,
    /// never written): a torn tail, if this is the end of the log.
    Torn(String),
    /// The record is damaged and more follows it.
    Corrupt(String),
}

/// Parses the record at `at` in `bytes`.
fn parse(bytes: &[u8], at: usize) -> Parsed<'_> {
    let rest = &bytes[at..];
    if rest.len() < RECORD_HEADER {
        return Parsed::Torn(format!("{} bytes of a record header", rest.len()));
    }
    let (len, crc, header_crc) = (u32_at(rest, 0), u32_at(rest, 4), u32_at(rest, 8));
    if crc32fast::hash(&rest[..8]) != header_crc {
        // Zeros where a record should be: space a crashed machine allocated but never wrote.
        if rest.iter().all(|&b| b == 0) {
            return Parsed::Torn(format!("{} zero bytes", rest.len()));
        }
        return Parsed::Corrupt(format!(
            "the record at byte {at} has a damaged header (its checksum does not match)"
        ));
    }
    if len > MAX_PAYLOAD || len == 0 {
        return Parsed::Corrupt(format!("the record at byte {at} claims {len} bytes"));
    }
    let end = RECORD_HEADER + len as usize;
    if rest.len() < end {
        return Parsed::Torn(format!(
            "a record of {len} bytes with only {} written",
            rest.len() - RECORD_HEADER
        ));
    }
    let payload = &rest[RECORD_HEADER..end];
    if crc32fast::hash(payload) != crc {
        if rest.len() == end {
            return Parsed::Torn(format!(
                "a last record of {len} bytes whose checksum does not match"
            ));
        }
        return Parsed::Corrupt(format!(
            "the record at byte {at} ({len} bytes) has changed since it was written (its checksum does not match)"
        ));
    }
    Parsed::Record(payload, at + end)
}

/// The segments in `dir`, by name, oldest first.
fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let cannot_list = |e| Error::io(format!("cannot list {}", dir.display()), e);
    let mut segments = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let name = entry.map_err(cannot_list)?.file_name();
                let name = name.to_string_lossy();
                if let Some(first) = name.strip_suffix(".wal").and_then(|n| n.parse::<u64>().ok()) {
                    segments.push(first);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(cannot_list(e)),
    }
    segments.sort_unstable();
    Ok(segments)
}

impl Appends {
    /// The state of a log holding `segments` before any is read.
    fn new(segments: Vec<u64>) -> Self {
        Appends {
            pending: Vec::new(),
            appended: 0,
            segment: segments.last().copied().unwrap_or(0),
            size: SEGMENT_HEADER.len() as u64,
            blocks_in_segment: 0,
            segments: if segments.is_empty() { vec![0] } else { segments },
            open: Vec::new(),
            sealed: BTreeMap::new(),
            commits: VecDeque::new(),
            next_block: None,
        }
    }

    /// Replays the records of `segment` (its file `path` holds `bytes`), adding the payloads
    /// of chunks not sealed yet to `open_chunks`. Returns how many bytes of it are whole: all
    /// of them, except for a torn tail of the `last` segment.
    fn replay(
        &mut self,
        segment: u64,
        path: &Path,
        bytes: &[u8],
        last: bool,
        open_chunks: &mut Vec<Vec<u8>>,
    ) -> Result<usize> {
        let corrupt = |message: String| Error::CorruptCheckpoint {
            path: path.to_path_buf(),
            message: format!("{message}; the write-ahead log cannot be read past it"),
        };
        if !bytes.starts_with(SEGMENT_HEADER) {
            if last && SEGMENT_HEADER.starts_with(bytes) {
                warn_torn(path, "a segment header cut short", 0);
                return Ok(0);
            }
            return Err(corrupt("it does not start with a write-ahead log header".into()));
        }
        self.blocks_in_segment = 0;
        let mut at = SEGMENT_HEADER.len();
        while at < bytes.len() {
            let (payload, next) = match parse(bytes, at) {
                Parsed::Record(payload, next) => (payload, next),
                Parsed::Torn(what) if last => {
                    warn_torn(path, &what, at);
                    return Ok(at);
                }
                Parsed::Torn(what) => {
                    return Err(corrupt(format!(
                        "it ends with {what} at byte {at}, and it is not the last segment"
                    )));
                }
                Parsed::Corrupt(message) => return Err(corrupt(message)),
            };
            match payload[0] {
                CHUNK => {
                    self.open.push(ChunkAt {
                        segment,
                        offset: at as u64,
                        len: payload.len() as u32,
                    });
                    open_chunks.push(payload[1..].to_vec());
                }
                SEAL => {
                    let seq = u64_at(payload, 1)
                        .ok_or_else(|| corrupt(format!("the seal at byte {at} is cut short")))?;
                    if let Some(expected) = self.next_block.filter(|&n| n != seq) {
                        return Err(corrupt(format!(
                            "the seal at byte {at} is of block {seq}, where block {expected} was due"
                        )));
                    }
                    self.sealed.insert(seq, std::mem::take(&mut self.open));
                    open_chunks.clear();
                    self.next_block = Some(seq + 1);
                    self.blocks_in_segment += 1;
                }
                COMMIT => {
                    let end = u64_at(payload, 1)
                        .ok_or_else(|| corrupt(format!("the commit at byte {at} is cut short")))?;
                    push_commit(&mut self.commits, end);
                }
                tag => {
                    return Err(corrupt(format!(
                        "the record at byte {at} has an unknown tag {tag}"
                    )));
                }
            }
            at = next;
        }
        Ok(bytes.len())
    }
}

fn warn_torn(path: &Path, what: &str, at: usize) {
    log::warn!(
        "{}: truncating {what} at byte {at}: the job was killed while appending it, before it was acknowledged",
        path.display()
    );
}

/// Opens the last segment `path` for appending after its first `whole` bytes (of `len`):
/// a torn tail cut off, a missing header written.
fn reopen_last(path: &Path, whole: usize, len: usize) -> Result<File> {
    let reopened = (|| -> std::io::Result<File> {
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        if whole < len {
            file.set_len(whole as u64)?;
        }
        file.seek(SeekFrom::Start(whole as u64))?;
        if whole == 0 {
            file.write_all(SEGMENT_HEADER)?;
        }
        file.sync_data()?;
        Ok(file)
    })();
    reopened.map_err(|e| Error::io(format!("cannot repair {}", path.display()), e))
}

impl Wal {
    /// Opens the log in `dir` (created at the first write if missing), reading back what it
    /// holds; a torn last record is truncated, any other damage is an error naming the file.
    pub(crate) fn open(dir: &Path) -> Result<(Wal, Recovered)> {
        let segments = list_segments(dir)?;
        let mut appends = Appends::new(segments.clone());
        let mut open_chunks: Vec<Vec<u8>> = Vec::new();
        let mut file = None;
        for (i, &segment) in segments.iter().enumerate() {
            let path = segment_path(dir, segment);
            // Segments are closed right after a seal: the next one starts with the next block.
            if i > 0 && (appends.next_block != Some(segment) || !appends.open.is_empty()) {
                return Err(Error::CorruptCheckpoint {
                    message: format!(
                        "it starts at block {segment}, but the segment before it ends {}; a segment is missing",
                        match appends.next_block {
                            Some(next) if appends.open.is_empty() => format!("at block {next}"),
                            _ => "inside a block".to_string(),
                        }
                    ),
                    path,
                });
            }
            let bytes =
                std::fs::read(&path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
            let last = i + 1 == segments.len();
            let whole = appends.replay(segment, &path, &bytes, last, &mut open_chunks)?;
            if last {
                file = Some((segment, reopen_last(&path, whole, bytes.len())?));
                appends.size = whole.max(SEGMENT_HEADER.len()) as u64;
            }
        }
        let next_block = appends.next_block;
        let wal = Wal {
            dir: dir.to_path_buf(),
            appends: Mutex::new(appends),
            writer: Mutex::new(Writer {
                file,
                durable: 0,
                broken: None,
            }),
        };
        Ok((
            wal,
            Recovered {
                open_chunks,
                next_block,
            },
        ))
    }

    /// The directory of the log.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `segment`.
    fn segment_path(&self, segment: u64) -> PathBuf {
        segment_path(&self.dir, segment)
    }

    /// Appends a record; returns its ticket and where it will be.
    fn append(appends: &mut Appends, payload: &[u8]) -> (u64, ChunkAt) {
        let framed = frame(payload);
        let at = ChunkAt {
            segment: appends.segment,
            offset: appends.size,
            len: payload.len() as u32,
        };
        appends.size += framed.len() as u64;
        match appends.pending.last_mut() {
            Some((segment, bytes)) if *segment == appends.segment => bytes.extend_from_slice(&framed),
            _ => appends.pending.push((appends.segment, framed)),
        }
        appends.appended += 1;
        (appends.appended, at)
    }

    /// Appends a chunk of stored records (`records`, encoded); returns the ticket to
    /// [`flush`](Self::flush) before acknowledging them.
    pub(crate) fn append_chunk(&self, records: &[u8]) -> Result<u64> {
        if records.len() >= MAX_PAYLOAD as usize {
            return Err(Error::InvalidConfig(format!(
                "{} bytes stored at once is more than a write-ahead log record holds ({MAX_PAYLOAD} bytes): store fewer records at a time",
                records.len()
            )));
        }
        let mut payload = Vec::with_capacity(records.len() + 1);
        payload.push(CHUNK);
        payload.extend_from_slice(records);
        let mut appends = lock(&self.appends);
        let (ticket, at) = Self::append(&mut appends, &payload);
        appends.open.push(at);
        Ok(ticket)
    }

    /// Seals the chunks appended since the last seal into block `seq`; returns the ticket to
    /// flush before the block is planned.
    pub(crate) fn append_seal(&self, seq: u64) -> u64 {
        let mut payload = vec![SEAL];
        payload.extend_from_slice(&seq.to_le_bytes());
        let mut appends = lock(&self.appends);
        let (ticket, _) = Self::append(&mut appends, &payload);
        let chunks = std::mem::take(&mut appends.open);
        appends.sealed.insert(seq, chunks);
        appends.next_block = Some(seq + 1);
        appends.blocks_in_segment += 1;
        if appends.blocks_in_segment >= SEGMENT_BLOCKS || appends.size >= SEGMENT_BYTES {
            appends.segment = seq + 1;
            appends.segments.push(seq + 1);
            appends.size = SEGMENT_HEADER.len() as u64;
            appends.blocks_in_segment = 0;
        }
        ticket
    }

    /// The next block's sequence number, if a seal in the log fixed the numbering (else the
    /// first block may take any number: the committed offset of a job that had no log before).
    pub(crate) fn next_block(&self) -> Option<u64> {
        lock(&self.appends).next_block
    }

    /// Records that a batch ending at block `end` was committed, and deletes the segments
    /// whose blocks no later batch (nor the re-run of the last [`RETAINED_COMMITS`] batches)
    /// reads. The record is written with the next flush: losing it only delays a deletion.
    pub(crate) fn append_commit(&self, end: u64) {
        let mut payload = vec![COMMIT];
        payload.extend_from_slice(&end.to_le_bytes());
        let obsolete: Vec<u64> = {
            let mut appends = lock(&self.appends);
            Self::append(&mut appends, &payload);
            push_commit(&mut appends.commits, end);
            let Some(&needed) = appends
                .commits
                .front()
                .filter(|_| appends.commits.len() > RETAINED_COMMITS)
            else {
                return;
            };
            // Segment i holds blocks up to (not including) segment i + 1's first.
            let count = appends
                .segments
                .windows(2)
                .take_while(|pair| pair[1] <= needed)
                .count();
            let obsolete: Vec<u64> = appends.segments.drain(..count).collect();
            if let Some(&kept) = appends.segments.first() {
                appends.sealed = appends.sealed.split_off(&kept);
            }
            obsolete
        };
        for segment in obsolete {
            // Oldest first, each removal durable before the next: a crash never leaves a gap.
            let path = self.segment_path(segment);
            if let Err(e) = std::fs::remove_file(&path).and_then(|()| sync_dir(&self.dir)) {
                log::warn!(
                    "cannot delete the old write-ahead log segment {}: {e}",
                    path.display()
                );
                return;
            }
        }
    }

    /// Writes and syncs everything appended up to `ticket` (with whatever else is pending:
    /// callers that wait together share one sync). After it returns `Ok`, those records
    /// survive a kill.
    pub(crate) fn flush(&self, ticket: u64) -> Result<()> {
        let mut writer = lock(&self.writer);
        if let Some(broken) = &writer.broken {
            return Err(Error::Source {
                source_name: format!("write-ahead log {}", self.dir.display()),
                message: format!("a write failed earlier ({broken}); restart the job from its checkpoint"),
            });
        }
        if writer.durable >= ticket {
            return Ok(());
        }
        let (pending, upto) = {
            let mut appends = lock(&self.appends);
            (std::mem::take(&mut appends.pending), appends.appended)
        };
        for (segment, bytes) in pending {
            let path = self.segment_path(segment);
            if let Err(e) = self.write(&mut writer, segment, &bytes) {
                writer.broken = Some(format!("cannot write {}: {e}", path.display()));
                return Err(Error::io(
                    format!("cannot write the write-ahead log {}", path.display()),
                    e,
                ));
            }
        }
        writer.durable = upto;
        Ok(())
    }

    /// Flushes everything appended.
    pub(crate) fn flush_all(&self) -> Result<()> {
        let ticket = lock(&self.appends).appended;
        self.flush(ticket)
    }

    fn write(&self, writer: &mut Writer, segment: u64, bytes: &[u8]) -> std::io::Result<()> {
        if writer.file.as_ref().map(|(s, _)| *s) != Some(segment) {
            std::fs::create_dir_all(&self.dir)?;
            let path = self.segment_path(segment);
            let mut file = OpenOptions::new().create_new(true).append(true).open(&path)?;
            file.write_all(SEGMENT_HEADER)?;
            file.sync_data()?;
            sync_dir(&self.dir)?;
            writer.file = Some((segment, file));
        }
        if let Some((_, file)) = writer.file.as_mut() {
            file.write_all(bytes)?;
            file.sync_data()?;
        }
        Ok(())
    }

    /// The payloads of the chunks of block `seq`, each with the file it is in; `None` if the
    /// block is not in the log (never sealed, or deleted by retention).
    pub(crate) fn read_block(&self, seq: u64) -> Result<Option<Vec<(PathBuf, Vec<u8>)>>> {
        let Some(chunks) = lock(&self.appends).sealed.get(&seq).cloned() else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let path = self.segment_path(chunk.segment);
            let io = |e| Error::io(format!("cannot read {}", path.display()), e);
            let mut file = File::open(&path).map_err(io)?;
            file.seek(SeekFrom::Start(chunk.offset)).map_err(io)?;
            let mut bytes = vec![0; RECORD_HEADER + chunk.len as usize];
            file.read_exact(&mut bytes).map_err(io)?;
            match parse(&bytes, 0) {
                Parsed::Record(payload, _) if payload.first() == Some(&CHUNK) => {
                    let records = payload[1..].to_vec();
                    out.push((path, records));
                }
                Parsed::Record(..) => {
                    return Err(Error::CorruptCheckpoint {
                        path,
                        message: format!("block {seq}: the record at byte {} is not a chunk", chunk.offset),
                    });
                }
                Parsed::Torn(what) | Parsed::Corrupt(what) => {
                    return Err(Error::CorruptCheckpoint {
                        path,
                        message: format!("block {seq}: {what} at byte {}", chunk.offset),
                    });
                }
            }
        }
        Ok(Some(out))
    }
}

/// Notes a commit's end, keeping the last `RETAINED_COMMITS + 1`.
fn push_commit(commits: &mut VecDeque<u64>, end: u64) {
    commits.push_back(end);
    while commits.len() > RETAINED_COMMITS + 1 {
        commits.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::dir_names as segments;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// Appends `blocks` blocks of one chunk each (`b"block <seq>"`), from `first` on, and
    /// syncs them.
    fn seal_blocks(wal: &Wal, first: u64, blocks: u64) -> Result<()> {
        for seq in first..first + blocks {
            wal.append_chunk(format!("block {seq}").as_bytes())?;
            let ticket = wal.append_seal(seq);
            wal.flush(ticket)?;
        }
        Ok(())
    }

    fn block(wal: &Wal, seq: u64) -> Result<Option<Vec<Vec<u8>>>> {
        Ok(wal
            .read_block(seq)?
            .map(|chunks| chunks.into_iter().map(|(_, bytes)| bytes).collect()))
    }

    #[test]
    fn blocks_and_what_was_stored_after_them_survive_a_reopen() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (wal, recovered) = Wal::open(dir.path())?;
        assert_eq!((recovered.next_block, recovered.open_chunks.len()), (None, 0));
        seal_blocks(&wal, 0, 3)?;
        wal.append_commit(2);
        // Two stores after the last seal: durable, in no block yet.
        let first = wal.append_chunk(b"late 1")?;
        let second = wal.append_chunk(b"late 2")?;
        wal.flush(first.max(second))?;
        drop(wal);

        let (wal, recovered) = Wal::open(dir.path())?;
        assert_eq!(recovered.next_block, Some(3));
        assert_eq!(recovered.open_chunks, [b"late 1".to_vec(), b"late 2".to_vec()]);
        for seq in 0..3 {
            assert_eq!(block(&wal, seq)?, Some(vec![format!("block {seq}").into_bytes()]));
        }
        assert_eq!(block(&wal, 3)?, None);
        // The recovered chunks go into the next block, sealed after the restart.
        wal.append_chunk(b"after")?;
        wal.flush(wal.append_seal(3))?;
        drop(wal);
        let (wal, recovered) = Wal::open(dir.path())?;
        assert_eq!(recovered.next_block, Some(4));
        assert!(recovered.open_chunks.is_empty());
        assert_eq!(
            block(&wal, 3)?,
            Some(vec![b"late 1".to_vec(), b"late 2".to_vec(), b"after".to_vec()])
        );
        Ok(())
    }

    #[test]
    fn a_torn_tail_is_truncated_and_every_whole_record_recovered() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (wal, _) = Wal::open(dir.path())?;
        seal_blocks(&wal, 0, 2)?;
        wal.flush(wal.append_chunk(b"stored, not sealed")?)?;
        drop(wal);
        let path = segment_path(dir.path(), 0);
        let whole = std::fs::read(&path)?;
        // The job was killed in the middle of appending: a record cut short, then (another
        // time) a header cut short, then zeros a crashed machine left.
        let torn = frame(b"\0never acknowledged");
        for tail in [&torn[..torn.len() - 5], &torn[..7], &[0_u8; 40][..]] {
            let mut bytes = whole.clone();
            bytes.extend_from_slice(tail);
            std::fs::write(&path, &bytes)?;
            let (wal, recovered) = Wal::open(dir.path())?;
            assert_eq!(std::fs::read(&path)?, whole, "truncated to the last whole record");
            assert_eq!(recovered.next_block, Some(2));
            assert_eq!(recovered.open_chunks, [b"stored, not sealed".to_vec()]);
            assert_eq!(block(&wal, 1)?, Some(vec![b"block 1".to_vec()]));
        }
        // Appending after the repair continues the log.
        let (wal, _) = Wal::open(dir.path())?;
        wal.flush(wal.append_seal(2))?;
        drop(wal);
        let (wal, recovered) = Wal::open(dir.path())?;
        assert_eq!(recovered.next_block, Some(3));
        assert_eq!(block(&wal, 2)?, Some(vec![b"stored, not sealed".to_vec()]));
        Ok(())
    }

    #[test]
    fn a_damaged_record_before_the_tail_is_an_error_naming_the_segment() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (wal, _) = Wal::open(dir.path())?;
        seal_blocks(&wal, 0, 3)?;
        drop(wal);
        let path = segment_path(dir.path(), 0);
        let good = std::fs::read(&path)?;
        // Where block 1's chunk is: after the header, block 0's chunk and seal.
        let chunk = RECORD_HEADER + 1 + "block 0".len();
        let seal = RECORD_HEADER + 9;
        let second = SEGMENT_HEADER.len() + chunk + seal;
        for (at, what) in [
            (second + RECORD_HEADER + 3, "changed since it was written"),
            (second + 1, "damaged header"),
        ] {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            std::fs::write(&path, &bad)?;
            let err = Wal::open(dir.path()).err().ok_or("the damage went unnoticed")?;
            assert!(
                matches!(&err, Error::CorruptCheckpoint { path: named, .. } if *named == path),
                "{err}"
            );
            assert!(err.to_string().contains(what), "{err}");
            assert_eq!(std::fs::read(&path)?, bad, "nothing truncated");
        }
        Ok(())
    }

    #[test]
    fn a_segment_missing_between_two_others_is_an_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (wal, _) = Wal::open(dir.path())?;
        seal_blocks(&wal, 0, 2 * SEGMENT_BLOCKS + 1)?;
        drop(wal);
        std::fs::remove_file(segment_path(dir.path(), SEGMENT_BLOCKS))?;
        let err = Wal::open(dir.path()).err().ok_or("the gap went unnoticed")?;
        assert!(
            err.to_string()
                .contains("starts at block 20, but the segment before it ends at block 10"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn retention_deletes_the_segments_no_retained_commit_reads() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (wal, _) = Wal::open(dir.path())?;
        // One block per batch, each batch committed.
        let batches = RETAINED_COMMITS as u64 + 35;
        for seq in 0..batches {
            seal_blocks(&wal, seq, 1)?;
            wal.append_commit(seq + 1);
        }
        wal.flush_all()?;
        // The last 100 commits read blocks 35..135: the segments of blocks 0..30 go.
        let first_kept = (batches - RETAINED_COMMITS as u64) / SEGMENT_BLOCKS * SEGMENT_BLOCKS;
        assert_eq!(first_kept, 30);
        let names = segments(dir.path())?;
        assert_eq!(
            names.first().map(String::as_str),
            Some("00000000000000000030.wal")
        );
        assert_eq!(block(&wal, 29)?, None);
        assert_eq!(block(&wal, 30)?, Some(vec![b"block 30".to_vec()]));
        drop(wal);
        // Reopened, the log starts at its first kept segment and goes on from its last block.
        let (wal, recovered) = Wal::open(dir.path())?;
        assert_eq!(recovered.next_block, Some(batches));
        assert_eq!(block(&wal, 30)?, Some(vec![b"block 30".to_vec()]));
        // The commits it recorded drive retention after the restart too.
        for seq in batches..batches + SEGMENT_BLOCKS {
            seal_blocks(&wal, seq, 1)?;
            wal.append_commit(seq + 1);
        }
        assert_eq!(block(&wal, 39)?, None);
        assert_eq!(
            segments(dir.path())?.first().map(String::as_str),
            Some("00000000000000000040.wal")
        );
        Ok(())
    }

    #[test]
    fn flushes_share_one_sync_and_a_failed_write_breaks_the_log() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (wal, _) = Wal::open(dir.path())?;
        let first = wal.append_chunk(b"a")?;
        let second = wal.append_chunk(b"b")?;
        wal.flush(second)?;
        // Written by the flush of the later ticket: nothing left to do.
        wal.flush(first)?;
        assert_eq!(lock(&wal.writer).durable, second);
        // Where the log goes, a file appeared before its first segment was created.
        let blocked = dir.path().join("blocked");
        let (wal, _) = Wal::open(&blocked)?;
        std::fs::write(&blocked, b"")?;
        let ticket = wal.append_chunk(b"c")?;
        assert!(wal.flush(ticket).is_err());
        let again = wal.flush(ticket).err().ok_or("a broken log accepted a flush")?;
        assert!(again.to_string().contains("a write failed earlier"), "{again}");
        Ok(())
    }
}
