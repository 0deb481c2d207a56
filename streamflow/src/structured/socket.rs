//! The socket source: one record per line from a TCP server, for demos (not replayable).
//!
//! A thread connects (reconnecting with back-off), parses each line in the reader's format and
//! buffers the records. Offsets count records received; a committed prefix is forgotten.

use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;

use super::files::CorruptRecord;
use super::plan::{RecordSource, Waker};
use super::reader::{Format, MalformedPolicy, TextOptions, parse_line};
use super::session::lock;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::time::Clock;

const READ_POLL: std::time::Duration = std::time::Duration::from_millis(100);
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);

struct Buffer<T> {
    /// Offset of `records[0]`.
    base: u64,
    records: Vec<T>,
    failure: Option<String>,
}

struct Shared<T> {
    buffer: Mutex<Buffer<T>>,
    stopped: AtomicBool,
    malformed: AtomicU64,
    wakers: Mutex<Vec<Waker>>,
}

pub(crate) struct SocketSource<T> {
    host: String,
    port: u16,
    options: TextOptions,
    shared: Arc<Shared<T>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    _clock: Arc<dyn Clock>,
    _records: PhantomData<fn() -> T>,
}

impl<T> SocketSource<T> {
    pub(crate) fn new(host: String, port: u16, options: TextOptions, clock: Arc<dyn Clock>) -> Self {
        SocketSource {
            host,
            port,
            options,
            shared: Arc::new(Shared {
                buffer: Mutex::new(Buffer {
                    base: 0,
                    records: Vec::new(),
                    failure: None,
                }),
                stopped: AtomicBool::new(false),
                malformed: AtomicU64::new(0),
                wakers: Mutex::new(Vec::new()),
            }),
            worker: Mutex::new(None),
            _clock: clock,
            _records: PhantomData,
        }
    }
}

fn receive<T: DeserializeOwned>(host: &str, port: u16, options: &TextOptions, shared: &Shared<T>) {
    let origin = format!("{host}:{port}");
    let mut backoff = std::time::Duration::from_millis(100);
    while !shared.stopped.load(Ordering::Acquire) {
        let stream = (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "cannot resolve"))
            .and_then(|addr| TcpStream::connect_timeout(&addr, READ_POLL * 10));
        let Ok(stream) = stream else {
            log::warn!("socket source: cannot connect to {origin}; retrying in {backoff:?}");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = std::time::Duration::from_millis(100);
        let _ = stream.set_read_timeout(Some(READ_POLL));
        let mut reader = BufReader::new(stream);
        let mut headers: Option<csv::StringRecord> = None;
        let mut line_no = 0_u64;
        let mut raw = Vec::new();
        loop {
            if shared.stopped.load(Ordering::Acquire) {
                return;
            }
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) => break,
                Ok(_) if raw.last() != Some(&b'\n') => continue, // partial line: read on
                Ok(_) => {
                    line_no += 1;
                    let bytes = raw.strip_suffix(b"\n").unwrap_or(&raw);
                    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    raw.clear();
                    if options.format == Format::Csv && options.header && headers.is_none() {
                        headers = Some(csv::StringRecord::from(text.split(',').collect::<Vec<_>>()));
                        continue;
                    }
                    let parsed = parse_line::<T>(options.format, headers.as_ref(), &text);
                    let mut buffer = lock(&shared.buffer);
                    match parsed {
                        Ok(record) => buffer.records.push(record),
                        Err(error) => {
                            shared.malformed.fetch_add(1, Ordering::Relaxed);
                            match options.policy {
                                MalformedPolicy::FailFast => {
                                    buffer.failure.get_or_insert(format!(
                                        "malformed record from {origin} at line {line_no}: {error}"
                                    ));
                                }
                                MalformedPolicy::DropMalformed => {}
                                MalformedPolicy::Permissive => options.corrupt.push(CorruptRecord {
                                    origin: origin.clone(),
                                    line: line_no,
                                    text,
                                    error,
                                }),
                            }
                        }
                    }
                    drop(buffer);
                    for wake in lock(&shared.wakers).iter() {
                        wake();
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    log::warn!("socket source: reading {origin} failed: {e}; reconnecting");
                    break;
                }
            }
        }
    }
}

impl<T: Data + DeserializeOwned> RecordSource<T> for SocketSource<T> {
    fn description(&self) -> String {
        format!("TextSocketSource[{}:{}]", self.host, self.port)
    }

    fn start(&self) -> Result<()> {
        let (host, port, options, shared) = (
            self.host.clone(),
            self.port,
            self.options.clone(),
            self.shared.clone(),
        );
        let handle = std::thread::Builder::new()
            .name(format!("socket-source-{host}:{port}"))
            .spawn(move || receive::<T>(&host, port, &options, &shared))
            .map_err(|e| Error::io("cannot start the socket source thread", e))?;
        *lock(&self.worker) = Some(handle);
        Ok(())
    }

    fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        if let Some(handle) = lock(&self.worker).take() {
            let _ = handle.join();
        }
    }

    fn latest_offset(&self, _committed: u64) -> Result<u64> {
        let buffer = lock(&self.shared.buffer);
        if let Some(failure) = &buffer.failure {
            return Err(Error::Source {
                source_name: self.description(),
                message: format!(
                    "{failure}; fix the input, or read with MalformedPolicy::Permissive or DropMalformed"
                ),
            });
        }
        Ok(buffer.base + buffer.records.len() as u64)
    }

    fn get_batch(&self, start: u64, end: u64) -> Result<Vec<T>> {
        let buffer = lock(&self.shared.buffer);
        let from = start.saturating_sub(buffer.base) as usize;
        let to = (end.saturating_sub(buffer.base) as usize).min(buffer.records.len());
        Ok(buffer.records[from.min(to)..to].to_vec())
    }

    fn commit(&self, end: u64) {
        let mut buffer = lock(&self.shared.buffer);
        let drop_n = (end.saturating_sub(buffer.base) as usize).min(buffer.records.len());
        buffer.records.drain(..drop_n);
        buffer.base += drop_n as u64;
    }

    fn take_malformed(&self) -> u64 {
        self.shared.malformed.swap(0, Ordering::Relaxed)
    }

    fn set_waker(&self, waker: Waker) {
        lock(&self.shared.wakers).push(waker);
    }
}
