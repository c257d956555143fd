//! Timing that leaves out the time slices other tasks took.
//!
//! On a shared machine the kernel preempts the benchmark now and then and
//! gives its CPU to another task for a time slice (milliseconds). A timed
//! stretch that contains a preemption is worth nothing: it measures the other
//! task. Worse, it is not noise that a median removes, because the longer an
//! implementation's stretch, the more often it is hit, so the slower
//! implementations would look slower still. [`Stopwatch`] times short
//! stretches and keeps only those during which the thread's count of
//! involuntary context switches did not move (`getrusage(RUSAGE_THREAD)`,
//! read outside the timed stretch).

use std::time::{Duration, Instant};

/// Involuntary context switches of this thread so far: how often the kernel
/// gave its CPU to another task.
pub fn preemptions() -> i64 {
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage` for getrusage to fill.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc == 0 {
        usage.ru_nivcsw
    } else {
        0
    }
}

/// Accumulates the time and operation count of the stretches that ran
/// without a preemption, and counts the operations of those that did not.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stopwatch {
    /// Time of the kept stretches.
    pub elapsed: Duration,
    /// Operations in the kept stretches.
    pub ops: u64,
    /// Operations in stretches left out because of a preemption.
    pub dropped: u64,
}

impl Stopwatch {
    /// Runs `f` (which does `ops` operations) and keeps its time unless the
    /// thread was preempted meanwhile.
    #[inline(always)]
    pub fn time<R>(&mut self, ops: u64, f: impl FnOnce() -> R) -> R {
        let before = preemptions();
        let start = Instant::now();
        let result = f();
        let elapsed = start.elapsed();
        if preemptions() == before {
            self.elapsed += elapsed;
            self.ops += ops;
        } else {
            self.dropped += ops;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_time_and_counts_of_quiet_stretches() {
        let mut watch = Stopwatch::default();
        let mut kept = 0;
        for _ in 0..50 {
            let before = (watch.ops, watch.dropped);
            let x = watch.time(3, || std::hint::black_box(20u64).pow(2));
            assert_eq!(x, 400);
            assert_eq!(watch.ops + watch.dropped, before.0 + before.1 + 3);
            kept += u64::from(watch.ops > before.0);
        }
        // A 50-iteration loop of tiny stretches is not preempted every time.
        assert!(kept > 0 && watch.elapsed > Duration::ZERO);
    }

    #[test]
    fn preemptions_never_go_backwards() {
        let a = preemptions();
        std::thread::yield_now();
        assert!(preemptions() >= a && a >= 0);
    }
}
