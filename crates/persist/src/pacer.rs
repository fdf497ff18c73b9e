//! CPU priority of the incremental snapshot thread, adapted to the load.
//!
//! The thread that writes a background snapshot shares the node's cores
//! with the threads serving clients. Under `SCHED_IDLE` a serving thread
//! that wakes up preempts it at once, so the snapshot costs clients
//! almost no latency (a nice-19 thread under the EEVDF scheduler may
//! still finish its time slice first, which shows in p99). But a
//! `SCHED_IDLE` thread on a saturated node may never run, and a backup
//! must finish. So the thread starts at `SCHED_IDLE` and, every
//! [`WINDOW`], looks at its own scheduler statistics
//! (`/proc/thread-self/schedstat`: CPU time and time spent runnable but
//! waiting): when it got less than 2 % of a core while it wanted to run
//! most of the window (starved), it steps up (nice 19, nice 10, then nice
//! 0, a fair share); once it gets 10 % or more it steps back down. A node
//! with spare cycles keeps the save at `SCHED_IDLE`, where it costs
//! clients nothing (any priority above it lets the save finish a time
//! slice before a woken serving thread runs: milliseconds of p99); a
//! saturated one gives it just enough to progress.
//!
//! Raising a priority back up (lower nice) needs `CAP_SYS_NICE` or an
//! `RLIMIT_NICE` allowance; without either the thread stays at nice 19,
//! which still guarantees some progress.

use std::time::{Duration, Instant};

/// How often the thread reconsiders its priority.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Below this share of one core while mostly waiting: starved, step up.
/// (Under `SCHED_IDLE` on a saturated core a thread gets about 0.3 %.)
const MIN_SHARE: f64 = 0.02;
/// Waiting more than this share of the window counts as wanting to run.
const WAITING: f64 = 0.5;
/// At or above this share the save is clearly not starved: step back
/// down, towards `SCHED_IDLE`. Between the two shares the level stays,
/// so on a saturated node the save settles at the lowest priority that
/// still gives it a few per cent of a core.
const FAIR_SHARE: f64 = 0.10;

/// Priority levels, lowest first: (`SCHED_IDLE`?, nice).
const LEVELS: [(bool, i32); 4] = [(true, 19), (false, 19), (false, 10), (false, 0)];

/// The calling thread's adaptive priority. Create it on the snapshot
/// thread (it sets `SCHED_IDLE` at once) and call [`Pacer::tick`] often.
#[derive(Debug)]
pub struct Pacer {
    level: usize,
    window_start: Instant,
    /// (cpu ns, wait ns) at the window start; None if unreadable.
    last: Option<(u64, u64)>,
}

impl Pacer {
    pub fn new() -> Self {
        let p = Pacer {
            level: 0,
            window_start: Instant::now(),
            last: schedstat(),
        };
        apply(p.level);
        p
    }

    /// The current level (0 = `SCHED_IDLE`).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Cheap unless a window has passed; then maybe change the priority.
    pub fn tick(&mut self) {
        let elapsed = self.window_start.elapsed();
        if elapsed < WINDOW {
            return;
        }
        let now = schedstat();
        if let (Some((cpu0, wait0)), Some((cpu1, wait1))) = (self.last, now) {
            let w = elapsed.as_nanos() as f64;
            let share = cpu1.saturating_sub(cpu0) as f64 / w;
            let waited = wait1.saturating_sub(wait0) as f64 / w;
            let next = decide(self.level, share, waited);
            if next != self.level {
                self.level = next;
                apply(next);
            }
        }
        self.last = now;
        self.window_start = Instant::now();
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

/// The next level from the last window's CPU share and waiting share.
fn decide(level: usize, share: f64, waited: f64) -> usize {
    if share < MIN_SHARE && waited > WAITING {
        (level + 1).min(LEVELS.len() - 1)
    } else if share >= FAIR_SHARE {
        level.saturating_sub(1)
    } else {
        level
    }
}

/// (CPU time, runnable-but-waiting time) of the calling thread, in ns.
fn schedstat() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

/// Set the calling thread's policy and nice value for `level`. Failures
/// (no permission to raise the priority) keep the current setting.
fn apply(level: usize) {
    let Some(&(idle, nice)) = LEVELS.get(level) else {
        return;
    };
    // SAFETY: plain syscalls about the calling thread: gettid takes no
    // arguments; setpriority(PRIO_PROCESS, tid) sets that thread's nice
    // value on Linux; sched_setscheduler(0, ...) sets the calling
    // thread's policy and only reads the `param` passed by reference.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        libc::sched_setscheduler(0, policy, &param);
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_up_when_starved_and_down_when_free() {
        assert_eq!(decide(0, 0.003, 0.9), 1, "starved: up");
        assert_eq!(decide(3, 0.003, 0.9), 3, "already at the top");
        assert_eq!(decide(2, 0.05, 0.9), 2, "a few per cent: stay");
        assert_eq!(decide(2, 0.01, 0.2), 2, "not wanting to run: stay");
        assert_eq!(decide(2, 0.3, 0.6), 1, "a fair share: down");
        assert_eq!(decide(0, 0.3, 0.01), 0, "already at the bottom");
    }

    /// The levels really apply to the calling thread (read back from
    /// /proc), and a new pacer starts at SCHED_IDLE.
    #[test]
    fn levels_apply_to_the_calling_thread() {
        let h = std::thread::spawn(|| {
            let p = Pacer::new();
            assert_eq!(p.level(), 0);
            let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
            let rest = &stat[stat.rfind(')').expect("comm") + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            assert_eq!(f[16], "19", "nice");
            assert_eq!(f[38], "5", "SCHED_IDLE");
            apply(1);
            let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
            let rest = &stat[stat.rfind(')').expect("comm") + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            assert_eq!(f[38], "0", "SCHED_OTHER");
            assert!(schedstat().is_some());
        });
        h.join().expect("thread");
    }
}
