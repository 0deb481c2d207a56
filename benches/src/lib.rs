//! Shared helpers for streamflow's benchmarks.
//!
//! - [`SplitMix64`]: a tiny deterministic PRNG, so every run sees the same input.
//! - [`ZipfText`]: synthetic text whose word frequencies follow Zipf's law, like natural text.
//! - [`count_words`]: the strong hand-written single-threaded word count the engine is compared
//!   with (hashbrown + foldhash, lookups by `&str`, a key allocated only on first insertion),
//!   and [`count_words_alloc_per_word`] / [`count_words_threads`], reference points that explain
//!   the engine's numbers.
//! - [`EngineBatch`]: one word-count batch through a real [`StreamingContext`] on a manual
//!   clock, prepared outside the measurement so only the batch itself is timed.
//!
//! ```
//! use streamflow_benches::{count_words, ZipfText};
//!
//! let lines = ZipfText::default().lines(10_000);
//! let counts = count_words(&lines);
//! let words: u64 = lines.iter().map(|l| l.split(' ').count() as u64).sum();
//! assert_eq!(counts.values().sum::<u64>(), words);
//! ```

pub mod end_to_end;

/// With the `mimalloc` feature, every bench program allocates with mimalloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;
use streamflow::{Duration, ManualClock, StreamQueue, StreamingContext, Time};

/// Word counts keyed by the word: what every word-count variant returns.
pub type Counts = HashMap<String, u64, foldhash::fast::RandomState>;

/// The splitmix64 generator (Steele, Lea, Flood 2014): tiny, fast, good enough for test data,
/// and the same sequence on every machine.
///
/// ```
/// use streamflow_benches::SplitMix64;
/// let mut a = SplitMix64::new(7);
/// let mut b = SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// A uniform integer in `0..n` (`0` when `n` is 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Settings of the synthetic text: a vocabulary of distinct words whose frequencies follow
/// Zipf's law (the word of rank r occurs in proportion to `1 / r^exponent`), cut into lines.
///
/// Word lengths are realistic: frequent words are short (rank 1 has about 3 letters), rare ones
/// longer (about 9 letters at rank 100 000), with ±2 letters of noise; the mean word in the
/// text is about 4.5 letters, close to English. Lines hold 6 to 14 words (10 on average),
/// separated by single spaces.
///
/// ```
/// use streamflow_benches::ZipfText;
///
/// let text = ZipfText { vocabulary: 1_000, ..ZipfText::default() };
/// let lines = text.lines(5_000);
/// assert!(lines.iter().map(|l| l.len()).sum::<usize>() >= 5_000);
/// assert_eq!(lines, text.lines(5_000), "deterministic");
/// assert!(lines.iter().all(|l| !l.is_empty() && !l.contains("  ")));
/// ```
#[derive(Clone, Debug)]
pub struct ZipfText {
    /// Number of distinct words.
    pub vocabulary: usize,
    /// Zipf exponent (1.0 is natural language).
    pub exponent: f64,
    /// Fewest words in a line.
    pub min_words_per_line: usize,
    /// Most words in a line.
    pub max_words_per_line: usize,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for ZipfText {
    fn default() -> Self {
        ZipfText {
            vocabulary: 100_000,
            exponent: 1.0,
            min_words_per_line: 6,
            max_words_per_line: 14,
            seed: 0x5eed_2024,
        }
    }
}

impl ZipfText {
    /// The vocabulary, most frequent word first: distinct lowercase words.
    ///
    /// ```
    /// use streamflow_benches::ZipfText;
    /// let words = ZipfText { vocabulary: 500, ..ZipfText::default() }.vocabulary_words();
    /// assert_eq!(words.len(), 500);
    /// let distinct: std::collections::HashSet<_> = words.iter().collect();
    /// assert_eq!(distinct.len(), 500);
    /// ```
    pub fn vocabulary_words(&self) -> Vec<String> {
        let mut rng = SplitMix64::new(self.seed ^ 0x766f_6361_6275_6c61);
        let mut seen: hashbrown::HashSet<String, foldhash::fast::RandomState> = Default::default();
        let mut words = Vec::with_capacity(self.vocabulary);
        for rank in 1..=self.vocabulary {
            let typical = 3.0 + 0.55 * (rank as f64).ln();
            let noise = rng.next_f64() * 4.0 - 2.0;
            let mut len = (typical + noise).round().clamp(1.0, 20.0) as usize;
            loop {
                let word: String = (0..len).map(|_| char::from(b'a' + rng.below(26) as u8)).collect();
                if seen.insert(word.clone()) {
                    words.push(word);
                    break;
                }
                // Short lengths run out of distinct words: try a longer one.
                len += 1;
            }
        }
        words
    }

    /// Lines of text, at least `min_bytes` bytes of them in total (not counting line ends).
    ///
    /// ```
    /// use streamflow_benches::ZipfText;
    /// let lines = ZipfText::default().lines(100_000);
    /// let words: Vec<&str> = lines.iter().flat_map(|l| l.split(' ')).collect();
    /// // Zipf: the most frequent word is far more frequent than a typical one.
    /// let top = ZipfText::default().vocabulary_words()[0].clone();
    /// let top_share = words.iter().filter(|w| **w == top).count() as f64 / words.len() as f64;
    /// assert!(top_share > 0.05, "{top_share}");
    /// ```
    pub fn lines(&self, min_bytes: usize) -> Vec<String> {
        let vocabulary = self.vocabulary_words();
        let sampler = ZipfSampler::new(vocabulary.len(), self.exponent);
        let mut rng = SplitMix64::new(self.seed);
        let (low, high) = (
            self.min_words_per_line.max(1),
            self.max_words_per_line.max(self.min_words_per_line.max(1)),
        );
        let mut lines = Vec::new();
        let mut bytes = 0;
        while bytes < min_bytes && !vocabulary.is_empty() {
            let n = low + rng.below((high - low + 1) as u64) as usize;
            let mut line = String::with_capacity(n * 8);
            for i in 0..n {
                if i > 0 {
                    line.push(' ');
                }
                line.push_str(&vocabulary[sampler.sample(&mut rng)]);
            }
            bytes += line.len();
            lines.push(line);
        }
        lines
    }
}

/// Draws ranks from a Zipf distribution by binary search in the cumulative distribution.
///
/// ```
/// use streamflow_benches::{SplitMix64, ZipfSampler};
/// let zipf = ZipfSampler::new(1_000, 1.0);
/// let mut rng = SplitMix64::new(1);
/// let ranks: Vec<usize> = (0..10_000).map(|_| zipf.sample(&mut rng)).collect();
/// assert!(ranks.iter().all(|&r| r < 1_000));
/// // Rank 0 is the most frequent by far.
/// assert!(ranks.iter().filter(|&&r| r == 0).count() > ranks.iter().filter(|&&r| r == 10).count() * 5);
/// ```
#[derive(Clone, Debug)]
pub struct ZipfSampler {
    cdf: Vec<f64>,
}

impl ZipfSampler {
    /// `n` ranks, the rank r (from 1) drawn in proportion to `1 / r^exponent`.
    pub fn new(n: usize, exponent: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += (rank as f64).powf(-exponent);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        ZipfSampler { cdf }
    }

    /// A 0-based rank.
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len().saturating_sub(1))
    }
}

/// The size of the text in bytes: the sum of the line lengths (line ends not counted).
///
/// ```
/// assert_eq!(streamflow_benches::text_bytes(&["ab c".to_string(), "d".to_string()]), 5);
/// ```
pub fn text_bytes(lines: &[String]) -> u64 {
    lines.iter().map(|l| l.len() as u64).sum()
}

/// The baseline: the word count a user would write by hand instead of using the engine.
///
/// Single-threaded, hashbrown with foldhash, words split on `' '` (Spark's `split(" ")`, empty
/// words included), counted through `get_mut(&str)`, and a key `String` allocated only the first
/// time a word is seen.
///
/// ```
/// let counts = streamflow_benches::count_words(&["a b a".to_string(), "b  c".to_string()]);
/// assert_eq!(counts["a"], 2);
/// assert_eq!(counts["b"], 2);
/// assert_eq!(counts[""], 1);
/// assert_eq!(counts.len(), 4);
/// ```
pub fn count_words(lines: &[String]) -> Counts {
    let mut counts = Counts::default();
    for line in lines {
        for word in line.split(' ') {
            match counts.get_mut(word) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(word.to_owned(), 1);
                }
            }
        }
    }
    counts
}

/// A reference point, not a fair baseline: the same loop as [`count_words`] but with an owned
/// `String` allocated (and, for known words, freed) for every word, counted through the entry
/// API — the per-word work that the plain `split(' ').map(str::to_owned)` pipeline asks of the
/// engine's map-side combine.
///
/// ```
/// let lines = ["x y x".to_string()];
/// assert_eq!(
///     streamflow_benches::count_words_alloc_per_word(&lines),
///     streamflow_benches::count_words(&lines)
/// );
/// ```
pub fn count_words_alloc_per_word(lines: &[String]) -> Counts {
    let mut counts = Counts::default();
    for line in lines {
        for word in line.split(' ') {
            *counts.entry(word.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// A reference point: [`count_words`] on `threads` scoped threads over equal slices of the
/// lines, then the per-thread maps merged into the first one — the best a hand-written
/// `threads`-way word count does, so the ceiling for the engine at that parallelism.
///
/// ```
/// let lines: Vec<String> = (0..100).map(|i| format!("w{} w{}", i % 7, i % 3)).collect();
/// assert_eq!(streamflow_benches::count_words_threads(&lines, 2), streamflow_benches::count_words(&lines));
/// ```
pub fn count_words_threads(lines: &[String], threads: usize) -> Counts {
    let threads = threads.max(1);
    let chunk = lines.len().div_ceil(threads).max(1);
    let partials: Vec<Counts> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| scope.spawn(move || count_words(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut partials = partials.into_iter();
    let mut total = partials.next().unwrap_or_default();
    for partial in partials {
        for (word, n) in partial {
            *total.entry(word).or_insert(0) += n;
        }
    }
    total
}

/// Which word-count pipeline [`EngineBatch`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipeline {
    /// Spark's program, word for word:
    /// `flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>()) → map(|w| (w, 1)) →
    /// reduce_by_key(+)`. One `String` per word and one `Vec` per line.
    Plain,
    /// The allocation-free spelling: `flat_map(streamflow::text::words) → map(|w| (w, 1)) →
    /// reduce_by_key(+)`, words as inline `CompactString`s, no vector per line.
    Words,
    /// No word count at all: the source's batch is only counted. Measures what the engine does
    /// per batch before any operator runs (taking the batch from the queue, storing it, handing
    /// it on).
    SourceOnly,
}

impl Pipeline {
    /// A short name for benchmark ids.
    ///
    /// ```
    /// assert_eq!(streamflow_benches::Pipeline::Words.name(), "words");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Pipeline::Plain => "plain",
            Pipeline::Words => "words",
            Pipeline::SourceOnly => "source_only",
        }
    }
}

/// One batch of word count through a started [`StreamingContext`] on a [`ManualClock`],
/// waiting for the clock to move: [`EngineBatch::prepare`] builds everything (outside a
/// measurement), [`EngineBatch::run`] runs exactly the batch.
///
/// The input is one `queue_stream` batch holding all the lines; the output is a
/// `foreach_batch` that counts the result's elements (the number of distinct words) or, with
/// `collect`, keeps the counts.
///
/// ```
/// use streamflow_benches::{count_words, EngineBatch, Pipeline, ZipfText};
///
/// let lines = ZipfText::default().lines(20_000);
/// for pipeline in [Pipeline::Plain, Pipeline::Words] {
///     let done = EngineBatch::prepare(lines.clone(), 2, pipeline, true)?.run()?;
///     assert_eq!(done.counts(), Some(count_words(&lines)));
///     assert_eq!(done.output_len(), count_words(&lines).len() as u64);
/// }
/// let done = EngineBatch::prepare(lines.clone(), 2, Pipeline::SourceOnly, false)?.run()?;
/// assert_eq!(done.output_len(), lines.len() as u64);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct EngineBatch {
    ssc: StreamingContext,
    clock: ManualClock,
    output_len: Arc<AtomicU64>,
    collected: Option<Arc<Mutex<Counts>>>,
}

impl EngineBatch {
    /// Builds and starts a context with `parallelism` workers whose only batch holds `lines`.
    pub fn prepare(
        lines: Vec<String>,
        parallelism: usize,
        pipeline: Pipeline,
        collect: bool,
    ) -> streamflow::Result<Self> {
        let clock = ManualClock::new(0);
        let ssc = StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .parallelism(parallelism)
            .clock(clock.clone())
            .app_name("word-count-bench")
            .build()?;
        let queue = StreamQueue::new();
        queue.push(lines);
        let lines = ssc.queue_stream(queue, true, None);
        let output_len = Arc::new(AtomicU64::new(0));
        let collected =
            (collect && pipeline != Pipeline::SourceOnly).then(|| Arc::new(Mutex::new(Counts::default())));
        let sink = Sink {
            output_len: output_len.clone(),
            collected: collected.clone(),
        };
        match pipeline {
            Pipeline::Plain => sink.attach(
                &lines
                    .flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
                    .map(|w| (w, 1_u64))
                    .reduce_by_key(|a, b| a + b),
            ),
            Pipeline::Words => sink.attach(
                &lines
                    .flat_map(streamflow::text::words)
                    .map(|w| (w, 1_u64))
                    .reduce_by_key(|a, b| a + b),
            ),
            Pipeline::SourceOnly => {
                let output_len = sink.output_len;
                lines.foreach_batch(move |batch, _| output_len.store(batch.count(), Ordering::Relaxed));
            }
        }
        ssc.start()?;
        Ok(EngineBatch {
            ssc,
            clock,
            output_len,
            collected,
        })
    }

    /// Moves the clock one batch interval and waits until the batch has run.
    pub fn run(self) -> streamflow::Result<FinishedBatch> {
        self.clock.advance(self.ssc.batch_duration())?;
        self.ssc.await_batch(Time::from_millis(1_000))?;
        Ok(FinishedBatch { batch: self })
    }
}

/// What a `foreach_batch` output records.
struct Sink {
    output_len: Arc<AtomicU64>,
    collected: Option<Arc<Mutex<Counts>>>,
}

impl Sink {
    fn attach<K: streamflow::Key + AsRef<str>>(self, counts: &streamflow::DStream<(K, u64)>) {
        counts.foreach_batch(move |batch, _| match &self.collected {
            None => self.output_len.store(batch.count(), Ordering::Relaxed),
            Some(collected) => {
                let pairs = batch.collect();
                self.output_len.store(pairs.len() as u64, Ordering::Relaxed);
                let mut map = collected.lock().unwrap_or_else(|e| e.into_inner());
                for (k, n) in pairs {
                    *map.entry(k.as_ref().to_owned()).or_insert(0) += n;
                }
            }
        });
    }
}

/// A batch that ran. Dropping it (like dropping an [`EngineBatch`]) stops its context — outside
/// the measurement, since criterion drops a routine's output after timing it.
pub struct FinishedBatch {
    batch: EngineBatch,
}

impl FinishedBatch {
    /// The number of elements of the batch's output: distinct words (lines for
    /// [`Pipeline::SourceOnly`]).
    pub fn output_len(&self) -> u64 {
        self.batch.output_len.load(Ordering::Relaxed)
    }

    /// The counts, when prepared with `collect` (never for [`Pipeline::SourceOnly`]).
    pub fn counts(&self) -> Option<Counts> {
        self.batch
            .collected
            .as_ref()
            .map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

impl Drop for EngineBatch {
    fn drop(&mut self) {
        if let Err(e) = self.ssc.stop(false) {
            eprintln!("word-count bench: stopping the context failed: {e}");
        }
    }
}
