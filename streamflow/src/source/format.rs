//! How text becomes records, for the file and socket sources: JSON lines, CSV or plain lines,
//! and what happens to input that does not parse ([`MalformedPolicy`]).
//!
//! The public types are re-exported from [`structured`](crate::structured), whose reader
//! chooses them; the DStream sources read plain lines with the same code.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::exec::lock;

/// The UTF-8 byte-order mark some editors put at the start of a text file.
const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// How records are written in files and on sockets.
///
/// ```
/// use streamflow::structured::Format;
/// assert_eq!(Format::default(), Format::Json);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (JSON lines), deserialized into the record type.
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
    records: Arc<Mutex<Vec<CorruptRecord>>>,
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
        lock(&self.records).clone()
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
        std::mem::take(&mut *lock(&self.records))
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
        lock(&self.records).len()
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

    pub(crate) fn push(&self, record: CorruptRecord) {
        lock(&self.records).push(record);
    }
}

/// A record that did not parse, kept under [`MalformedPolicy::Permissive`].
///
/// ```
/// let r = streamflow::structured::CorruptRecord::default();
/// assert_eq!(r.line, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CorruptRecord {
    /// The file (or `host:port`) it came from.
    pub origin: String,
    /// Its line number, from 1.
    pub line: u64,
    /// The raw text.
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
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            format: Format::Json,
            policy: MalformedPolicy::Permissive,
            header: true,
            corrupt: CorruptRecords::default(),
        }
    }
}

/// What decoding one file produced besides its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) records: u64,
    pub(crate) malformed: u64,
}

impl TextOptions {
    /// Plain lines, as the DStream sources read them: each line one `String`; a line that is
    /// not UTF-8 is counted and skipped.
    pub(crate) fn lines() -> Self {
        TextOptions {
            format: Format::Text,
            policy: MalformedPolicy::DropMalformed,
            header: false,
            corrupt: CorruptRecords::default(),
        }
    }

    /// Handles a record of `source` that did not parse, by the policy: kept aside, dropped, or
    /// (fail-fast) an error naming where it was.
    pub(crate) fn malformed(
        &self,
        source: &str,
        origin: &str,
        line: u64,
        text: &str,
        error: String,
    ) -> Result<()> {
        match self.policy {
            MalformedPolicy::FailFast => Err(Error::Source {
                source_name: source.to_string(),
                message: format!(
                    "malformed record in {origin} at line {line}: {error}; fix the input, or read with MalformedPolicy::Permissive or DropMalformed"
                ),
            }),
            MalformedPolicy::DropMalformed => Ok(()),
            MalformedPolicy::Permissive => {
                self.corrupt.push(CorruptRecord {
                    origin: origin.to_string(),
                    line,
                    text: text.to_string(),
                    error,
                });
                Ok(())
            }
        }
    }

    /// One line as a record: `None` for a line the format skips (a blank JSON line), else the
    /// record or why it did not parse.
    fn decode_line<T: DeserializeOwned>(
        &self,
        headers: Option<&csv::StringRecord>,
        text: &str,
    ) -> Option<std::result::Result<T, String>> {
        if self.format == Format::Json && text.trim().is_empty() {
            return None;
        }
        Some(parse_line(self.format, headers, text))
    }

    /// Decodes the whole `content` of the file `origin` (a byte-order mark skipped), pushing
    /// each record into `emit`. Errors only under [`MalformedPolicy::FailFast`].
    pub(crate) fn decode_file<T: DeserializeOwned>(
        &self,
        source: &str,
        origin: &str,
        content: &[u8],
        emit: &mut dyn FnMut(T),
    ) -> Result<Decoded> {
        // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of the first line.
        let bytes = content.strip_prefix(UTF8_BOM).unwrap_or(content);
        if self.format == Format::Csv {
            return self.decode_csv(source, origin, bytes, emit);
        }
        let mut decoded = Decoded::default();
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        if bytes.is_empty() || bytes.last() == Some(&b'\n') {
            lines.pop(); // a final newline does not start another line
        }
        for (i, raw) in lines.into_iter().enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = i as u64 + 1;
            let outcome = match std::str::from_utf8(raw) {
                Ok(text) => match self.decode_line::<T>(None, text) {
                    None => continue,
                    Some(Ok(record)) => {
                        emit(record);
                        decoded.records += 1;
                        continue;
                    }
                    Some(Err(e)) => self.malformed(source, origin, line, text, e),
                },
                Err(e) => self.malformed(
                    source,
                    origin,
                    line,
                    &String::from_utf8_lossy(raw),
                    format!("not UTF-8: {e}"),
                ),
            };
            decoded.malformed += 1;
            outcome?;
        }
        Ok(decoded)
    }

    fn decode_csv<T: DeserializeOwned>(
        &self,
        source: &str,
        origin: &str,
        bytes: &[u8],
        emit: &mut dyn FnMut(T),
    ) -> Result<Decoded> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut headers: Option<csv::StringRecord> = None;
        let mut record = csv::StringRecord::new();
        let mut decoded = Decoded::default();
        loop {
            let line = reader.position().line();
            let outcome = match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    if self.header && headers.is_none() {
                        headers = Some(record.clone());
                        continue;
                    }
                    match parse_csv_record::<T>(headers.as_ref(), &record) {
                        Ok(r) => {
                            emit(r);
                            decoded.records += 1;
                            continue;
                        }
                        Err(e) => {
                            let text = record.iter().collect::<Vec<_>>().join(",");
                            self.malformed(source, origin, line, &text, e)
                        }
                    }
                }
                Err(e) => {
                    let line = e.position().map_or(line, |p| p.line());
                    self.malformed(source, origin, line, "", e.to_string())
                }
            };
            decoded.malformed += 1;
            outcome?;
        }
        Ok(decoded)
    }
}

/// Decodes the lines of one connection in order: remembers its CSV header and counts its lines
/// (for error messages and corrupt records). A new connection gets a new decoder.
pub(crate) struct LineDecoder<'a> {
    options: &'a TextOptions,
    source: &'a str,
    origin: &'a str,
    headers: Option<csv::StringRecord>,
    line: u64,
}

impl<'a> LineDecoder<'a> {
    pub(crate) fn new(options: &'a TextOptions, source: &'a str, origin: &'a str) -> Self {
        LineDecoder {
            options,
            source,
            origin,
            headers: None,
            line: 0,
        }
    }

    /// The CSV header of the connection, once its first line was read (CSV with a header only).
    pub(crate) fn header(&self) -> Option<&csv::StringRecord> {
        self.headers.as_ref()
    }

    /// A line that was not even text (not UTF-8): it still counts as a line.
    pub(crate) fn skip_line(&mut self) {
        self.line += 1;
    }

    /// The next line: `Ok(Some(record))`, `Ok(None)` when it held no record (a header, a blank
    /// JSON line) or was malformed and handled by the policy (`malformed` tells which), or the
    /// fail-fast error.
    pub(crate) fn decode<T: DeserializeOwned>(
        &mut self,
        text: String,
        malformed: &mut u64,
    ) -> Result<Option<T>> {
        self.line += 1;
        let options = self.options;
        if options.format == Format::Csv && options.header && self.headers.is_none() {
            self.headers = Some(csv::StringRecord::from(text.split(',').collect::<Vec<_>>()));
            return Ok(None);
        }
        match options.decode_line::<T>(self.headers.as_ref(), &text) {
            None => Ok(None),
            Some(Ok(record)) => Ok(Some(record)),
            Some(Err(error)) => {
                *malformed += 1;
                options
                    .malformed(self.source, self.origin, self.line, &text, error)
                    .map(|()| None)
            }
        }
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
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes());
            let mut record = csv::StringRecord::new();
            match reader.read_record(&mut record) {
                Ok(true) => parse_csv_record(headers, &record),
                Ok(false) => Err("empty line".into()),
                Err(e) => Err(e.to_string()),
            }
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
