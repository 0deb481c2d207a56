//! How text becomes records, for the file and socket sources: JSON lines, CSV or plain lines,
//! and what happens to input that does not parse ([`MalformedPolicy`]).
//!
//! The public types are re-exported from [`structured`](crate::structured), whose reader
//! chooses them; the DStream sources read plain lines with the same code.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::de::DeserializeOwned;

use super::lines::{Block, Line, LineReader, StrLine, block_lines};
use crate::batch::HandOver;
use crate::error::{Error, Result};
use crate::exec::lock;

/// How many malformed records a [`CorruptRecords`] keeps (the most recent ones).
pub(crate) const CORRUPT_KEPT: usize = 1_000;
/// How much of a malformed record's text it keeps.
pub(crate) const CORRUPT_TEXT_KEPT: usize = 4 * 1024;
/// At most one warning about malformed records per source this often (the first at once).
const WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The UTF-8 byte-order mark some editors put at the start of a text file.
const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// How records are written in files and on sockets.
///
/// ```
/// use streamflow::structured::Format;
/// assert_eq!(Format::default(), Format::Json);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// One JSON object per line (JSON lines), deserialized into the record type. The default
    /// of every record type but `String` (and [`Word`](crate::text::Word)), which read
    /// [`Text`](Self::Text) unless told otherwise.
    #[default]
    Json,
    /// Comma-separated values; with a header line naming the record's fields by default
    /// (see [`DataStreamReader::header`](crate::structured::DataStreamReader::header)), otherwise fields in declaration order.
    Csv,
    /// Each line is one record, deserialized from a string: `String`, or a
    /// `#[serde(transparent)]` wrapper around one.
    Text,
}

/// What to do with a record that does not parse (Spark's `mode` option).
///
/// ```
/// use streamflow::structured::MalformedPolicy;
/// assert_eq!(MalformedPolicy::default(), MalformedPolicy::Permissive);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedPolicy {
    /// Keep the raw record in the reader's [`CorruptRecords`] side channel and count it; the
    /// query goes on.
    #[default]
    Permissive,
    /// Drop it and count it; the query goes on.
    DropMalformed,
    /// Stop the query with an error naming the file (or socket) and the line.
    FailFast,
}

/// The malformed records a reader kept aside under [`MalformedPolicy::Permissive`] (Spark's
/// `_corrupt_record` column, as a side channel since records are typed). Clones share the
/// records.
///
/// It is bounded, whatever the input: it keeps the most recent 1,000 records, each with at most
/// the first 4 KiB of its text, and counts every malformed record met under any policy
/// ([`total`](Self::total)). Each query's progress reports its sources' malformed rows per batch
/// (`num_malformed_rows`), and a warning is logged at most every 10 seconds per source with the
/// number met since the last one.
///
/// ```
/// use streamflow::structured::{MemoryStream, Session};
/// let session = Session::new(1)?;
/// let reader = session.read_stream::<i64>();
/// let corrupt = reader.corrupt_records();
/// assert!(corrupt.is_empty());
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct CorruptRecords {
    state: Arc<Mutex<CorruptState>>,
}

#[derive(Default)]
struct CorruptState {
    records: VecDeque<CorruptRecord>,
    total: u64,
    /// When the last warning was logged, and how many were met since.
    warned: Option<Instant>,
    unreported: u64,
}

impl CorruptRecords {
    /// A copy of the records kept so far.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\noops\n3\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// let bad = corrupt.records();
    /// assert_eq!((bad.len(), bad[0].line, bad[0].text.as_str()), (1, 2, "oops"));
    /// assert!(bad[0].origin.ends_with("in.json"));
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn records(&self) -> Vec<CorruptRecord> {
        lock(&self.state).records.iter().cloned().collect()
    }

    /// Removes and returns the records kept so far.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("in.json"), "1\noops\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(corrupt.take().len(), 1);
    /// assert!(corrupt.take().is_empty()); // taken once
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take(&self) -> Vec<CorruptRecord> {
        lock(&self.state).records.drain(..).collect()
    }

    /// The number of records kept.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// # let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\ntwo\n3\n{four\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(corrupt.len(), 2);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.state).records.len()
    }

    /// Whether none was kept.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// # let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\n2\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// assert!(corrupt.is_empty()); // every line parsed
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every malformed record met so far, under any policy: kept, dropped, or the one that
    /// failed the query — also those no longer kept.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\ntwo\nthree\n")?;
    /// let reader = session.read_stream::<i64>().mode(MalformedPolicy::DropMalformed);
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// assert_eq!((corrupt.total(), corrupt.len()), (2, 0)); // counted, not kept
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total(&self) -> u64 {
        lock(&self.state).total
    }

    /// Counts a malformed record of `source`, keeps it if `keep` (its text cut to
    /// [`CORRUPT_TEXT_KEPT`], the oldest dropped past [`CORRUPT_KEPT`]), and warns — at most
    /// every [`WARN_EVERY`].
    pub(crate) fn note(&self, source: &str, mut record: CorruptRecord, keep: bool) {
        let mut state = lock(&self.state);
        state.total += 1;
        state.unreported += 1;
        let due = state.warned.is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if due {
            log::warn!(
                "{source}: {} malformed record{} since the last warning; the latest in {} at line {}: {}",
                state.unreported,
                if state.unreported == 1 { "" } else { "s" },
                record.origin,
                record.line,
                record.error
            );
            state.warned = Some(Instant::now());
            state.unreported = 0;
        }
        if keep {
            if record.text.len() > CORRUPT_TEXT_KEPT {
                let mut end = CORRUPT_TEXT_KEPT;
                while !record.text.is_char_boundary(end) {
                    end -= 1;
                }
                record.text.truncate(end);
            }
            if state.records.len() >= CORRUPT_KEPT {
                state.records.pop_front();
            }
            state.records.push_back(record);
        }
    }
}

/// A record that did not parse, kept under [`MalformedPolicy::Permissive`].
///
/// ```
/// let r = streamflow::structured::CorruptRecord::default();
/// assert_eq!(r.line, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CorruptRecord {
    /// The file (or `host:port`) it came from.
    pub origin: String,
    /// Its line number, from 1.
    pub line: u64,
    /// The raw text (its first 4 KiB; empty for a line longer than the source's
    /// [`max_line_length`](crate::source::SourceLimits::max_line_length), which is never held).
    pub text: String,
    /// Why it did not parse.
    pub error: String,
}

/// How a source decodes text: the format, the malformed policy, whether CSV has a header, and
/// where [`MalformedPolicy::Permissive`] keeps what did not parse.
#[derive(Clone)]
pub(crate) struct TextOptions {
    pub(crate) format: Format,
    pub(crate) policy: MalformedPolicy,
    pub(crate) header: bool,
    pub(crate) corrupt: CorruptRecords,
    /// The longest line read, in bytes; longer ones are skipped as malformed.
    pub(crate) max_line_length: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            format: Format::Json,
            policy: MalformedPolicy::Permissive,
            header: true,
            corrupt: CorruptRecords::default(),
            max_line_length: super::SourceLimits::default().max_line_length,
        }
    }
}

/// What decoding one file produced besides its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) records: u64,
    pub(crate) malformed: u64,
}

impl Decoded {
    /// Hands `record` on through `out`, if a line gave one, and counts it.
    fn push<T>(&mut self, record: Option<T>, out: &mut HandOver<T>, emit: &mut dyn FnMut(T)) {
        if let Some(record) = record {
            out.push(record, emit);
            self.records += 1;
        }
    }
}

impl TextOptions {
    /// The options a reader of `T` starts with: [`Format::Text`] for `String` and
    /// [`Word`](crate::text::Word) records, [`Format::Json`] for every other type.
    pub(crate) fn for_records<T: 'static>() -> Self {
        use std::any::TypeId;
        let text = [TypeId::of::<String>(), TypeId::of::<crate::text::Word>()];
        TextOptions {
            format: if text.contains(&TypeId::of::<T>()) {
                Format::Text
            } else {
                Format::Json
            },
            ..TextOptions::default()
        }
    }

    /// Plain lines, as the DStream sources read them: each line one `String`; a line that is
    /// not UTF-8 is counted and skipped.
    pub(crate) fn lines() -> Self {
        TextOptions {
            format: Format::Text,
            policy: MalformedPolicy::DropMalformed,
            header: false,
            ..TextOptions::default()
        }
    }

    /// The same, reading lines of at most `bytes`.
    pub(crate) fn max_line_length(mut self, bytes: usize) -> Self {
        self.max_line_length = bytes.max(1);
        self
    }

    /// Handles a record of `source` that did not parse, by the policy: kept aside, dropped, or
    /// (fail-fast) an error naming where it was. Every one is counted, and warned about at a
    /// bounded rate.
    pub(crate) fn malformed(
        &self,
        source: &str,
        origin: &str,
        line: u64,
        text: &str,
        error: String,
    ) -> Result<()> {
        let keep = self.policy == MalformedPolicy::Permissive;
        let record = CorruptRecord {
            origin: origin.to_string(),
            line,
            text: if keep { text.to_string() } else { String::new() },
            error: error.clone(),
        };
        self.corrupt.note(source, record, keep);
        match self.policy {
            MalformedPolicy::FailFast => Err(Error::Source {
                source_name: source.to_string(),
                message: format!(
                    "malformed record in {origin} at line {line}: {error}; fix the input, or read with MalformedPolicy::Permissive or DropMalformed"
                ),
            }),
            MalformedPolicy::DropMalformed | MalformedPolicy::Permissive => Ok(()),
        }
    }

    /// Decodes the lines of the file `origin` read from `input` (a byte-order mark skipped),
    /// pushing each record into `emit`. Errors only under [`MalformedPolicy::FailFast`] or when
    /// the file cannot be read.
    pub(crate) fn decode_lines<T: DeserializeOwned>(
        &self,
        source: &str,
        origin: &str,
        input: impl BufRead,
        emit: &mut dyn FnMut(T),
    ) -> Result<Decoded> {
        let reader = LineReader::new(input, self.max_line_length);
        let decoder = LineDecoder::new(self, source, origin);
        decode_lines_with(decoder, reader, |_| 0, u64::MAX, emit)
    }
}

/// Decodes the lines `reader` reads with `decoder` — those that start before byte `end` of the
/// input, by `position(input)`, the offset of the reader's next byte (a byte range of a file
/// stops at the first line that starts at or after its end) — pushing each record into `emit`.
/// Lines are taken a buffer at a time ([`LineReader::next_block`]): checked as UTF-8 once per
/// buffer, not once per line. Errors only under [`MalformedPolicy::FailFast`] or when the input
/// cannot be read.
pub(crate) fn decode_lines_with<T: DeserializeOwned, R: BufRead>(
    decoder: LineDecoder<'_>,
    reader: LineReader<R>,
    position: impl Fn(&R) -> u64,
    end: u64,
    emit: &mut dyn FnMut(T),
) -> Result<Decoded> {
    // The records of a buffer of input are handed on a few at a time (see `HandOver`), all of
    // them before the next read and before returning, whatever it returns. A few lines only:
    // enough that a line's record has left the store buffer when it is read back, few enough
    // that the lines' allocations come back from the thread's malloc cache (64: +4% CPU).
    let mut out = HandOver::new(8);
    let decoded = decode_buffers(decoder, reader, position, end, &mut out, emit);
    out.flush(emit);
    decoded
}

/// [`decode_lines_with`], the records kept in `out` until it is full or a buffer of input is
/// decoded.
fn decode_buffers<T: DeserializeOwned, R: BufRead>(
    mut decoder: LineDecoder<'_>,
    mut reader: LineReader<R>,
    position: impl Fn(&R) -> u64,
    end: u64,
    out: &mut HandOver<T>,
    emit: &mut dyn FnMut(T),
) -> Result<Decoded> {
    let mut decoded = Decoded::default();
    let max = decoder.options.max_line_length;
    loop {
        out.flush(emit);
        let at = position(reader.get_ref());
        if at >= end {
            break;
        }
        let block = reader.next_block().map_err(|e| Error::Source {
            source_name: decoder.source.to_string(),
            message: format!("cannot read {}: {e}", decoder.origin),
        })?;
        let line = match block {
            None => break,
            Some(Block::One(line)) => line,
            Some(Block::Lines(text)) => {
                for (offset, line) in block_lines(text, max) {
                    if at + offset as u64 >= end {
                        return Ok(decoded);
                    }
                    let record = match line {
                        StrLine::Text(text) => decoder.decode_str::<T>(text, &mut decoded.malformed)?,
                        StrLine::TooLong(len) => {
                            decoder.too_long(len, &mut decoded.malformed).map(|()| None)?
                        }
                    };
                    decoded.push(record, out, emit);
                }
                continue;
            }
        };
        let record = match line {
            Line::Text(raw) => decoder.decode_raw::<T>(raw, &mut decoded.malformed)?,
            Line::TooLong(len) => decoder.too_long(len, &mut decoded.malformed).map(|()| None)?,
        };
        decoded.push(record, out, emit);
    }
    Ok(decoded)
}

/// Decodes the lines of one file or connection in order: remembers its CSV header and counts
/// its lines (for error messages and corrupt records). Each line is decoded by itself — CSV as
/// Spark's line-based CSV reader does — so a broken line (an unclosed quote) costs that line
/// only. A new file or connection gets a new decoder.
pub(crate) struct LineDecoder<'a> {
    options: &'a TextOptions,
    source: &'a str,
    origin: &'a str,
    headers: Option<csv::StringRecord>,
    /// The fields of the current CSV line, reused from line to line: where each ends (a line
    /// without quotes), or as the csv crate reads them.
    ends: Vec<usize>,
    fields: csv::StringRecord,
    line: u64,
    /// Lines that did not parse, and whether the failure rate was logged.
    failed: u64,
    rate_warned: bool,
    /// Whether the first line read is the first of its file or connection (a byte-order mark
    /// may start it); not for a byte range of a file that starts further on.
    at_start: bool,
    /// For a byte range of a file: how many lines of the file come before the range, counted
    /// when first needed (for a malformed record's line number), then kept.
    lines_before: Option<(&'a dyn Fn() -> u64, Option<u64>)>,
}

/// Lines of a file or connection read before its share of malformed lines is judged.
const RATE_MIN_LINES: u64 = 20;

impl Drop for LineDecoder<'_> {
    /// A short file is judged at its end.
    fn drop(&mut self) {
        if self.line >= 5 {
            self.check_failure_rate();
        }
    }
}

impl<'a> LineDecoder<'a> {
    pub(crate) fn new(options: &'a TextOptions, source: &'a str, origin: &'a str) -> Self {
        LineDecoder {
            options,
            source,
            origin,
            headers: None,
            ends: Vec::new(),
            fields: csv::StringRecord::new(),
            line: 0,
            failed: 0,
            rate_warned: false,
            at_start: true,
            lines_before: None,
        }
    }

    /// The decoder of a byte range of a file that starts after the file's first line: line
    /// numbers count from the range's first line, plus `lines_before()` (called once, and only
    /// if a line number is reported); `header` is the file's CSV header, when it has one.
    pub(crate) fn within_file(
        mut self,
        lines_before: &'a dyn Fn() -> u64,
        header: Option<csv::StringRecord>,
    ) -> Self {
        self.at_start = false;
        self.lines_before = Some((lines_before, None));
        self.headers = header;
        self
    }

    /// The line number, in its file, of the line decoded last.
    fn line_number(&mut self) -> u64 {
        match &mut self.lines_before {
            None => self.line,
            Some((count, known)) => self.line + *known.get_or_insert_with(*count),
        }
    }

    /// Warns, once per file or connection, when more than half of its lines did not parse: the
    /// sign of a wrong format (JSON expected where plain text is sent) more than of a few bad
    /// records, which [`CorruptRecords`] reports on their own.
    fn check_failure_rate(&mut self) {
        if self.rate_warned || self.failed * 2 <= self.line {
            return;
        }
        self.rate_warned = true;
        log::warn!(
            "{}: {} of the first {} lines of {} did not parse as {:?}; if the input is in another format, choose it with read_stream::<T>().format(Format::..)",
            self.source,
            self.failed,
            self.line,
            self.origin,
            self.options.format
        );
    }

    /// Counts what the line just decoded added to `malformed`, and judges the failure rate.
    fn counted<R>(&mut self, before: u64, malformed: u64, outcome: R) -> R {
        self.failed += malformed - before;
        if self.line >= RATE_MIN_LINES {
            self.check_failure_rate();
        }
        outcome
    }

    /// How it decodes.
    pub(crate) fn options(&self) -> &'a TextOptions {
        self.options
    }

    /// The CSV header of the connection, once its first line was read (CSV with a header only).
    pub(crate) fn header(&self) -> Option<&csv::StringRecord> {
        self.headers.as_ref()
    }

    /// A CSV record: a line without quotes straight from its fields (see
    /// [`csv_fields`](super::csv_fields)), any other — or one that path declines — through the
    /// csv crate.
    fn parse_csv<T: DeserializeOwned>(&mut self, line: &str) -> std::result::Result<T, String> {
        if !line.is_empty() && memchr::memchr(b'"', line.as_bytes()).is_none() {
            super::csv_fields::split_fields(line, &mut self.ends);
            let headers = self.headers.as_ref();
            let fits = headers.is_none_or(|h| h.len() == self.ends.len());
            if let (true, Ok(record)) = (fits, super::csv_fields::deserialize(line, &self.ends, headers)) {
                return Ok(record);
            }
        }
        csv_fields_into(line, &mut self.fields)
            .and_then(|()| parse_csv_record(self.headers.as_ref(), &self.fields))
    }

    /// The next line, already known to be UTF-8: a byte-order mark before the first line is
    /// dropped. As [`decode`](Self::decode) otherwise.
    pub(crate) fn decode_str<T: DeserializeOwned>(
        &mut self,
        text: &str,
        malformed: &mut u64,
    ) -> Result<Option<T>> {
        let text = match self.line {
            0 if self.at_start => text.strip_prefix('\u{FEFF}').unwrap_or(text),
            _ => text,
        };
        let before = *malformed;
        let outcome = self.decode(text, malformed);
        self.counted(before, *malformed, outcome)
    }

    /// The next line, as bytes: a UTF-8 byte-order mark before the first line is dropped, and a
    /// line that is not UTF-8 is malformed. As [`decode`](Self::decode) otherwise.
    pub(crate) fn decode_raw<T: DeserializeOwned>(
        &mut self,
        raw: &[u8],
        malformed: &mut u64,
    ) -> Result<Option<T>> {
        let before = *malformed;
        let outcome = self.decode_raw_line(raw, malformed);
        self.counted(before, *malformed, outcome)
    }

    fn decode_raw_line<T: DeserializeOwned>(&mut self, raw: &[u8], malformed: &mut u64) -> Result<Option<T>> {
        let raw = match self.line {
            0 if self.at_start => raw.strip_prefix(UTF8_BOM).unwrap_or(raw),
            _ => raw,
        };
        match std::str::from_utf8(raw) {
            Ok(text) => self.decode(text, malformed),
            Err(e) => {
                self.line += 1;
                *malformed += 1;
                let text = String::from_utf8_lossy(raw);
                let line = self.line_number();
                self.options
                    .malformed(self.source, self.origin, line, &text, format!("not UTF-8: {e}"))
                    .map(|()| None)
            }
        }
    }

    /// A line of `len` bytes, longer than the limit, was skipped: malformed, by the policy.
    pub(crate) fn too_long(&mut self, len: u64, malformed: &mut u64) -> Result<()> {
        self.line += 1;
        self.failed += 1;
        *malformed += 1;
        let line = self.line_number();
        self.options.malformed(
            self.source,
            self.origin,
            line,
            "",
            format!(
                "a line of {len} bytes is longer than the limit of {} bytes; it was skipped (raise SourceLimits::max_line_length to read such lines)",
                self.options.max_line_length
            ),
        )
    }

    /// The next line: `Ok(Some(record))`, `Ok(None)` when it held no record (a header, a blank
    /// JSON or CSV line) or was malformed and handled by the policy (`malformed` tells which),
    /// or the fail-fast error.
    pub(crate) fn decode<T: DeserializeOwned>(
        &mut self,
        text: &str,
        malformed: &mut u64,
    ) -> Result<Option<T>> {
        self.line += 1;
        let options = self.options;
        // Most lines start with a visible ASCII character: no need to trim them to know.
        let blank = !text.as_bytes().first().is_some_and(u8::is_ascii_graphic) && text.trim().is_empty();
        if blank && options.format != Format::Text {
            return Ok(None);
        }
        if options.format == Format::Csv && options.header && self.headers.is_none() {
            match csv_fields(text) {
                Ok(fields) => {
                    self.headers = Some(fields);
                    return Ok(None);
                }
                Err(error) => {
                    *malformed += 1;
                    let line = self.line_number();
                    return options
                        .malformed(
                            self.source,
                            self.origin,
                            line,
                            text,
                            format!("bad header: {error}"),
                        )
                        .map(|()| None);
                }
            }
        }
        let parsed = match options.format {
            Format::Csv => self.parse_csv(text),
            format => parse_line::<T>(format, None, text),
        };
        match parsed {
            Ok(record) => Ok(Some(record)),
            Err(error) => {
                *malformed += 1;
                let line = self.line_number();
                options
                    .malformed(self.source, self.origin, line, text, error)
                    .map(|()| None)
            }
        }
    }
}

/// The fields of one CSV line into `record` (its allocation reused). A line without quotes is
/// split at its commas, which is what the CSV reader makes of it, without building a reader
/// (which costs far more than parsing a short line); a line with quotes goes through the CSV
/// reader.
fn csv_fields_into(line: &str, record: &mut csv::StringRecord) -> std::result::Result<(), String> {
    if line.is_empty() || line.contains('"') {
        *record = csv_fields(line)?;
        return Ok(());
    }
    record.clear();
    line.split(',').for_each(|field| record.push_field(field));
    Ok(())
}

/// The CSV header a file's first line `raw` gives (a byte-order mark dropped), if it is one: not
/// blank, UTF-8, fields that parse. For reading a file in byte ranges: a range after the first
/// line is given the header the first range reads.
pub(crate) fn csv_header(raw: &[u8]) -> Option<csv::StringRecord> {
    let raw = raw.strip_prefix(UTF8_BOM).unwrap_or(raw);
    let text = std::str::from_utf8(raw).ok()?;
    if text.trim().is_empty() {
        return None;
    }
    csv_fields(text).ok()
}

/// The fields of one CSV line (quotes allowed within the line).
fn csv_fields(line: &str) -> std::result::Result<csv::StringRecord, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record),
        Ok(false) => Err("empty line".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses one line of `format` into a record (CSV: with `headers` naming the fields, if any).
pub(crate) fn parse_line<T: DeserializeOwned>(
    format: Format,
    headers: Option<&csv::StringRecord>,
    line: &str,
) -> std::result::Result<T, String> {
    match format {
        Format::Json => serde_json::from_str(line).map_err(|e| e.to_string()),
        Format::Text => T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(
            line,
        ))
        .map_err(|e| e.to_string()),
        Format::Csv => {
            let mut fields = csv::StringRecord::new();
            csv_fields_into(line, &mut fields)?;
            parse_csv_record(headers, &fields)
        }
    }
}

pub(crate) fn parse_csv_record<T: DeserializeOwned>(
    headers: Option<&csv::StringRecord>,
    record: &csv::StringRecord,
) -> std::result::Result<T, String> {
    if let Some(h) = headers {
        if h.len() != record.len() {
            return Err(format!("expected {} fields, found {}", h.len(), record.len()));
        }
    }
    record.deserialize(headers).map_err(|e| match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        _ => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[allow(dead_code, reason = "only decoded")]
    struct Row {
        user: String,
        n: i64,
        tags: Option<Vec<String>>,
    }

    proptest! {
        /// The quick split of a line without quotes gives what the CSV reader gives.
        #[test]
        fn csv_fields_split_as_the_csv_reader_does(line in "[a-z ,;\t\"']{0,12}") {
            let mut fields = csv::StringRecord::new();
            fields.push_field("left over from the line before");
            let quick = csv_fields_into(&line, &mut fields).map(|()| fields);
            prop_assert_eq!(quick, csv_fields(&line));
        }
    }

    #[test]
    fn string_records_read_text_and_other_types_json() {
        assert_eq!(TextOptions::for_records::<String>().format, Format::Text);
        assert_eq!(
            TextOptions::for_records::<crate::text::Word>().format,
            Format::Text
        );
        assert_eq!(TextOptions::for_records::<i64>().format, Format::Json);
        assert_eq!(TextOptions::for_records::<Row>().format, Format::Json);
    }

    #[test]
    fn a_mostly_malformed_input_is_judged_once_and_a_few_bad_lines_are_not() {
        let options = TextOptions::default(); // JSON
        let mut decoder = LineDecoder::new(&options, "s", "plain.txt");
        let mut malformed = 0;
        for i in 0..RATE_MIN_LINES {
            let line = if i % 4 == 0 { "1" } else { "hello world" };
            decoder
                .decode_raw::<i64>(line.as_bytes(), &mut malformed)
                .unwrap();
            assert_eq!(decoder.rate_warned, i + 1 == RATE_MIN_LINES, "line {i}");
        }
        assert_eq!((decoder.failed, malformed), (15, 15));
        let mut decoder = LineDecoder::new(&options, "s", "mostly.json");
        for i in 0..100 {
            let line = if i % 10 == 0 { "oops" } else { "1" };
            decoder
                .decode_raw::<i64>(line.as_bytes(), &mut malformed)
                .unwrap();
        }
        assert_eq!(decoder.failed, 10);
        assert!(!decoder.rate_warned, "10% malformed is a few bad records");
    }

    /// Decodes `input` as a file of `format` under `policy`, with lines of at most `max` bytes.
    fn decode(input: &[u8], format: Format, policy: MalformedPolicy, max: usize) -> Result<Decoded> {
        let options = TextOptions {
            format,
            policy,
            ..TextOptions::default()
        }
        .max_line_length(max);
        let mut records = 0;
        let decoded = options.decode_lines::<Row>("prop", "input", input, &mut |_| records += 1)?;
        assert_eq!(decoded.records, records);
        assert!(options.corrupt.len() <= CORRUPT_KEPT);
        assert!(
            options
                .corrupt
                .records()
                .iter()
                .all(|r| r.text.len() <= CORRUPT_TEXT_KEPT)
        );
        Ok(decoded)
    }

    /// Records are handed on a few at a time (`HandOver`): a buffer of many lines gives every
    /// record, in order; under fail-fast, every record before the bad line is handed on before
    /// the error; and a read that fails finds the records of the buffer before it handed on.
    #[test]
    fn decoded_records_are_all_handed_on_in_order_before_any_error() {
        let text: String = (0..300)
            .map(|i| format!("{{\"user\":\"u{i}\",\"n\":{i}}}\n"))
            .collect();
        let options = TextOptions::default();
        let mut seen = Vec::new();
        let decoded = options
            .decode_lines::<Row>("s", "in", text.as_bytes(), &mut |r| seen.push(r.n))
            .unwrap();
        assert_eq!(decoded.records, 300);
        assert_eq!(seen, (0..300).collect::<Vec<i64>>());

        let bad = format!("{text}not json\n{{\"user\":\"late\",\"n\":-1}}\n");
        let options = TextOptions {
            policy: MalformedPolicy::FailFast,
            ..TextOptions::default()
        };
        let mut seen = Vec::new();
        let outcome = options.decode_lines::<Row>("s", "in", bad.as_bytes(), &mut |r| seen.push(r.n));
        assert!(outcome.is_err());
        assert_eq!(seen, (0..300).collect::<Vec<i64>>());

        /// Its text, then a read that fails (a socket that resets) — by when every record of
        /// the text must have been handed on.
        struct ThenFails<'a>(&'a [u8], &'a std::cell::Cell<i64>);
        impl std::io::Read for ThenFails<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    assert_eq!(self.1.get(), 300, "records held back across a read");
                    return Err(std::io::ErrorKind::ConnectionReset.into());
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let options = TextOptions::default();
        let count = std::cell::Cell::new(0);
        let input = std::io::BufReader::with_capacity(1 << 16, ThenFails(text.as_bytes(), &count));
        let outcome = options.decode_lines::<Row>("s", "in", input, &mut |r| {
            assert_eq!(r.n, count.get());
            count.set(count.get() + 1);
        });
        assert!(outcome.is_err());
        assert_eq!(count.get(), 300);
    }

    /// Bytes that look like lines of JSON or CSV often enough to get past the first character.
    fn texty() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"{\"user\":\"a\",\"n\":1}".to_vec()),
            Just(b"user,n\n".to_vec()),
            Just(b"\"a,\"\"b\",2".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(vec![0xEF, 0xBB, 0xBF]),
            proptest::collection::vec(any::<u8>(), 0..16),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    /// The records and malformed lines of `input` read a buffer at a time (as files are), and
    /// read line by line (as sockets are), the corrupt records kept by each.
    #[allow(clippy::type_complexity, reason = "a test's pair of outcomes")]
    fn by_blocks_and_by_lines(
        input: &[u8],
        format: Format,
        max: usize,
    ) -> [(Vec<Row>, u64, Vec<CorruptRecord>); 2] {
        let options = || {
            TextOptions {
                format,
                ..TextOptions::default()
            }
            .max_line_length(max)
        };
        let by_blocks = options();
        let mut blocks = Vec::new();
        let decoded = by_blocks
            .decode_lines::<Row>(
                "s",
                "in",
                std::io::BufReader::with_capacity(16, input),
                &mut |r| blocks.push(r),
            )
            .unwrap();
        let by_lines = options();
        let mut decoder = LineDecoder::new(&by_lines, "s", "in");
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(16, input), max);
        let (mut lines, mut malformed) = (Vec::new(), 0);
        while let Some(line) = reader.next_line().unwrap() {
            match line {
                Line::Text(raw) => lines.extend(decoder.decode_raw::<Row>(raw, &mut malformed).unwrap()),
                Line::TooLong(len) => decoder.too_long(len, &mut malformed).unwrap(),
            }
        }
        [
            (blocks, decoded.malformed, by_blocks.corrupt.records()),
            (lines, malformed, by_lines.corrupt.records()),
        ]
    }

    #[test]
    fn csv_lines_decode_the_same_by_blocks_and_by_lines() {
        let input = "\u{FEFF}user,n,tags\r\nann,1,\nbob,x,\n\"c,d\",3,\n\nbad\u{FF}\nzed,-4,\n"
            .replace('\u{FF}', "\u{FFFD}");
        let [blocks, lines] = by_blocks_and_by_lines(input.as_bytes(), Format::Csv, 100);
        assert_eq!(blocks, lines);
        let users: Vec<&str> = blocks.0.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(users, ["ann", "c,d", "zed"]);
        let bad: Vec<u64> = blocks.2.iter().map(|r| r.line).collect();
        assert_eq!(
            bad,
            [3, 6],
            "bob's n is not a number, and `bad…` has too few fields"
        );
    }

    proptest! {
        /// Reading a buffer at a time (UTF-8 checked once per buffer, CSV fields deserialized
        /// in place) decodes what reading line by line decodes: the same records, the same
        /// malformed lines with the same line numbers and errors.
        #[test]
        fn blocks_decode_as_lines_do(
            input in prop_oneof![texty(), proptest::collection::vec(any::<u8>(), 0..256)],
            format in prop_oneof![Just(Format::Json), Just(Format::Csv), Just(Format::Text)],
            max in 1_usize..64,
        ) {
            let [blocks, lines] = by_blocks_and_by_lines(&input, format, max);
            prop_assert_eq!(blocks, lines);
        }

        /// Any bytes, any format, any policy, any line limit: records or counted malformed lines,
        /// never a panic; a permissive or dropping reader never fails.
        #[test]
        fn the_line_decoders_take_any_bytes(
            input in prop_oneof![texty(), proptest::collection::vec(any::<u8>(), 0..256)],
            format in prop_oneof![Just(Format::Json), Just(Format::Csv), Just(Format::Text)],
            fail_fast in any::<bool>(),
            max in 1_usize..64,
        ) {
            let policy = if fail_fast { MalformedPolicy::FailFast } else { MalformedPolicy::Permissive };
            let outcome = decode(&input, format, policy, max);
            let lines = input.split(|b| *b == b'\n').count() as u64;
            match outcome {
                Ok(decoded) => prop_assert!(decoded.records + decoded.malformed <= lines),
                Err(e) => prop_assert!(fail_fast, "{e}"),
            }
        }
    }
}
