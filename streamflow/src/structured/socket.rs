//! The socket source: one record per line from a TCP server, for demos (not replayable).
//!
//! The shared socket reader (`source::socket`, also behind `socket_text_stream`) connects and
//! reconnects with back-off; this source parses each line in the reader's format and
//! buffers the records. Offsets count records received; a committed prefix is forgotten.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;

use super::files::CorruptRecord;
use super::plan::{RecordSource, Waker};
use super::reader::{Format, MalformedPolicy, TextOptions, parse_line};
use super::session::lock;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::source::socket::{LineSink, read_socket_lines};
use crate::time::Clock;

struct Buffer<T> {
    /// Offset of `records[0]`.
    base: u64,
    records: Vec<T>,
    failure: Option<String>,
}

struct Shared<T> {
    buffer: Mutex<Buffer<T>>,
    stopped: AtomicBool,
    /// Wakes a back-off wait when the source stops.
    stop_signal: (Mutex<bool>, Condvar),
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
                stop_signal: (Mutex::new(false), Condvar::new()),
                malformed: AtomicU64::new(0),
                wakers: Mutex::new(Vec::new()),
            }),
            worker: Mutex::new(None),
            _clock: clock,
            _records: PhantomData,
        }
    }
}

/// Parses the lines the shared socket reader delivers into records of `T`.
struct ParsingSink<'a, T> {
    origin: String,
    options: &'a TextOptions,
    shared: &'a Shared<T>,
    /// The CSV header of the current connection, when the format has one.
    headers: RefCell<Option<csv::StringRecord>>,
    /// Line number within the current connection, for error messages.
    line_no: Cell<u64>,
}

impl<T: DeserializeOwned> LineSink for ParsingSink<'_, T> {
    fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }

    fn wait_stopped(&self, timeout: std::time::Duration) -> bool {
        let (stopped, cvar) = &self.shared.stop_signal;
        let guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    fn connected(&self) {
        self.headers.replace(None);
        self.line_no.set(0);
    }

    fn lines(&self, lines: Vec<String>) {
        let options = self.options;
        let mut buffer = lock(&self.shared.buffer);
        for text in lines {
            self.line_no.set(self.line_no.get() + 1);
            if options.format == Format::Csv && options.header && self.headers.borrow().is_none() {
                self.headers
                    .replace(Some(csv::StringRecord::from(text.split(',').collect::<Vec<_>>())));
                continue;
            }
            match parse_line::<T>(options.format, self.headers.borrow().as_ref(), &text) {
                Ok(record) => buffer.records.push(record),
                Err(error) => {
                    self.shared.malformed.fetch_add(1, Ordering::Relaxed);
                    let line = self.line_no.get();
                    match options.policy {
                        MalformedPolicy::FailFast => {
                            buffer.failure.get_or_insert(format!(
                                "malformed record from {} at line {line}: {error}",
                                self.origin
                            ));
                        }
                        MalformedPolicy::DropMalformed => {}
                        MalformedPolicy::Permissive => options.corrupt.push(CorruptRecord {
                            origin: self.origin.clone(),
                            line,
                            text,
                            error,
                        }),
                    }
                }
            }
        }
        drop(buffer);
        for wake in lock(&self.shared.wakers).iter() {
            wake();
        }
    }

    fn undecodable(&self) {
        self.line_no.set(self.line_no.get() + 1);
        self.shared.malformed.fetch_add(1, Ordering::Relaxed);
    }

    fn error(&self, message: String) {
        log::warn!("socket source {}: {message}", self.origin);
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
            .spawn(move || {
                let sink = ParsingSink {
                    origin: format!("{host}:{port}"),
                    options: &options,
                    shared: &shared,
                    headers: RefCell::new(None),
                    line_no: Cell::new(0),
                };
                read_socket_lines(&host, port, &sink)
            })
            .map_err(|e| Error::io("cannot start the socket source thread", e))?;
        *lock(&self.worker) = Some(handle);
        Ok(())
    }

    fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        let (stopped, cvar) = &self.shared.stop_signal;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
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
