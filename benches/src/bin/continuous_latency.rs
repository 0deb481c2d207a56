//! End-to-end latency and throughput of one pipeline under `Trigger::continuous` and under
//! micro-batches: a paced source → filter → (optionally) a running count per key → a `foreach`
//! writer that measures, for every row it gets, the time since its record was made.
//!
//! ```text
//! continuous_latency MODE PIPELINE RATE SECONDS [CHECKPOINT]
//!   MODE        continuous | micro        (micro: Trigger::processing_time("100 ms"))
//!   PIPELINE    filter | count            (count: filter → group_by(key).agg(count, newest))
//!   RATE        records per second, or 0 for an unpaced source (throughput)
//!   SECONDS     how long to measure, after 2 seconds of warm-up
//!   CHECKPOINT  `checkpoint`: run with a checkpoint in a temporary directory (offsets, state
//!               and commits written every epoch / batch), to see what durability costs
//! ```
//!
//! The source makes record `i` at `i / RATE` seconds after its start, stamped with that
//! moment in nanoseconds of a monotonic clock shared with the sink (its "creation time"), and
//! hands it out only once that moment has passed; the latency of a row is the sink's clock
//! minus the stamp of the record that produced it. Prints one line: mode, pipeline, rate,
//! rows measured, p50 / p99 / p99.9 / max in µs, and records per second the sources handed
//! to the query (from the progress reports: whole epochs or batches inside the window).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use streamflow::Time;
use streamflow::source::{ReadLimit, Source, SourceBatch};
use streamflow::structured::*;

/// The clock the source stamps records with and the sink reads.
fn clock() -> &'static Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    clock().elapsed().as_nanos() as u64
}

/// A record: its index and when it was made (ns on the shared clock).
#[derive(Clone, Debug)]
struct Event {
    seq: u64,
    made_ns: u64,
}

/// Makes `rate` records per second from when it starts (0: as many as are asked for, made
/// "now"); replayable, so epochs and batches can be re-read.
struct Paced {
    rate: u64,
    start_ns: AtomicU64,
}

/// At most this many records per read of a paced source (it never has more due at once).
const MAX_PER_READ: u64 = 200_000;
/// What the unpaced source gives per read: more than a 100 ms batch processes, so micro-batches
/// are not capped by it.
const UNPACED_READ: u64 = 2_000_000;

impl Source for Paced {
    type Item = Event;
    type Offset = u64;
    fn name(&self) -> String {
        format!("paced[{}/s]", self.rate)
    }
    fn start(&self, _ctx: &streamflow::source::SourceContext) -> streamflow::Result<()> {
        self.start_ns.store(now_ns(), Ordering::Release);
        Ok(())
    }
    fn initial_offset(&self) -> u64 {
        0
    }
    fn latest_offset(&self, start: &u64, _limit: ReadLimit, _time: Time) -> streamflow::Result<u64> {
        if self.rate == 0 {
            return Ok(start + UNPACED_READ);
        }
        let elapsed = now_ns().saturating_sub(self.start_ns.load(Ordering::Acquire));
        let due = (elapsed as u128 * self.rate as u128 / 1_000_000_000) as u64;
        Ok(due.max(*start).min(start + MAX_PER_READ))
    }
    fn get_batch(&self, start: &u64, end: &u64) -> streamflow::Result<SourceBatch<Event>> {
        let base = self.start_ns.load(Ordering::Acquire);
        let (rate, now) = (self.rate, now_ns());
        Ok(SourceBatch::from_vec(
            (*start..*end)
                .map(|seq| Event {
                    seq,
                    made_ns: match rate {
                        0 => now,
                        r => base + (seq as u128 * 1_000_000_000 / r as u128) as u64,
                    },
                })
                .collect(),
        ))
    }
    fn is_replayable(&self) -> bool {
        true
    }
}

/// What every sink writer adds to: latencies (ns) of rows made after the warm-up; and the
/// records the sources read, from the progress reports.
#[derive(Default)]
struct Seen {
    latencies: Mutex<Vec<u64>>,
    input: AtomicU64,
}

impl StreamingQueryListener for Seen {
    fn on_query_progress(&self, progress: &QueryProgress) {
        self.input.fetch_add(progress.num_input_rows, Ordering::AcqRel);
    }
}

#[derive(Clone)]
struct Measure {
    seen: Arc<Seen>,
    warm_ns: u64,
    local: Vec<u64>,
}

impl Measure {
    fn note(&mut self, made_ns: u64) {
        let now = now_ns();
        if made_ns >= self.warm_ns {
            self.local.push(now.saturating_sub(made_ns));
        }
    }
}

impl ForeachWriter<Event> for Measure {
    fn open(&mut self, _partition: u64, _epoch: u64) -> bool {
        true
    }
    fn process(&mut self, row: Event) {
        self.note(row.made_ns)
    }
    fn close(&mut self, _error: Option<&str>) {
        flush(self)
    }
}

impl ForeachWriter<AggRow<u64, (u64, u64)>> for Measure {
    fn open(&mut self, _partition: u64, _epoch: u64) -> bool {
        true
    }
    fn process(&mut self, row: AggRow<u64, (u64, u64)>) {
        self.note(row.value.1)
    }
    fn close(&mut self, _error: Option<&str>) {
        flush(self)
    }
}

fn flush(m: &mut Measure) {
    m.seen
        .latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .append(&mut m.local);
}

/// A count per key and the newest record's stamp: the row a record's arrival produces.
struct CountAndNewest;

impl Aggregator<Event> for CountAndNewest {
    type Buffer = (u64, u64);
    type Output = (u64, u64);
    fn name(&self) -> &'static str {
        "count"
    }
    fn zero(&self) -> (u64, u64) {
        (0, 0)
    }
    fn reduce(&self, b: &mut (u64, u64), e: &Event) {
        b.0 += 1;
        b.1 = b.1.max(e.made_ns);
    }
    fn merge(&self, b: &mut (u64, u64), o: (u64, u64)) {
        b.0 += o.0;
        b.1 = b.1.max(o.1);
    }
    fn finish(&self, b: &(u64, u64)) -> (u64, u64) {
        *b
    }
}

/// The writer, with its checkpoint in `dir` if there is one.
fn with_checkpoint<T: streamflow::Data, S>(
    dir: &Option<tempfile::TempDir>,
    writer: DataStreamWriter<T, S>,
) -> DataStreamWriter<T, S> {
    match dir {
        Some(dir) => writer.checkpoint_location(dir.path()),
        None => writer,
    }
}

fn main() -> streamflow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(4..=5).contains(&args.len()) || args.get(4).is_some_and(|a| a != "checkpoint") {
        eprintln!("usage: continuous_latency continuous|micro filter|count RATE SECONDS [checkpoint]");
        std::process::exit(2);
    }
    let checkpoint = match args.get(4) {
        Some(_) => Some(
            tempfile::tempdir()
                .map_err(|e| streamflow::Error::io("cannot make a checkpoint directory", e))?,
        ),
        None => None,
    };
    let (mode, pipeline) = (args[0].as_str(), args[1].as_str());
    let number = |s: &str| {
        s.parse::<u64>()
            .map_err(|e| streamflow::Error::InvalidConfig(format!("{s}: {e}")))
    };
    let (rate, seconds) = (number(&args[2])?, number(&args[3])?);
    let trigger = match mode {
        "continuous" => Trigger::continuous("1 second"),
        _ => Trigger::processing_time("100 ms"),
    };
    let session = Session::builder().parallelism(2).build()?;
    let _ = clock();
    let warm_ns = now_ns() + 2_000_000_000;
    let seen = Arc::new(Seen::default());
    session.add_listener(seen.clone());
    let measure = Measure {
        seen: seen.clone(),
        warm_ns,
        local: Vec::new(),
    };
    let events = session
        .read_stream::<Event>()
        .source(Paced {
            rate,
            start_ns: AtomicU64::new(0),
        })
        .filter(|e| e.seq % 10 != 7);
    let query = match pipeline {
        "count" => with_checkpoint(
            &checkpoint,
            events
                .group_by(|e| e.seq % 1_000)
                .agg(CountAndNewest)
                .write_stream()
                .output_mode(OutputMode::Update)
                .trigger(trigger),
        )
        .foreach(measure)
        .start()?,
        _ => with_checkpoint(&checkpoint, events.write_stream().trigger(trigger))
            .foreach(measure)
            .start()?,
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    let input_before = seen.input.load(Ordering::Acquire);
    let measuring = Instant::now();
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    let input = seen.input.load(Ordering::Acquire) - input_before;
    let elapsed = measuring.elapsed().as_secs_f64();
    query.stop()?;
    let mut latencies = std::mem::take(&mut *seen.latencies.lock().unwrap_or_else(|e| e.into_inner()));
    latencies.sort_unstable();
    let at = |q: f64| match latencies.len() {
        0 => 0.0,
        n => latencies[((n as f64 * q) as usize).min(n - 1)] as f64 / 1_000.0,
    };
    println!(
        "{mode}{} {pipeline} rate={rate} rows={} p50_us={:.0} p99_us={:.0} p999_us={:.0} max_us={:.0} input_per_s={:.0}",
        if checkpoint.is_some() { "+checkpoint" } else { "" },
        latencies.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        input as f64 / elapsed
    );
    Ok(())
}
