//! What the crash tests share (`streamflow/tests/database_crash.rs`, and through `#[path]`
//! `examples/tests/crash.rs` and `examples/tests/kafka_crash.rs`): a seeded generator of kill
//! moments, the settings a run takes from the environment, and waiting on a child process until
//! it ends or the moment to kill it has come.

#![allow(dead_code, reason = "each crash test uses the part of this it needs")]

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// A small, seeded generator of kill moments (xorshift*).
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed` (any value: it is made odd, as xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The number in the environment variable `name`, or `default` if it is unset or no number.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of this run: `STREAMFLOW_CRASH_SEED`, or `default`. Printed, so that a failed run
/// can be repeated exactly.
pub fn seed(default: u64) -> u64 {
    let seed = setting("STREAMFLOW_CRASH_SEED", default);
    eprintln!("crash test seed {seed} (STREAMFLOW_CRASH_SEED={seed} repeats this kill schedule)");
    seed
}

/// A seed that differs from run to run (the clock's nanoseconds), for tests that explore.
pub fn fresh_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// Waits until `child` ends (its status) or `due()` says the moment to kill it has come
/// (`None`: it still runs). Polls every millisecond: the kill moment is the test's, not the
/// engine's.
pub fn wait_until(child: &mut Child, mut due: impl FnMut() -> bool) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if due() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for `child` at most `limit`: its status, or `None` if it still runs.
pub fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    wait_until(child, || started.elapsed() >= limit)
}
