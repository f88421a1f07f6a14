//! Shared by the integration tests: the pathological families and a CPU clock.

pub mod families;

use std::time::Duration;

/// CPU time (user + system) this thread has used, from `/proc/thread-self/stat` (Linux; in
/// USER_HZ ticks, which the kernel fixes at 100 per second for /proc).
pub fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}
