//! The socket source: lines from a TCP server, each decoded into a record — DStream
//! `socket_text_stream` (Spark's `socketTextStream`) and the Structured reader's `socket`.
//!
//! A [`Receiver`] connects, reads `\n`-terminated lines, and reconnects with exponential
//! back-off when the connection fails or closes; as every receiver it is a source whose offset
//! counts blocks of received records (see `receiver.rs`).
//!
//! Hostile input costs bounded memory and never stops the job: a line longer than the
//! source's `max_line_length` is read past and dropped (counted and logged as malformed); when
//! the receiver's buffer is full, `store` waits and the socket is not read, so TCP's flow
//! control slows the sender down; a server that accepts and closes at once is retried after a
//! back-off that grows until a connection delivers data.
//!
//! With a checkpoint, what it receives goes to a write-ahead log before it can be planned,
//! which makes it replayable. What is logged is the text: the lines that became records (with
//! the CSV header of their connection), decoded again when the log is read back. So any record
//! type the reader can decode can be logged — no `Serialize` needed — and malformed lines,
//! handled when they arrived, are not handled twice.

use std::io::{BufReader, ErrorKind};
use std::marker::PhantomData;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;

use super::format::{Format, LineDecoder, TextOptions, parse_line};
use super::lines::{Line, LineReader};
use super::receiver::{JobHooks, WalCodec};
use super::{Receiver, ReceiverContext, ReceiverSource, SourceLimits};
use crate::StreamingContext;
use crate::data::Data;
use crate::dstream::DStream;

const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);
/// How often a blocked read looks whether the receiver was stopped.
const READ_POLL: std::time::Duration = std::time::Duration::from_millis(100);
/// Most records handed over at once.
const MAX_FLUSH: usize = 4096;

/// What the write-ahead log holds for one store of a socket: the lines that became records, and
/// the CSV header they were decoded with.
#[derive(serde::Serialize, serde::Deserialize)]
struct LoggedLines {
    header: Option<Vec<String>>,
    lines: Vec<String>,
}

/// The source of a socket stream: `name`, reading the lines of `host:port` decoded by
/// `options`, within `limits`, logging them to a write-ahead log when the job has a checkpoint.
pub(crate) fn socket_source<T: Data + DeserializeOwned>(
    name: String,
    host: String,
    port: u16,
    options: TextOptions,
    limits: SourceLimits,
    job: Option<JobHooks>,
) -> ReceiverSource<T> {
    let format = options.format;
    let options = options.max_line_length(limits.max_line_length);
    let receiver = SocketReceiver::<T>::new(name, host, port, options);
    let decode = Arc::new(move |bytes: &[u8]| decode_logged_lines::<T>(format, bytes));
    ReceiverSource::with_codec(Arc::new(receiver), job, Some(WalCodec::own_input(decode)), limits)
}

/// The records of lines logged by a socket receiver reading `format`.
fn decode_logged_lines<T: DeserializeOwned>(format: Format, bytes: &[u8]) -> Result<Vec<T>, String> {
    let logged: LoggedLines = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    let header = logged.header.map(csv::StringRecord::from);
    logged
        .lines
        .iter()
        .map(|line| {
            parse_line(format, header.as_ref(), line)
                .map_err(|e| format!("the logged line `{line}` no longer decodes: {e}"))
        })
        .collect()
}

/// Connects to `host:port` and stores each line decoded as a `T`: plain lines as `String`s for
/// `socket_text_stream`, the reader's format for a query. Lines that are not UTF-8 are counted
/// as undecodable and skipped; malformed ones follow the malformed policy.
pub(crate) struct SocketReceiver<T> {
    name: String,
    host: String,
    port: u16,
    options: Arc<TextOptions>,
    worker: Mutex<Option<JoinHandle<()>>>,
    _records: PhantomData<fn() -> T>,
}

impl<T> SocketReceiver<T> {
    /// A receiver called `name` of the lines of `host:port`, decoded by `options`.
    pub(crate) fn new(name: String, host: String, port: u16, options: TextOptions) -> Self {
        SocketReceiver {
            name,
            host,
            port,
            options: Arc::new(options),
            worker: Mutex::new(None),
            _records: PhantomData,
        }
    }
}

impl<T: Data + DeserializeOwned> Receiver<T> for SocketReceiver<T> {
    fn on_start(&self, ctx: ReceiverContext<T>) {
        let (host, port, name, options) = (
            self.host.clone(),
            self.port,
            self.name.clone(),
            self.options.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("socket-{host}:{port}"))
            .spawn(move || read_socket_lines(&host, port, &name, &options, &ctx));
        match spawned {
            Ok(handle) => *self.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle),
            Err(e) => log::error!("{}: cannot start a thread: {e}", self.name),
        }
    }

    fn on_stop(&self) {
        if let Some(handle) = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

/// Reads `\n`-terminated lines from `host:port` into `ctx` until it is stopped, reconnecting
/// after every failure or disconnection with an exponential back-off (100 ms up to 5 s, with
/// ±25% jitter so that many receivers do not reconnect in step). The back-off starts again from
/// 100 ms only after a connection delivered data: a server that accepts and closes at once is
/// retried no faster than the back-off allows.
fn read_socket_lines<T: Data + DeserializeOwned>(
    host: &str,
    port: u16,
    name: &str,
    options: &TextOptions,
    ctx: &ReceiverContext<T>,
) {
    let origin = format!("{host}:{port}");
    let mut backoff = Backoff::new();
    let mut connected_before = false;
    while !ctx.is_stopped() {
        match connect(host, port) {
            Ok(stream) => {
                if connected_before {
                    log::info!("socket {origin}: connected again");
                } else {
                    log::info!("socket {origin}: connected");
                }
                connected_before = true;
                ctx.set_active(true);
                // Each connection starts afresh: its own line numbers and CSV header.
                let delivered = read_lines(stream, &mut LineDecoder::new(options, name, &origin), ctx);
                ctx.set_active(false);
                if delivered {
                    backoff.reset();
                }
                if ctx.is_stopped() {
                    return;
                }
                let wait = backoff.next();
                log::info!(
                    "socket {origin}: the server closed the connection; reconnecting in {} ms",
                    wait.as_millis()
                );
                if ctx.wait_stopped_for(wait) {
                    return;
                }
            }
            Err(e) => {
                let wait = backoff.next();
                ctx.report_error(format!(
                    "cannot connect to {origin}: {e}; retrying in {} ms",
                    wait.as_millis()
                ));
                if ctx.wait_stopped_for(wait) {
                    return;
                }
            }
        }
    }
}

/// An exponential back-off with jitter: 100 ms, 200 ms … up to 5 s, each ±25%.
struct Backoff {
    next: std::time::Duration,
    /// A small generator for the jitter (xorshift), seeded from the clock.
    seed: u64,
}

impl Backoff {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Backoff {
            next: FIRST_BACKOFF,
            seed: u64::from(nanos) | 1,
        }
    }

    fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }

    /// The wait before the next attempt; doubles the one after.
    fn next(&mut self) -> std::time::Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        // A factor in [0.75, 1.25).
        let factor = 0.75 + (self.seed % 1_000) as f64 / 2_000.0;
        let wait = self.next.mul_f64(factor);
        self.next = (self.next * 2).min(MAX_BACKOFF);
        wait
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

/// Records decoded and not handed over yet, with their lines when the input is logged.
struct Received<T> {
    records: Vec<T>,
    /// The bytes of input they were decoded from.
    bytes: usize,
    /// The line of each record, when it goes to a write-ahead log.
    lines: Option<Vec<String>>,
}

impl<T: Data> Received<T> {
    /// Hands the records over (logged with their lines and the connection's CSV header). May
    /// wait: for the receiver's rate, and for room in its buffer.
    fn flush(&mut self, decoder: &LineDecoder<'_>, ctx: &ReceiverContext<T>) {
        if self.records.is_empty() {
            return;
        }
        let records = std::mem::take(&mut self.records);
        let bytes = std::mem::take(&mut self.bytes);
        match self.lines.as_mut() {
            // No lines kept: the input is not logged, and `encode` is never called.
            None => ctx.store_logged(records, bytes, || Err("not logged".into())),
            Some(lines) => {
                let logged = LoggedLines {
                    header: decoder.header().map(|h| h.iter().map(str::to_string).collect()),
                    lines: std::mem::take(lines),
                };
                ctx.store_logged(records, bytes, || {
                    postcard::to_allocvec(&logged).map_err(|e| e.to_string())
                });
            }
        }
    }
}

/// Reads the lines of one connection until it ends, fails, or the receiver is stopped; returns
/// whether it delivered any data.
fn read_lines<T: Data + DeserializeOwned>(
    stream: TcpStream,
    decoder: &mut LineDecoder<'_>,
    ctx: &ReceiverContext<T>,
) -> bool {
    if let Err(e) = stream.set_read_timeout(Some(READ_POLL)) {
        ctx.report_error(format!("cannot set a read timeout: {e}"));
        return false;
    }
    let max_line = decoder.options().max_line_length;
    let mut reader = LineReader::new(BufReader::with_capacity(64 * 1024, stream), max_line);
    let mut received = Received {
        records: Vec::new(),
        bytes: 0,
        lines: ctx.logs_input().then(Vec::new),
    };
    let mut delivered = false;
    while !ctx.is_stopped() {
        match reader.next_line() {
            Ok(None) => break,
            Ok(Some(line)) => {
                delivered = true;
                decode_line(line, decoder, &mut received, ctx);
                // Hand over whatever is already buffered at once, not line by line.
                if reader.get_ref().buffer().is_empty() || received.records.len() >= MAX_FLUSH {
                    received.flush(decoder, ctx);
                }
            }
            // A timeout keeps the partial line; the next read continues it.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                received.flush(decoder, ctx);
            }
            Err(e) => {
                ctx.report_error(format!("read failed: {e}"));
                break;
            }
        }
    }
    received.flush(decoder, ctx);
    delivered
}

/// Decodes one received line into `out`; a line that is not UTF-8, is malformed or is too long
/// is counted as undecodable (and handled by the malformed policy), and a fail-fast error fails
/// the job.
fn decode_line<T: Data + DeserializeOwned>(
    line: Line<'_>,
    decoder: &mut LineDecoder<'_>,
    out: &mut Received<T>,
    ctx: &ReceiverContext<T>,
) {
    let mut malformed = 0;
    let outcome = match line {
        Line::Text(raw) => match decoder.decode_raw::<T>(raw, &mut malformed) {
            Ok(Some(record)) => {
                out.records.push(record);
                out.bytes += raw.len() + std::mem::size_of::<T>();
                if let Some(lines) = out.lines.as_mut() {
                    lines.push(String::from_utf8_lossy(raw).into_owned());
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        },
        Line::TooLong(len) => decoder.too_long(len, &mut malformed),
    };
    if let Err(error) = outcome {
        ctx.fail(error);
    }
    if malformed > 0 {
        ctx.count_undecodable(malformed);
    }
}

impl StreamingContext {
    /// Lines of text from a TCP server (Spark's `socketTextStream`), e.g. `nc -lk 9999`.
    ///
    /// One record per `\n`-terminated line (a trailing `\r` is dropped). When the connection
    /// fails or closes, the receiver retries after an exponential back-off (100 ms up to 5 s,
    /// with jitter; it starts again from 100 ms only once a connection delivered data),
    /// logging each failure and counting it in
    /// [`receiver_statuses`](StreamingContext::receiver_statuses). Lines that are not valid
    /// UTF-8, or longer than the context's
    /// [`max_line_length`](crate::source::SourceLimits::max_line_length), are counted as
    /// undecodable and skipped. The context's [`SourceLimits`] bound what the receiver holds and
    /// how fast it reads: when its buffer is full, it stops reading until a batch takes what it
    /// holds, and TCP slows the sender down.
    ///
    /// # Examples
    ///
    /// A server on loopback plays `nc -lk 9999`:
    ///
    /// ```
    /// use std::io::Write;
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = server.local_addr()?.port();
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let words = t.context()
    ///     .socket_text_stream("127.0.0.1", port)
    ///     .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>());
    /// let out = t.collect(&words);
    /// t.start()?;
    /// let (mut conn, _) = server.accept()?;
    /// conn.write_all(b"to be\r\nor not\n")?;
    /// // Wait until both lines arrived, then run the batch that holds them.
    /// assert!(t.context().await_records_received(2, std::time::Duration::from_secs(10))?);
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec!["to", "be", "or", "not"]]);
    /// # t.context().stop(false)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn socket_text_stream(&self, host: impl Into<String>, port: u16) -> DStream<String> {
        let host = host.into();
        let name = format!("socket_text_stream {host}:{port}");
        self.source_stream(socket_source::<String>(
            name,
            host,
            port,
            TextOptions::lines(),
            self.source_limits().clone(),
            Some(self.job_hooks()),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::mpsc;

    use super::*;
    use crate::error::Error;
    use crate::source::format::{Format, MalformedPolicy};
    use crate::source::testing::read_all;
    use crate::source::{ReadLimit, ReceiverSource, Source, SourceContext};
    use crate::time::Time;

    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

    #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
    struct Click {
        user: String,
        n: u32,
    }

    /// A fresh loopback server that sends `bytes` once connected and closes (which ends the
    /// last line; the reader then retries until stopped); its port.
    fn spawn_server(bytes: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(bytes).unwrap();
        });
        port
    }

    /// Starts `source` with a context whose wake-ups a channel hears (and whose checkpoint
    /// directory is `metadata`, if given).
    fn start_heard(source: &ReceiverSource<Click>, metadata: Option<&std::path::Path>) -> mpsc::Receiver<()> {
        let (woke, wakes) = mpsc::channel();
        let woke = Mutex::new(woke);
        let mut ctx = SourceContext::new(
            Arc::new(move || {
                let _ = woke.lock().unwrap().send(());
            }),
            Time::from_millis(0),
            1,
        );
        if let Some(metadata) = metadata {
            ctx = ctx.with_metadata_path(metadata.to_path_buf());
        }
        source.start(&ctx).unwrap();
        wakes
    }

    /// A socket source of `Click`s reading from a fresh server that sends `bytes`; and a
    /// channel that hears every wake-up of the driver.
    fn serve(bytes: &'static [u8], options: TextOptions) -> (ReceiverSource<Click>, mpsc::Receiver<()>) {
        let port = spawn_server(bytes);
        let receiver = SocketReceiver::<Click>::new("test socket".into(), "127.0.0.1".into(), port, options);
        let source = ReceiverSource::new(Arc::new(receiver), None);
        let wakes = start_heard(&source, None);
        (source, wakes)
    }

    /// The socket source of `Click`s from `127.0.0.1:port`, with the default limits.
    fn test_socket_source(port: u16, options: TextOptions) -> ReceiverSource<Click> {
        let name = "test socket".to_string();
        socket_source::<Click>(
            name,
            "127.0.0.1".into(),
            port,
            options,
            SourceLimits::default(),
            None,
        )
    }

    /// As `serve`, through the socket source that logs to the checkpoint directory `metadata`;
    /// also returns the server's port.
    fn serve_logged(
        bytes: &'static [u8],
        options: TextOptions,
        metadata: &std::path::Path,
    ) -> (ReceiverSource<Click>, mpsc::Receiver<()>, u16) {
        let port = spawn_server(bytes);
        let source = test_socket_source(port, options);
        let wakes = start_heard(&source, Some(metadata));
        (source, wakes, port)
    }

    /// Waits (on wake-ups, not on time) until the source has stored `records` and counted
    /// `undecodable`, or failed.
    fn wait_for(source: &ReceiverSource<Click>, wakes: &mpsc::Receiver<()>, records: u64, undecodable: u64) {
        loop {
            let status = source.status().unwrap();
            if status.records >= records && status.undecodable >= undecodable {
                return;
            }
            wakes.recv_timeout(PATIENCE).unwrap();
        }
    }

    const INPUT: &[u8] = b"{\"user\":\"ann\",\"n\":1}\r\nnot json\n\n\xff\xfe\n{\"user\":\"bob\",\"n\":2}";

    #[test]
    fn lines_become_records_and_malformed_ones_are_counted() {
        let options = TextOptions::default(); // JSON lines, permissive
        let corrupt = options.corrupt.clone();
        let (source, wakes) = serve(INPUT, options);
        wait_for(&source, &wakes, 2, 2);
        let end = source
            .latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(0))
            .unwrap();
        let users: Vec<String> = read_all(source.get_batch(&0, &end).unwrap())
            .into_iter()
            .map(|c| c.user)
            .collect();
        assert_eq!(users, ["ann", "bob"]);
        let kept = corrupt.records();
        assert_eq!(
            (kept.len(), kept[0].line, kept[0].text.as_str()),
            (2, 2, "not json")
        );
        assert_eq!((kept[1].line, kept[1].text.as_str()), (4, "\u{FFFD}\u{FFFD}"));
        assert!(kept[0].origin.starts_with("127.0.0.1:"), "{kept:?}");
        let status = source.status().unwrap();
        assert_eq!(
            (status.records, status.undecodable, status.name.as_str()),
            (2, 2, "test socket")
        );
        source.stop();
    }

    #[test]
    fn a_malformed_line_under_fail_fast_fails_the_next_batch() {
        let options = TextOptions {
            policy: MalformedPolicy::FailFast,
            ..TextOptions::default()
        };
        let (source, wakes) = serve(INPUT, options);
        let err = loop {
            match source.latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(0)) {
                Err(err) => break err,
                Ok(_) => wakes.recv_timeout(PATIENCE).unwrap(),
            }
        };
        assert!(matches!(err, Error::Source { .. }), "{err}");
        assert!(err.to_string().contains("at line 2"), "{err}");
        source.stop();
    }

    #[test]
    fn csv_takes_its_header_from_the_first_line() {
        let options = TextOptions {
            format: Format::Csv,
            ..TextOptions::default()
        };
        let (source, wakes) = serve(b"n,user\n3,cy\n4,dee\n", options);
        wait_for(&source, &wakes, 2, 0);
        let end = source
            .latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(0))
            .unwrap();
        let clicks = read_all(source.get_batch(&0, &end).unwrap());
        assert_eq!(
            clicks,
            [
                Click {
                    user: "cy".into(),
                    n: 3
                },
                Click {
                    user: "dee".into(),
                    n: 4
                }
            ]
        );
        source.stop();
    }

    #[test]
    fn received_lines_are_logged_and_decoded_again_after_a_restart() {
        let checkpoint = tempfile::tempdir().unwrap();
        let csv = || TextOptions {
            format: Format::Csv,
            ..TextOptions::default()
        };
        let (source, wakes, port) = serve_logged(b"n,user\n3,cy\nbad\n4,dee\n", csv(), checkpoint.path());
        wait_for(&source, &wakes, 2, 1);
        assert!(source.is_replayable());
        let end = source
            .latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(0))
            .unwrap();
        let clicks = read_all(source.get_batch(&0, &end).unwrap());
        assert_eq!(clicks.iter().map(|c| c.n).collect::<Vec<_>>(), [3, 4]);
        source.stop();

        // Restarted with the server gone: the block comes back from the log, decoded with the
        // header its lines were read with; the malformed line was handled once, when it came.
        let options = csv();
        let corrupt = options.corrupt.clone();
        let source = test_socket_source(port, options);
        let ctx = SourceContext::detached(Time::from_millis(0), 1)
            .with_metadata_path(checkpoint.path().to_path_buf());
        source.start(&ctx).unwrap();
        assert_eq!(read_all(source.get_batch(&0, &end).unwrap()), clicks);
        assert_eq!(source.status().unwrap().undecodable, 0);
        assert!(corrupt.is_empty());
        source.stop();
    }
}
