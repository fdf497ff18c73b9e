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
//! waiting): when it got less than [`MIN_SHARE`] of a core while it
//! wanted to run most of the window, it steps up (nice 19, nice 10, then
//! nice 0, a fair share); when it hardly waits any more it steps back
//! down. A node with spare cycles keeps the save at `SCHED_IDLE`; a busy
//! one gives it a growing share until it makes progress.
//!
//! Raising a priority back up (lower nice) needs `CAP_SYS_NICE` or an
//! `RLIMIT_NICE` allowance; without either the thread stays at nice 19,
//! which still guarantees some progress.

use std::time::{Duration, Instant};

/// How often the thread reconsiders its priority.
pub const WINDOW: Duration = Duration::from_millis(250);
/// Below this share of one core while mostly waiting: step up.
const MIN_SHARE: f64 = 0.10;
/// Waiting more than this share of the window counts as wanting to run.
const WAITING: f64 = 0.5;
/// Waiting less than this share of the window for [`CALM_WINDOWS`]
/// windows in a row: step back down. (Stepping down slowly keeps a save
/// on a busy node from see-sawing between starving and catching up.)
const RELAXED: f64 = 0.1;
const CALM_WINDOWS: u32 = 4;

/// Priority levels, lowest first: (`SCHED_IDLE`?, nice).
const LEVELS: [(bool, i32); 4] = [(true, 19), (false, 19), (false, 10), (false, 0)];

/// The calling thread's adaptive priority. Create it on the snapshot
/// thread (it sets `SCHED_IDLE` at once) and call [`Pacer::tick`] often.
#[derive(Debug)]
pub struct Pacer {
    level: usize,
    /// Relaxed windows in a row.
    calm: u32,
    window_start: Instant,
    /// (cpu ns, wait ns) at the window start; None if unreadable.
    last: Option<(u64, u64)>,
}

impl Pacer {
    pub fn new() -> Self {
        let p = Pacer {
            level: 0,
            calm: 0,
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
            let next = decide(self.level, &mut self.calm, share, waited);
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

/// The next level from the last window's CPU share and waiting share;
/// `calm` counts relaxed windows in a row.
fn decide(level: usize, calm: &mut u32, share: f64, waited: f64) -> usize {
    if share < MIN_SHARE && waited > WAITING {
        *calm = 0;
        (level + 1).min(LEVELS.len() - 1)
    } else if waited < RELAXED {
        *calm += 1;
        if *calm >= CALM_WINDOWS {
            *calm = 0;
            level.saturating_sub(1)
        } else {
            level
        }
    } else {
        *calm = 0;
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
        let mut calm = 0;
        assert_eq!(decide(0, &mut calm, 0.01, 0.9), 1, "starved: up");
        assert_eq!(decide(3, &mut calm, 0.01, 0.9), 3, "already at the top");
        assert_eq!(decide(2, &mut calm, 0.5, 0.6), 2, "a fair share: stay");
        assert_eq!(decide(2, &mut calm, 0.05, 0.3), 2, "not waiting much: stay");
        for _ in 1..CALM_WINDOWS {
            assert_eq!(decide(2, &mut calm, 0.9, 0.01), 2, "free, not for long yet");
        }
        assert_eq!(decide(2, &mut calm, 0.9, 0.01), 1, "free for a while: down");
        assert_eq!(decide(2, &mut calm, 0.9, 0.01), 2, "and counting again");
        assert_eq!(
            decide(2, &mut calm, 0.01, 0.9),
            3,
            "starved again: up at once"
        );
        calm = CALM_WINDOWS;
        assert_eq!(decide(0, &mut calm, 0.9, 0.01), 0, "already at the bottom");
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
