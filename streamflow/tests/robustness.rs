//! Hostile input and overload, with real loopback sockets and real files: a flood into a slow
//! job, a line with no end, a server that accepts and closes, a broken CSV row. Each ends with
//! memory bounded, nothing lost that was not reported, and the job still running.
//!
//! Tests that measure the resident memory of this process hold [`MEMORY`], so that no other
//! test of this binary allocates meanwhile.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use common::{PATIENCE, TestResult};
use streamflow::source::SourceLimits;
use streamflow::structured::{Format, MalformedPolicy, Session};
use streamflow::testing::TestContext;
use streamflow::{Duration, ManualClock, Receiver, ReceiverContext, StreamingContext};

/// Held by the tests that measure this process's memory.
static MEMORY: Mutex<()> = Mutex::new(());

/// The resident memory of this process now, in bytes (Linux), or `None` elsewhere.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples the resident memory every 20 ms until `done` is set; returns the highest sample.
fn watch_rss(done: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !done.load(Ordering::Acquire) {
            peak = peak.max(rss_bytes().unwrap_or(0));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak
    })
}

const MIB: u64 = 1 << 20;

/// A flood at full speed into a job whose output takes twice the batch interval: the receiver's
/// buffer fills, it stops reading, TCP holds the sender back. Memory stays bounded while the
/// flood lasts, and once it ends every line sent is counted exactly once.
#[test]
fn a_flood_into_a_slow_job_keeps_memory_bounded_and_loses_nothing() -> TestResult {
    let _memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let server = TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let interval = Duration::milliseconds(100);
    let ssc = StreamingContext::builder()
        .batch_duration(interval)
        .parallelism(2)
        .source_limits(
            SourceLimits::default()
                .max_buffered_records(20_000)
                .max_buffered_bytes(4 << 20),
        )
        .build()?;
    let counted = Arc::new(AtomicU64::new(0));
    let seen = counted.clone();
    ssc.socket_text_stream("127.0.0.1", port)
        .count()
        .foreach_batch(move |batch, _time| {
            seen.fetch_add(batch.collect().into_iter().sum::<u64>(), Ordering::Relaxed);
            // The sink takes twice the batch interval.
            std::thread::sleep(std::time::Duration::from_millis(200));
        });
    let before = rss_bytes().unwrap_or(0);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = watch_rss(done.clone());
    ssc.start()?;
    let (mut conn, _) = server.accept()?;
    let line = b"the quick brown fox jumps over the lazy dog\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(line.len() * 1_000).collect();
    let flood_until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut sent = 0_u64;
    while std::time::Instant::now() < flood_until {
        conn.write_all(&chunk)?;
        sent += 1_000;
    }
    drop(conn);
    // The flood is over: everything sent arrives, and a graceful stop processes all of it.
    assert!(ssc.await_records_received(sent, std::time::Duration::from_secs(120))?);
    ssc.stop(true)?;
    done.store(true, Ordering::Release);
    let peak = peak.join().unwrap_or(0);
    assert_eq!(
        counted.load(Ordering::Relaxed),
        sent,
        "lines lost or counted twice"
    );
    let grew = peak.saturating_sub(before);
    eprintln!(
        "flood: {sent} lines in 3 s, resident memory {} MiB before, peak {} MiB",
        before / MIB,
        peak / MIB
    );
    assert!(
        grew < 256 * MIB,
        "memory grew by {} MiB during the flood",
        grew / MIB
    );
    Ok(())
}

/// A line with no end is read past, never held: memory stays near the line limit, the line is
/// counted as malformed, and the lines after it arrive.
#[test]
fn a_line_of_a_gigabyte_is_skipped_with_bounded_memory() -> TestResult {
    let _memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let server = TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let t = TestContext::from_builder(
        StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .source_limits(SourceLimits::default().max_line_length(1 << 20)),
    )?;
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    let before = rss_bytes().unwrap_or(0);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = watch_rss(done.clone());
    t.start()?;
    let (mut conn, _) = server.accept()?;
    conn.write_all(b"before\n")?;
    let block = vec![b'x'; 8 << 20];
    for _ in 0..128 {
        conn.write_all(&block)?; // 1 GiB, no newline
    }
    conn.write_all(b"\nafter\n")?;
    drop(conn);
    assert!(t.context().await_records_received(2, PATIENCE * 6)?);
    done.store(true, Ordering::Release);
    let peak = peak.join().unwrap_or(0);
    t.advance_batches(1)?;
    assert_eq!(
        out.batches(),
        vec![vec!["before".to_string(), "after".to_string()]]
    );
    let status = &t.context().receiver_statuses()[0];
    assert_eq!(status.undecodable, 1, "{status:?}");
    let grew = peak.saturating_sub(before);
    assert!(
        grew < 64 * MIB,
        "memory grew by {} MiB for a 1 GiB line",
        grew / MIB
    );
    t.context().stop(false)?;
    Ok(())
}

/// A server that accepts and closes at once: the receiver backs off after every disconnection,
/// so it connects a handful of times a second, not tens of thousands.
#[test]
fn a_server_that_accepts_and_closes_gets_a_few_connections_per_second() -> TestResult {
    let server = TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let connections = Arc::new(AtomicU64::new(0));
    let counter = connections.clone();
    std::thread::spawn(move || {
        for conn in server.incoming() {
            counter.fetch_add(1, Ordering::Relaxed);
            drop(conn);
        }
    });
    let t = TestContext::new(Duration::seconds(1), 2)?;
    t.context().socket_text_stream("127.0.0.1", port).print();
    t.start()?;
    // Measuring a rate takes time: this waits on the wall clock, not on the engine.
    std::thread::sleep(std::time::Duration::from_millis(1_600));
    let n = connections.load(Ordering::Relaxed);
    t.context().stop(false)?;
    // 100, 200, 400, 800 ms apart (±25%): at most 5 in 1.6 s.
    assert!((1..=6).contains(&n), "{n} connections in 1.6 s");
    Ok(())
}

/// Hands the context it is started with to the test.
struct Handover(Mutex<mpsc::Sender<ReceiverContext<u64>>>);

impl Receiver<u64> for Handover {
    fn on_start(&self, ctx: ReceiverContext<u64>) {
        let _ = self.0.lock().unwrap_or_else(|e| e.into_inner()).send(ctx);
    }
    fn on_stop(&self) {}
}

/// A receiver whose buffer is full waits in `store` until a batch takes what it holds.
#[test]
fn a_full_buffer_holds_the_receiver_until_a_batch_takes_it() -> TestResult {
    let t = TestContext::from_builder(
        StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .source_limits(SourceLimits::default().max_buffered_records(10)),
    )?;
    let (tx, rx) = mpsc::channel();
    let out = t.collect(&t.context().receiver_stream(Handover(Mutex::new(tx))));
    t.start()?;
    let ctx = rx.recv_timeout(PATIENCE)?;
    let (stored, stores) = mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..25 {
            ctx.store(i);
            let _ = stored.send(i);
        }
    });
    for i in 0..10 {
        assert_eq!(stores.recv_timeout(PATIENCE)?, i);
    }
    // The eleventh store waits: nothing more arrives until a batch runs.
    assert!(
        stores
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err()
    );
    t.advance_batches(1)?;
    for i in 10..20 {
        assert_eq!(stores.recv_timeout(PATIENCE)?, i);
    }
    t.advance_batches(1)?;
    assert!(t.context().await_records_received(25, PATIENCE)?);
    t.advance_batches(1)?;
    let batches = out.batches();
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    assert_eq!(batches.concat(), (0..25).collect::<Vec<u64>>());
    t.context().stop(false)?;
    Ok(())
}

/// CSV is read line by line, as Spark's line-based reader: an unclosed quote costs its row.
#[test]
fn an_unclosed_quote_in_a_csv_file_loses_one_row() -> TestResult {
    #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
    struct Row {
        user: String,
        n: u32,
    }
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("rows.csv"),
        "user,n\nann,1\n\"bob,2\ncy,3\ndee,4\n",
    )?;
    let session = Session::builder()
        .parallelism(1)
        .clock(ManualClock::new(0))
        .build()?;
    let reader = session
        .read_stream::<Row>()
        .format(Format::Csv)
        .mode(MalformedPolicy::DropMalformed);
    let corrupt = reader.corrupt_records();
    let query = reader
        .files(dir.path())
        .map(|r| r.user)
        .write_stream()
        .memory("users")
        .start()?;
    query.process_all_available()?;
    assert_eq!(
        session.memory_table::<String>("users")?.rows(),
        ["ann", "cy", "dee"]
    );
    assert_eq!(corrupt.total(), 1);
    assert_eq!(
        query.last_progress().map(|p| p.sources[0].num_malformed_rows),
        Some(1)
    );
    query.stop()?;
    Ok(())
}

/// Malformed lines by the million keep a bounded sample, and every one is counted.
#[test]
fn corrupt_records_keep_a_bounded_sample_and_count_all() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut text = String::new();
    for i in 0..5_000 {
        text.push_str(&format!("{{broken {i}\n"));
    }
    std::fs::write(dir.path().join("bad.json"), text)?;
    let session = Session::builder()
        .parallelism(1)
        .clock(ManualClock::new(0))
        .build()?;
    let reader = session.read_stream::<i64>();
    let corrupt = reader.corrupt_records();
    let query = reader.files(dir.path()).write_stream().memory("none").start()?;
    query.process_all_available()?;
    assert_eq!(corrupt.total(), 5_000);
    let kept = corrupt.records();
    assert_eq!(kept.len(), 1_000);
    assert_eq!(kept[999].text, "{broken 4999", "the most recent are kept");
    query.stop()?;
    Ok(())
}

/// A file written slowly under its final name (a line every 20 ms, kept open) is taken only
/// once it stopped changing, and read whole.
#[test]
fn a_file_written_slowly_under_its_final_name_is_read_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    let path = dir.path().join("slow.txt");
    let (done_tx, done_rx) = mpsc::channel();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&path)?;
        for i in 0..20 {
            writeln!(file, "line {i}")?;
            file.flush()?;
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = done_tx.send(());
        Ok(())
    });
    // Batches run while the writer writes; then two more once it is done.
    while done_rx.try_recv().is_err() {
        t.advance_batches(1)?;
    }
    writer.join().map_err(|_| "the writer panicked")??;
    t.advance_batches(2)?;
    let lines: Vec<String> = out.batches().concat();
    assert_eq!(lines, (0..20).map(|i| format!("line {i}")).collect::<Vec<_>>());
    t.context().stop(false)?;
    Ok(())
}

/// Counts how often the driver asks it for data; never has any.
struct Idle(Arc<AtomicU64>);

impl streamflow::source::Source for Idle {
    type Item = u64;
    type Offset = u64;
    fn name(&self) -> String {
        "idle".into()
    }
    fn initial_offset(&self) -> u64 {
        0
    }
    fn latest_offset(
        &self,
        start: &u64,
        _: streamflow::source::ReadLimit,
        _: streamflow::Time,
    ) -> streamflow::Result<u64> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(*start)
    }
    fn get_batch(&self, _: &u64, _: &u64) -> streamflow::Result<streamflow::source::SourceBatch<u64>> {
        Ok(streamflow::source::SourceBatch::empty())
    }
    fn is_replayable(&self) -> bool {
        true
    }
}

/// An idle query backs off: it looks at a source that cannot wake it a handful of times a
/// second (10, 20, 40 … ms apart, up to 1 s), not every 10 ms — a directory of 10k files is not
/// listed 100 times a second.
#[test]
fn an_idle_query_looks_at_its_sources_less_and_less_often() -> TestResult {
    let looks = Arc::new(AtomicU64::new(0));
    let session = Session::builder().parallelism(1).build()?;
    let query = session
        .read_stream::<u64>()
        .source(Idle(looks.clone()))
        .write_stream()
        .memory("idle")
        .start()?;
    // Measuring a rate takes time: this waits on the wall clock, not on the engine.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let n = looks.load(Ordering::Relaxed);
    query.stop()?;
    assert!(n <= 20, "{n} looks in 1.5 s");
    Ok(())
}
