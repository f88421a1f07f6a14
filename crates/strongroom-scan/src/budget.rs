//! The scan's time bounds, counted in the scanning thread's CPU time (RT13-05): how much of the
//! machine other work takes must not decide whether an archive's analysis finishes, so the same
//! release is not held for unread code on a busy day and published on a quiet one. A wall-clock
//! backstop, [`WALL_FACTOR`] times the CPU budget, still bounds how long an upload waits on a
//! machine too loaded to give the scan its CPU.
//!
//! The scanner runs each archive on one thread (core runs it in one blocking task), so the
//! thread's CPU clock is the scan's own cost: the parse, the analysis and the unzip.

use std::time::{Duration, Instant};

/// The wall-clock backstop, as a multiple of the CPU budget.
pub const WALL_FACTOR: u32 = 5;

/// A budget of CPU time on the current thread, started when made.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    cpu_end: Duration,
    wall_end: Instant,
}

impl Budget {
    /// `cpu` of this thread's CPU time from now (and at most `WALL_FACTOR × cpu` of wall time).
    pub fn new(cpu: Duration) -> Self {
        Self {
            cpu_end: thread_cpu().saturating_add(cpu),
            wall_end: Instant::now() + cpu.saturating_mul(WALL_FACTOR),
        }
    }

    /// `cpu` of CPU time with the backstop `wall` from now (the tests' way to tell the two apart
    /// on a loaded machine).
    #[cfg(test)]
    fn with_backstop(cpu: Duration, wall: Duration) -> Self {
        Self {
            cpu_end: thread_cpu().saturating_add(cpu),
            wall_end: Instant::now() + wall,
        }
    }

    /// Whether the budget is spent: the thread used its CPU time, or the backstop passed.
    pub fn spent(&self) -> bool {
        thread_cpu() > self.cpu_end || Instant::now() > self.wall_end
    }
}

/// The CPU time this thread has used.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_spends_no_budget_and_working_does() {
        // the backstop far off: only CPU time can spend this budget, however loaded the machine
        let b = Budget::with_backstop(Duration::from_millis(50), Duration::from_secs(60));
        // Off the CPU (another process holding it looks the same to this thread): not spent.
        std::thread::sleep(Duration::from_millis(120));
        assert!(!b.spent(), "sleeping must not spend CPU time");
        let start = Instant::now();
        let mut x = 0u64;
        while !b.spent() {
            for i in 0..10_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            assert!(start.elapsed() < Duration::from_secs(50), "never spent");
        }
        std::hint::black_box(x);
        assert!(thread_cpu() >= Duration::from_millis(50));
    }

    #[test]
    fn the_wall_clock_backstop_ends_a_budget_that_gets_no_cpu() {
        let b = Budget::new(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(10 * u64::from(WALL_FACTOR) + 30));
        assert!(b.spent());
    }
}
