//! `socket_text_stream`: lines of text from a TCP server (Spark's `socketTextStream`).

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::thread::JoinHandle;

use super::{Receiver, ReceiverContext};
use crate::StreamingContext;
use crate::dstream::DStream;

const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a blocked read looks whether the receiver was stopped.
const READ_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Connects to `host:port`, stores each `\n`-terminated line, reconnects with exponential
/// back-off when the connection fails or closes. Lines that are not UTF-8 are counted and
/// skipped.
struct SocketReceiver {
    host: String,
    port: u16,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Receiver<String> for SocketReceiver {
    fn on_start(&self, ctx: ReceiverContext<String>) {
        let (host, port) = (self.host.clone(), self.port);
        let spawned = std::thread::Builder::new()
            .name(format!("socket-{host}:{port}"))
            .spawn(move || read_socket_lines(&host, port, &ctx));
        match spawned {
            Ok(handle) => *self.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle),
            Err(e) => log::error!(
                "socket_text_stream {}:{}: cannot start a thread: {e}",
                self.host,
                self.port
            ),
        }
    }

    fn on_stop(&self) {
        if let Some(handle) = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }

    fn name(&self) -> String {
        format!("socket_text_stream {}:{}", self.host, self.port)
    }
}

/// Where the socket reader hands its lines and reports on itself: a DStream receiver, or a
/// Structured Streaming source that parses each line into a record.
pub(crate) trait LineSink {
    /// Whether reading should end.
    fn is_stopped(&self) -> bool;
    /// Waits up to `timeout` (a back-off), waking early on stop; returns whether stopped.
    fn wait_stopped(&self, timeout: std::time::Duration) -> bool;
    /// A new connection starts (per-connection state such as a CSV header resets here).
    fn connected(&self) {}
    /// The connection ended (closed or failed).
    fn disconnected(&self) {}
    /// Lines received, in order, without their line terminators.
    fn lines(&self, lines: Vec<String>);
    /// A line that is not UTF-8 was skipped.
    fn undecodable(&self);
    /// A connection attempt or a read failed; reading goes on.
    fn error(&self, message: String);
}

impl LineSink for ReceiverContext<String> {
    fn is_stopped(&self) -> bool {
        ReceiverContext::is_stopped(self)
    }
    fn wait_stopped(&self, timeout: std::time::Duration) -> bool {
        ReceiverContext::wait_stopped(self, timeout)
    }
    fn connected(&self) {
        self.set_active(true);
    }
    fn disconnected(&self) {
        self.set_active(false);
    }
    fn lines(&self, lines: Vec<String>) {
        self.store_all(lines);
    }
    fn undecodable(&self) {
        self.count_undecodable(1);
    }
    fn error(&self, message: String) {
        self.report_error(message);
    }
}

/// Reads `\n`-terminated lines from `host:port` into `sink` until it is stopped, reconnecting
/// with exponential back-off (100 ms up to 5 s) when the connection fails or closes.
pub(crate) fn read_socket_lines(host: &str, port: u16, sink: &dyn LineSink) {
    let mut backoff = FIRST_BACKOFF;
    while !sink.is_stopped() {
        match connect(host, port) {
            Ok(stream) => {
                log::info!("socket {host}:{port}: connected");
                sink.connected();
                backoff = FIRST_BACKOFF;
                read_lines(stream, sink);
                sink.disconnected();
                if !sink.is_stopped() {
                    log::info!("socket {host}:{port}: the server closed the connection; reconnecting");
                }
            }
            Err(e) => {
                sink.error(format!(
                    "cannot connect to {host}:{port}: {e}; retrying in {} ms",
                    backoff.as_millis()
                ));
                if sink.wait_stopped(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(ErrorKind::NotFound, format!("no address found for host {host}"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn read_lines(stream: TcpStream, sink: &dyn LineSink) {
    if let Err(e) = stream.set_read_timeout(Some(READ_POLL)) {
        sink.error(format!("cannot set a read timeout: {e}"));
        return;
    }
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line = Vec::with_capacity(256);
    let mut lines = Vec::new();
    let flush = |lines: &mut Vec<String>| {
        if !lines.is_empty() {
            sink.lines(std::mem::take(lines));
        }
    };
    while !sink.is_stopped() {
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => {
                // End of stream: a last line without '\n' still counts.
                decode_line(&mut line, &mut lines, sink);
                break;
            }
            Ok(_) => {
                decode_line(&mut line, &mut lines, sink);
                // Hand over whatever is already buffered at once, not line by line.
                if reader.buffer().is_empty() || lines.len() >= 4096 {
                    flush(&mut lines);
                }
            }
            // A timeout keeps the partial line in `line`; the next read continues it.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                flush(&mut lines);
            }
            Err(e) => {
                sink.error(format!("read failed: {e}"));
                break;
            }
        }
    }
    flush(&mut lines);
}

fn decode_line(line: &mut Vec<u8>, out: &mut Vec<String>, sink: &dyn LineSink) {
    if line.is_empty() {
        return;
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    match String::from_utf8(std::mem::take(line)) {
        Ok(text) => out.push(text),
        Err(_) => sink.undecodable(),
    }
}

impl StreamingContext {
    /// Lines of text from a TCP server (Spark's `socketTextStream`), e.g. `nc -lk 9999`.
    ///
    /// One record per `\n`-terminated line (a trailing `\r` is dropped). When the connection
    /// fails or closes, the receiver retries with exponential back-off (100 ms up to 5 s),
    /// logging each failure and counting it in
    /// [`receiver_statuses`](StreamingContext::receiver_statuses). Lines that are not valid
    /// UTF-8 are counted as undecodable and skipped.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// ssc.socket_text_stream("localhost", 9999)
    ///     .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
    ///     .map(|word| (word, 1))
    ///     .reduce_by_key(|a, b| a + b)
    ///     .print();
    /// ssc.start()?;
    /// ssc.await_termination()
    /// # ;Ok::<(), streamflow::Error>(())
    /// ```
    pub fn socket_text_stream(&self, host: impl Into<String>, port: u16) -> DStream<String> {
        self.receiver_stream(SocketReceiver {
            host: host.into(),
            port,
            worker: Mutex::new(None),
        })
    }
}
