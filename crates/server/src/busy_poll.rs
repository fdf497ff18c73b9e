//! Busy polling between requests, so that a busy worker never sleeps.
//!
//! Why: a worker with nothing to do sleeps in `epoll_wait`. The next request
//! must then wake it, and the kernel does that inside the *client's*
//! `write`: the wake-up of the sleeping thread, an inter-processor interrupt
//! to its idle core and, on a virtual machine, an exit to the hypervisor.
//! At pipeline 1 a client pays this on nearly every request. Measured on the
//! 2-vCPU benchmark VM with redis-benchmark (GET, 50 connections, pipeline
//! 1, 12 alternating rounds): the load generator spent 11.0 µs per request
//! against a worker that sleeps and 10.0 µs against one that polls, and
//! throughput went from 0.965 to 1.034 of redis-server's
//! (docs/benchmarks.md).
//!
//! What: after a worker served something it keeps polling its sockets
//! (`epoll_wait` with a zero timeout: tokio polls its driver without
//! blocking before it runs a task that yielded) until `busy-poll-us` passes
//! with no new input. Under steady traffic it therefore never sleeps; an
//! idle worker sleeps one window after its last request.
//!
//! Polling costs CPU the worker would otherwise leave idle, so it is only
//! done while it pays: an episode of polling in which more than half of
//! the time went to polls that found nothing counts as a miss, and after
//! `k` misses in a row the next `2^k - 1` wake-ups (at most 63) go
//! straight back to sleep. A worker that is busy less than about half of
//! the time thus polls about one window in 64 wake-ups, while a loaded
//! one polls all the time; polling at most doubles the CPU time of a
//! worker that polls continuously. The rule uses time, not request
//! rates, so a slower machine (each request costing more) keeps polling.
//! `busy-poll-us 0` turns it off (`CONFIG SET busy-poll-us`,
//! `--busy-poll-us` for memcached nodes).
//!
//! All state is per worker thread: the poller is a local task of the
//! worker's runtime, and connections on that worker report their socket
//! work (requests read, pushes written) through
//! thread-locals (no atomics, no cross-thread wake-ups).

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

thread_local! {
    /// Socket work on this worker: reads that returned requests, writes
    /// of pushes (wrapping counter).
    static INPUT: Cell<u64> = const { Cell::new(0) };
    /// The poller's waker while it sleeps, waiting for input.
    static PARKED: Cell<Option<Waker>> = const { Cell::new(None) };
}

/// Largest window used (10 ms; both parsers of the setting, `busy-poll-us`
/// in crates/redis/src/config.rs and memcached's `--busy-poll-us`, refuse
/// more, and default to 50 µs: enough to bridge the gap between two
/// requests of a busy node, about 10 µs at 100k requests/s).
const MAX_WINDOW_US: u64 = 10_000;

/// Called by a connection after a read that returned data, and after it
/// wrote pushes (a PUBLISH fans out as work on the subscribers' tasks, in
/// turns of the poller that read nothing): counts the work and wakes the
/// poller if it sleeps. Cheap: two thread-local accesses.
#[inline]
pub(crate) fn activity() {
    INPUT.with(|c| c.set(c.get().wrapping_add(1)));
    if let Some(w) = PARKED.with(Cell::take) {
        w.wake();
    }
}

fn input_count() -> u64 {
    INPUT.with(Cell::get)
}

/// Before a connection writes pushes (pub/sub messages and other
/// out-of-band data): let the worker go on with the requests that are
/// arriving, for up to [`COALESCE_TURNS`] turns of its loop or
/// [`COALESCE_MAX`], while each turn brings new work. One PUBLISH wakes
/// the subscriber's task; the PUBLISHes right behind it then add to the
/// same write instead of each costing the subscriber a wake-up and a read.
/// (Redis writes once per event-loop iteration, after all ready input.)
pub(crate) async fn coalesce() {
    let start = Instant::now();
    let mut seen = input_count();
    for _ in 0..COALESCE_TURNS {
        tokio::task::yield_now().await;
        let now = input_count();
        if now == seen || start.elapsed() >= COALESCE_MAX {
            return;
        }
        seen = now;
    }
}

/// Most turns, and longest time, [`coalesce`] waits: under a stream of
/// work a message is delayed by at most 200 µs (Redis delays it by the
/// rest of its event-loop iteration, which under load is of that order);
/// when a turn brings nothing new it is written at once.
const COALESCE_TURNS: u32 = 16;
const COALESCE_MAX: Duration = Duration::from_micros(200);

/// Sleep until a connection on this worker reads something.
async fn wait_for_input() {
    let mut registered = false;
    poll_fn(|cx| {
        if registered {
            // `activity()` takes the waker it wakes: an empty slot means we
            // were woken by input.
            let w = PARKED.with(Cell::take);
            match w {
                None => return Poll::Ready(()),
                Some(w) => PARKED.with(|p| p.set(Some(w))),
            }
        }
        PARKED.with(|p| p.set(Some(cx.waker().clone())));
        registered = true;
        Poll::Pending
    })
    .await;
}

/// When to poll and when to go straight back to sleep (pure, tested below).
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    /// Misses in a row (capped at 6).
    misses: u32,
    /// Wake-ups left that skip polling.
    skip: u32,
}

impl Backoff {
    /// At a wake-up: poll this time?
    pub(crate) fn should_poll(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            false
        } else {
            true
        }
    }

    /// An episode of polling ended after `elapsed`, `idle` of which went
    /// to polls that found no input (the final quiet window included).
    pub(crate) fn episode(&mut self, elapsed: Duration, idle: Duration) {
        if idle.saturating_mul(2) <= elapsed {
            self.misses = 0;
            self.skip = 0;
        } else {
            self.misses = (self.misses + 1).min(6);
            self.skip = (1 << self.misses) - 1;
        }
    }
}

/// The poller: a local task on each worker. `window_us` is read at every
/// wake-up, so CONFIG SET takes effect at once.
pub(crate) async fn run(window_us: impl Fn() -> u64) {
    let mut backoff = Backoff::default();
    loop {
        wait_for_input().await;
        // The back-off first: under sparse traffic most wake-ups end here,
        // without reading the setting (a Redis node's check of a running
        // save takes a lock).
        if !backoff.should_poll() {
            continue;
        }
        let us = window_us().min(MAX_WINDOW_US);
        if us == 0 {
            continue;
        }
        let mut window = Duration::from_micros(us);
        let start = Instant::now();
        let mut quiet_since = start;
        let mut seen = input_count();
        let mut idle = Duration::ZERO;
        let mut last = start;
        let mut turns = 0u32;
        loop {
            // Lets the runtime poll its sockets without blocking and run
            // whatever became ready, then comes back here.
            tokio::task::yield_now().await;
            let t = Instant::now();
            let turn = t - last;
            last = t;
            turns = turns.wrapping_add(1);
            if turns.is_multiple_of(64) {
                // Under steady traffic an episode never ends: pick up a
                // changed window (or a save that started) on the way.
                window = Duration::from_micros(window_us().min(MAX_WINDOW_US));
                if window.is_zero() {
                    break;
                }
            }
            let now = input_count();
            if now != seen {
                // This turn served input.
                seen = now;
                quiet_since = t;
                continue;
            }
            idle += turn;
            if t - quiet_since >= window {
                break;
            }
        }
        if !window.is_zero() {
            backoff.episode(start.elapsed(), idle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_micros(50);

    #[test]
    fn busy_episodes_keep_polling() {
        let mut b = Backoff::default();
        for _ in 0..10 {
            assert!(b.should_poll());
            // 1 s of which 0.3 s polled for nothing.
            b.episode(Duration::from_secs(1), Duration::from_millis(300));
        }
    }

    #[test]
    fn sparse_traffic_backs_off_exponentially_and_recovers() {
        let mut b = Backoff::default();
        let mut polled = 0;
        let mut wakeups = 0;
        for _ in 0..1000 {
            wakeups += 1;
            if b.should_poll() {
                polled += 1;
                // Nothing came within the window.
                b.episode(W, W);
            }
        }
        // 1, then every 2, 4, ... 64th wake-up.
        assert!(polled < 1000 / 64 + 8, "polled {polled} of {wakeups}");
        // Mostly idle polls between inputs are a miss too.
        let mut c = Backoff::default();
        c.episode(Duration::from_micros(500), Duration::from_micros(300));
        assert!(!c.should_poll());
        // Load comes back: the first episode that polls resets the backoff.
        let mut skipped = 0;
        while !b.should_poll() {
            skipped += 1;
        }
        assert!(skipped <= 63);
        b.episode(Duration::from_millis(10), Duration::from_millis(4));
        assert!(b.should_poll());
    }

    #[test]
    fn coalesce_waits_while_work_keeps_arriving() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            // Five more requests, one per turn, behind the one that woke
            // the subscriber: its write waits for all of them.
            let producer = tokio::task::spawn_local(async {
                for _ in 0..5 {
                    activity();
                    tokio::task::yield_now().await;
                }
            });
            coalesce().await;
            assert!(producer.is_finished(), "wrote before the burst ended");
            // Nothing arriving: it returns after one turn.
            let t = Instant::now();
            coalesce().await;
            assert!(t.elapsed() < Duration::from_millis(100));
        });
    }

    #[test]
    fn parked_poller_is_woken_by_activity_only() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let h = tokio::task::spawn_local(wait_for_input());
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(!h.is_finished());
            activity();
            tokio::time::timeout(Duration::from_secs(5), h)
                .await
                .expect("woken by input")
                .expect("task");
        });
    }
}
