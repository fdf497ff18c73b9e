//! Subscriber load for `bench/redis-issue4.sh` (PUBLISH fan-out).
//!
//! `bench_subscriber <port> <channel> <connections>` opens `connections`
//! connections to 127.0.0.1:<port>, SUBSCRIBEs each to `channel`, prints
//! `ready` once every subscription is confirmed, then reads and discards
//! everything until a message whose payload is `STOP` arrives on every
//! connection. It then prints `<total bytes received> <seconds from the
//! first byte after ready to the last STOP>` and exits. std only (one
//! thread per connection), so it builds with the workspace as it is and
//! costs the load-generator core as little as possible: it does not parse
//! RESP, it only counts bytes (the benchmark publishes fixed-size payloads,
//! so messages = bytes / bytes-per-message).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: bench_subscriber <port> <channel> <connections>");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse().unwrap_or(6379);
    let channel = args[2].clone();
    let n: usize = args[3].parse().unwrap_or(1);
    let sub = format!(
        "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{}\r\n",
        channel.len(),
        channel
    );
    // The confirmation is `*3 $9 subscribe $len chan :1`.
    let confirm_len = format!(
        "*3\r\n$9\r\nsubscribe\r\n${}\r\n{}\r\n:1\r\n",
        channel.len(),
        channel
    )
    .len();
    let ready = Arc::new(Barrier::new(n + 1));
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("connect: {e}");
                std::process::exit(1);
            }
        };
        let sub = sub.clone();
        let ready = ready.clone();
        handles.push(thread::spawn(move || -> (u64, Option<Instant>, Instant) {
            let mut buf = vec![0u8; 256 * 1024];
            let _ = s.write_all(sub.as_bytes());
            let mut got = 0;
            while got < confirm_len {
                match s.read(&mut buf[..confirm_len - got]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got += k,
                }
            }
            ready.wait();
            let mut total = 0u64;
            let mut first = None;
            // Last bytes of the previous read, so "STOP\r\n" split across
            // two reads is still seen.
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let k = match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => k,
                };
                if first.is_none() {
                    first = Some(Instant::now());
                }
                total += k as u64;
                tail.extend_from_slice(&buf[..k.min(buf.len())]);
                if tail.windows(6).any(|w| w == b"STOP\r\n") {
                    break;
                }
                let keep = tail.len().saturating_sub(5);
                tail.drain(..keep);
            }
            (total, first, Instant::now())
        }));
    }
    ready.wait();
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut total = 0u64;
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    for h in handles {
        if let Ok((t, f, l)) = h.join() {
            total += t;
            first = match (first, f) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            last = Some(last.map_or(l, |x: Instant| x.max(l)));
        }
    }
    let secs = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    println!("{total} {secs:.6}");
}
