//! Pub/sub load: one publisher, 1,000 subscribers, one of them stalled (it
//! never reads).
//!
//! Asserts that the 999 healthy subscribers receive every message in order,
//! that the stalled one is disconnected once its pending output passes
//! `client-output-buffer-limit pubsub` (it is gone from CLIENT LIST and the
//! subscriber counts), and that the server's memory stays bounded.
//!
//! Volume: every subscriber gets `MESSAGES` small messages on `ch` (well
//! under the limit even unread, so healthy subscribers can never be cut
//! off by a slow test thread). The stalled subscriber also subscribes to
//! `big`, which carries several megabytes: more than the kernel's socket
//! buffers plus the 1 MB limit, so its output buffer must overflow.
//!
//! File descriptors: the test process holds 1,001 sockets and the server as
//! many, which passes the common soft limit of 1024. When the soft limit is
//! lower than needed, the test raises it for itself with `prlimit` (up to
//! the hard limit, no privilege needed) before starting the server, which
//! inherits it; if the hard limit is too low it uses fewer subscribers and
//! says so.

mod common;

use common::{encode_cmd, reply_len, RespReader};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const SUBSCRIBERS: usize = 1000;
const MESSAGES: usize = 2000;
const BIG_MESSAGES: usize = 400;
const BIG_SIZE: usize = 32 * 1024;

fn nofile() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    for line in text.lines() {
        if line.starts_with("Max open files") {
            let nums: Vec<u64> = line
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            if nums.len() >= 2 {
                return (nums[0], nums[1]);
            }
            // "unlimited"
            return (u64::MAX, u64::MAX);
        }
    }
    (1024, 1024)
}

/// Make room for `need` descriptors; returns how many subscribers fit.
fn ensure_fds(need: u64) -> usize {
    let (soft, hard) = nofile();
    if soft < need {
        let target = need.min(hard);
        let _ = Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={target}:{hard}"))
            .status();
    }
    let (soft, _) = nofile();
    if soft >= need {
        SUBSCRIBERS
    } else {
        let n = soft.saturating_sub(100) as usize;
        eprintln!(
            "pubsub_load: open-files limit {soft}: using {n} subscribers instead of {SUBSCRIBERS}"
        );
        n.min(SUBSCRIBERS)
    }
}

fn info_field(r: &mut RespReader, section: &str, field: &str) -> i64 {
    let raw = r.call(&[b"INFO", section.as_bytes()]);
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// A healthy subscriber's state while reading.
struct Sub {
    s: TcpStream,
    buf: Vec<u8>,
    next: usize,
    error: Option<String>,
}

impl Sub {
    /// Read what is available; parse messages and check their order.
    fn pump(&mut self) {
        let mut tmp = [0u8; 65536];
        loop {
            match self.s.read(&mut tmp) {
                Ok(0) => {
                    self.error.get_or_insert("closed by the server".into());
                    return;
                }
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.error.get_or_insert(format!("read error {e}"));
                    return;
                }
            }
        }
        let mut pos = 0;
        while let Some(n) = reply_len(&self.buf[pos..]) {
            let msg = &self.buf[pos..pos + n];
            pos += n;
            // *3 $7 message $2 ch $len payload: the payload starts with
            // the 8-digit sequence number.
            let text = String::from_utf8_lossy(msg);
            let payload = text.split("\r\n").nth(6).unwrap_or("");
            let seq: Option<usize> = payload.get(..8).and_then(|d| d.parse().ok());
            if seq != Some(self.next) && self.error.is_none() {
                self.error = Some(format!("expected message {} got {:?}", self.next, seq));
            }
            self.next += 1;
        }
        self.buf.drain(..pos);
    }
}

#[test]
fn thousand_subscribers_one_stalled() {
    let subs_n = ensure_fds(2 * SUBSCRIBERS as u64 + 200);
    let node = common::start_ferrocache(&["--threads", "2"]);
    let mut admin = RespReader::new(node.raw());
    assert_eq!(
        admin.call(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"pubsub 1mb 0 0"
        ]),
        b"+OK\r\n"
    );
    let started = Instant::now();

    // The stalled subscriber: subscribes, then never reads again.
    let mut stalled = node.raw();
    stalled
        .write_all(&encode_cmd(&[b"SUBSCRIBE", b"ch", b"big"]))
        .expect("subscribe");
    let mut confirm = RespReader::new(stalled.try_clone().expect("clone"));
    confirm.read_reply().expect("confirm 1");
    confirm.read_reply().expect("confirm 2");

    // Healthy subscribers.
    let mut subs: Vec<Sub> = Vec::with_capacity(subs_n);
    for _ in 0..subs_n.saturating_sub(1) {
        let s = TcpStream::connect(node.addr()).expect("connect subscriber");
        let mut r = RespReader::new(s.try_clone().expect("clone"));
        r.call(&[b"SUBSCRIBE", b"ch"]);
        s.set_nonblocking(true).expect("nonblocking");
        subs.push(Sub {
            s,
            buf: Vec::new(),
            next: 0,
            error: None,
        });
    }
    let healthy = subs.len();
    let numsub = admin.call(&[b"PUBSUB", b"NUMSUB", b"ch"]);
    assert!(
        String::from_utf8_lossy(&numsub).contains(&format!(":{}\r\n", healthy + 1)),
        "NUMSUB after subscribing: {}",
        String::from_utf8_lossy(&numsub)
    );

    // Readers: a few threads, each polling its share of the sockets.
    let threads = 4;
    let per = healthy.div_ceil(threads).max(1);
    let mut groups: Vec<Vec<Sub>> = Vec::new();
    while !subs.is_empty() {
        let rest = subs.split_off(per.min(subs.len()));
        groups.push(std::mem::replace(&mut subs, rest));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let readers: Vec<_> = groups
        .into_iter()
        .map(|mut g| {
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    let mut busy = false;
                    for s in g.iter_mut() {
                        if s.next < MESSAGES && s.error.is_none() {
                            busy = true;
                            s.pump();
                        }
                    }
                    if !busy {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                // Keep the sockets open (returned): dropping them would
                // unsubscribe the healthy clients before the checks below.
                g
            })
        })
        .collect();

    // Publisher: pipelined batches; `big` interleaved with `ch`.
    let mut publisher = RespReader::new(node.raw());
    let big = vec![b'B'; BIG_SIZE];
    let mut peak_mem = 0i64;
    let mut big_sent = 0;
    let batch = 50;
    let mut seq = 0;
    while seq < MESSAGES {
        let mut req = Vec::new();
        let mut n = 0;
        for _ in 0..batch {
            if seq >= MESSAGES {
                break;
            }
            let payload = format!("{seq:08}-{}", "x".repeat(64));
            req.extend(encode_cmd(&[b"PUBLISH", b"ch", payload.as_bytes()]));
            n += 1;
            seq += 1;
            if big_sent < BIG_MESSAGES && seq % (MESSAGES / BIG_MESSAGES).max(1) == 0 {
                req.extend(encode_cmd(&[b"PUBLISH", b"big", &big]));
                n += 1;
                big_sent += 1;
            }
        }
        publisher.stream.write_all(&req).expect("publish");
        for _ in 0..n {
            let r = publisher.read_reply().expect("publish reply");
            assert_eq!(r[0], b':', "PUBLISH reply {}", String::from_utf8_lossy(&r));
        }
        if seq % 500 == 0 {
            peak_mem = peak_mem.max(info_field(&mut admin, "memory", "used_memory"));
        }
    }
    let publish_time = started.elapsed();

    let mut lost = 0usize;
    let mut errors = Vec::new();
    let mut kept: Vec<Sub> = Vec::new();
    for h in readers {
        for s in h.join().expect("reader thread") {
            if s.next < MESSAGES {
                lost += MESSAGES - s.next;
            }
            if let Some(e) = &s.error {
                errors.push(e.clone());
            }
            kept.push(s);
        }
    }
    errors.truncate(5);
    assert!(
        errors.is_empty() && lost == 0,
        "healthy subscribers: {lost} message(s) missing, errors: {errors:?}"
    );

    // The stalled subscriber was disconnected: gone from the counts and
    // from CLIENT LIST (one publisher, one admin, the healthy ones).
    let numsub = admin.call(&[b"PUBSUB", b"NUMSUB", b"ch", b"big"]);
    let text = String::from_utf8_lossy(&numsub).into_owned();
    assert!(
        text.contains(&format!("$2\r\nch\r\n:{healthy}\r\n"))
            && text.contains("$3\r\nbig\r\n:0\r\n"),
        "stalled subscriber still subscribed: {text}"
    );
    let list = admin.call(&[b"CLIENT", b"LIST"]);
    let list = String::from_utf8_lossy(&list).into_owned();
    let clients = list.lines().filter(|l| l.contains("id=")).count();
    assert_eq!(clients, healthy + 2, "CLIENT LIST has {clients} clients");
    assert!(
        !list.lines().any(|l| l.contains(" sub=2 ")),
        "the stalled client (2 channels) is still listed"
    );
    assert_eq!(
        info_field(&mut admin, "clients", "connected_clients"),
        (healthy + 2) as i64
    );
    // Its socket is closed: after draining what the kernel held, EOF.
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut sink = [0u8; 1 << 16];
    let mut eof = false;
    while let Ok(n) = stalled.read(&mut sink) {
        if n == 0 {
            eof = true;
            break;
        }
    }
    assert!(eof, "the stalled subscriber's connection was not closed");

    // Memory stayed bounded: the stalled client's backlog was capped at the
    // limit instead of growing with the volume published to it.
    let published_to_stalled = (BIG_MESSAGES * BIG_SIZE) as i64;
    peak_mem = peak_mem.max(info_field(&mut admin, "memory", "used_memory"));
    assert!(
        peak_mem > 0 && peak_mem < 256 * 1024 * 1024,
        "used_memory peaked at {peak_mem} bytes"
    );
    eprintln!(
        "pubsub_load: {healthy} healthy subscribers x {MESSAGES} messages, {} MB to the stalled one, published in {:.1}s, peak used_memory {} MB",
        published_to_stalled >> 20,
        publish_time.as_secs_f64(),
        peak_mem >> 20
    );
    drop(kept);
}
