//! The 48-bit linear congruential generator of `java.util.Random`, bit for bit: the reference
//! Nexmark generator (Apache Beam's, which Flink's copies) seeds one per event with the event's
//! id, so the same arithmetic here gives the same events as the reference for the same
//! settings.

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const ADDEND: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

/// `java.util.Random`: `new Random(seed)`, `nextInt()`, `nextInt(bound)`, `nextLong()`,
/// `nextDouble()`.
#[derive(Clone, Debug)]
pub(crate) struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    /// `new Random(seed)`.
    pub(crate) fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed as u64 ^ MULTIPLIER) & MASK,
        }
    }

    /// `next(bits)`: the top `bits` of the next state, as Java's `int` (sign included).
    fn next(&mut self, bits: u32) -> i32 {
        self.seed = self.seed.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND) & MASK;
        (self.seed >> (48 - bits)) as i32
    }

    /// `nextInt()`: any `int`.
    pub(crate) fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `nextInt(bound)`: uniform in `[0, bound)`; `bound` must be positive (the callers pass
    /// constants and sizes that are).
    pub(crate) fn next_int_bounded(&mut self, bound: i32) -> i32 {
        let bound = bound.max(1);
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }

    /// `nextLong()`.
    pub(crate) fn next_long(&mut self) -> i64 {
        (i64::from(self.next(32)) << 32).wrapping_add(i64::from(self.next(32)))
    }

    /// `nextDouble()`: uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn next_double(&mut self) -> f64 {
        let high = i64::from(self.next(26)) << 27;
        let low = i64::from(self.next(27));
        (high + low) as f64 * (1.0 / (1_u64 << 53) as f64)
    }

    /// Beam's `LongGenerator.nextLong(random, n)`: `nextInt(n)` when `n` fits an `int`, else
    /// `|nextLong() % n|` (skewed, as in the reference).
    pub(crate) fn next_long_below(&mut self, n: i64) -> i64 {
        if n < i64::from(i32::MAX) {
            i64::from(self.next_int_bounded(n as i32))
        } else {
            (self.next_long() % n.max(1)).abs()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by OpenJDK 17 for `new Random(42)` and `new Random(-7)`
    /// (`nextInt()`, `nextInt(10)`, `nextInt(13)`, `nextLong()`, `nextDouble()`, `nextInt(1 << 20)`).
    #[test]
    fn matches_java_util_random() {
        let mut r = JavaRandom::new(42);
        assert_eq!(r.next_int(), -1_170_105_035);
        assert_eq!(r.next_int_bounded(10), 3);
        assert_eq!(r.next_int_bounded(13), 9);
        assert_eq!(r.next_long(), 884_324_181_205_335_268);
        assert_eq!(r.next_double(), 0.9420735430282128);
        assert_eq!(r.next_int_bounded(1 << 20), 742_088);
        let mut r = JavaRandom::new(-7);
        assert_eq!(r.next_int(), 1_155_869_324);
        assert_eq!(r.next_int_bounded(10), 7);
    }
}
