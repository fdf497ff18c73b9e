//! Busy polling (`crates/server/src/busy_poll.rs`): a worker under steady
//! traffic keeps polling instead of sleeping in `epoll_wait`, an idle one
//! sleeps, and `busy-poll-us` is a working (hidden) parameter.
//!
//! Whether the worker slept is read from the kernel: the worker thread's
//! `voluntary_ctxt_switches` in `/proc/<pid>/task/<tid>/status` counts its
//! sleeps; its CPU time is `utime + stime` of the thread's `stat`.

mod common;

use common::{start_ferrocache, Node, RespReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `/proc` directory of the node's (only) worker thread.
fn worker_task(node: &Node) -> PathBuf {
    let dir = PathBuf::from(format!("/proc/{}/task", node.pid()));
    for e in std::fs::read_dir(&dir).expect("task dir").flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() == "worker-0" {
            return e.path();
        }
    }
    panic!("no worker-0 thread in {}", dir.display());
}

fn voluntary_switches(task: &Path) -> u64 {
    let status = std::fs::read_to_string(task.join("status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches")
}

/// utime + stime of the thread, in clock ticks (1/100 s).
fn cpu_ticks(task: &Path) -> u64 {
    let stat = std::fs::read_to_string(task.join("stat")).expect("stat");
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).expect("stat format");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f[11].parse().expect("utime");
    let stime: u64 = f[12].parse().expect("stime");
    utime + stime
}

/// `clients` connections, each doing `per` sequential GETs (pipeline 1).
fn load(node: &Node, clients: usize, per: usize) {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let mut r = RespReader::new(node.raw());
            std::thread::spawn(move || {
                for _ in 0..per {
                    assert_eq!(r.call(&[b"GET", b"k"]), b"$1\r\nv\r\n".to_vec());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
}

#[test]
fn busy_worker_polls_and_idle_worker_sleeps() {
    // The longest window (10 ms): an episode of polling then lasts as long
    // as the client keeps sending, however long it waits for a core on a
    // loaded CI machine. (Whether a shorter window pays, given how busy
    // the worker is, is the back-off's call: unit tests in busy_poll.rs.)
    let node = start_ferrocache(&["--threads", "1", "--busy-poll-us", "10000"]);
    let mut c = RespReader::new(node.raw());
    assert_eq!(c.call(&[b"SET", b"k", b"v"]), b"+OK\r\n".to_vec());
    let task = worker_task(&node);
    // Warm-up: the first episodes may find the poller backed off.
    load(&node, 1, 500);

    let (clients, per) = (1, 5000);
    let before = voluntary_switches(&task);
    load(&node, clients, per);
    let polled = voluntary_switches(&task) - before;
    let requests = (clients * per) as u64;

    // The same traffic without polling: the worker sleeps while the client
    // reads each reply and sends the next request.
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"busy-poll-us", b"0"]),
        b"+OK\r\n".to_vec()
    );
    let before = voluntary_switches(&task);
    load(&node, clients, per);
    let unpolled = voluntary_switches(&task) - before;
    eprintln!(
        "sleeps of the worker for {requests} requests: polling {polled}, not polling {unpolled}"
    );
    // The measurement sees the sleeps it is meant to count...
    assert!(
        unpolled * 10 > requests,
        "a worker that does not poll slept only {unpolled} times"
    );
    // ...and a polling worker does not sleep between requests.
    assert!(
        polled * 20 < requests,
        "a polling worker slept {polled} times in {requests} requests"
    );

    // Idle: the poller goes back to sleep one window after the last input.
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"busy-poll-us", b"10000"]),
        b"+OK\r\n".to_vec()
    );
    load(&node, 4, 500);
    std::thread::sleep(Duration::from_millis(200));
    let t0 = cpu_ticks(&task);
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_ticks(&task) - t0;
    assert!(idle <= 5, "an idle worker used {idle} ticks in one second");
}

#[test]
fn busy_poll_us_is_a_hidden_parameter() {
    let node = start_ferrocache(&[]);
    let mut c = RespReader::new(node.raw());
    let get = |c: &mut RespReader| c.call(&[b"CONFIG", b"GET", b"busy-poll-us"]);
    assert_eq!(
        get(&mut c),
        b"*2\r\n$12\r\nbusy-poll-us\r\n$2\r\n50\r\n".to_vec()
    );
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"busy-poll-us", b"0"]),
        b"+OK\r\n".to_vec()
    );
    assert_eq!(
        get(&mut c),
        b"*2\r\n$12\r\nbusy-poll-us\r\n$1\r\n0\r\n".to_vec()
    );
    let err = c.call(&[b"CONFIG", b"SET", b"busy-poll-us", b"10001"]);
    assert!(
        err.starts_with(b"-ERR CONFIG SET failed (possibly related to argument 'busy-poll-us')"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    // Not part of redis-server's `CONFIG GET *` list.
    let all = c.call(&[b"CONFIG", b"GET", b"*"]);
    assert!(!all.windows(12).any(|w| w == b"busy-poll-us"));
    // Still answers after the changes.
    assert_eq!(c.call(&[b"PING"]), b"+PONG\r\n".to_vec());
}
