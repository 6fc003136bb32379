//! CPU time and peak memory of processes, from Linux's `/proc`: how perf
//! charges the write service, the broker and InfluxDB for their work.

use std::time::Duration;

/// Clock ticks a second for `/proc/<pid>/stat` times (USER_HZ; 100 on
/// every Linux this runs on).
const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time of `pid` so far; `None` if it is gone.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'. utime and stime are the 14th and 15th fields.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// Peak resident memory (`VmHWM`) of `pid`, in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmHWM:")
}

/// Resident memory now (`VmRSS`) of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS:")
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Pids of processes whose command name (`/proc/<pid>/comm`) is `name`.
pub fn pids_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect()
}

/// Total CPU time of all processes named `name` (e.g. `beam.smp`, `influxd`).
pub fn cpu_time_of(name: &str) -> Duration {
    pids_named(name).into_iter().filter_map(cpu_time).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        // Burn a little CPU so the count is not zero.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(cpu_time(me).is_some());
        assert!(peak_rss_bytes(me).is_some_and(|rss| rss > 1024 * 1024));
        assert!(rss_bytes(me).is_some_and(|rss| rss > 1024 * 1024));
        assert!(cpu_time(u32::MAX).is_none());
    }
}
