//! Open connections (`stats conns`) and memcached's `-v`/`-vv` log lines.
//!
//! memcached identifies a connection by its file descriptor, in `stats
//! conns` (`STAT <fd>:addr tcp:127.0.0.1:50012`) and in its verbose log
//! (`<17 new auto-negotiating client connection`), so the server crate
//! registers each connection with its real descriptor. A connection's entry
//! is shared with its worker, which updates the state and the time of the
//! last command with relaxed stores once per batch of requests (not per
//! request): `stats conns` has one-second resolution.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// memcached's connection states, as far as `stats conns` can observe them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Connected, nothing received yet.
    NewCmd = 0,
    /// Waiting for the next request.
    Read = 1,
    /// Waiting for the rest of a data block.
    Nread = 2,
    /// Executing requests.
    ParseCmd = 3,
}

impl State {
    fn name(v: u8) -> &'static str {
        match v {
            0 => "conn_new_cmd",
            1 => "conn_read",
            2 => "conn_nread",
            _ => "conn_parse_cmd",
        }
    }
}

/// One open client connection.
#[derive(Debug)]
pub struct ConnInfo {
    pub fd: i32,
    /// `tcp:<ip>:<port>` of the peer.
    pub addr: String,
    /// `tcp:<ip>:<port>` of the listening socket it came through.
    pub listen_addr: String,
    last_cmd_ms: AtomicU64,
    state: AtomicU8,
}

impl ConnInfo {
    /// Record the connection's state (and, for [`State::ParseCmd`], that a
    /// command arrived at `now_ms`).
    pub fn set_state(&self, s: State, now_ms: u64) {
        if s == State::ParseCmd {
            self.last_cmd_ms.store(now_ms, Ordering::Relaxed);
        }
        self.state.store(s as u8, Ordering::Relaxed);
    }
}

/// `tcp:<ip>:<port>` as memcached prints socket addresses (IPv6 in
/// brackets).
pub fn tcp_addr(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v) => format!("tcp:{}:{}", v.ip(), v.port()),
        std::net::SocketAddr::V6(v) => format!("tcp:[{}]:{}", v.ip(), v.port()),
    }
}

/// Listening sockets and open connections, by descriptor.
#[derive(Debug, Default)]
pub struct Registry {
    listeners: Mutex<Vec<(i32, String, u64)>>,
    conns: Mutex<BTreeMap<i32, Arc<ConnInfo>>>,
}

impl Registry {
    /// Record a listening socket (fd, `tcp:` address) bound at `now_ms`.
    pub fn add_listener(&self, fd: i32, addr: String, now_ms: u64) {
        self.listeners.lock().push((fd, addr, now_ms));
    }

    /// Register a new connection.
    pub fn open(&self, fd: i32, addr: String, listen_addr: String, now_ms: u64) -> Arc<ConnInfo> {
        let c = Arc::new(ConnInfo {
            fd,
            addr,
            listen_addr,
            last_cmd_ms: AtomicU64::new(now_ms),
            state: AtomicU8::new(State::NewCmd as u8),
        });
        self.conns.lock().insert(fd, c.clone());
        c
    }

    /// Forget a closed connection.
    pub fn close(&self, fd: i32) {
        self.conns.lock().remove(&fd);
    }

    /// The `stats conns` lines, in descriptor order as memcached walks its
    /// connection table.
    pub fn stats(&self, now_ms: u64) -> Vec<(String, String)> {
        let secs = |t: u64| (now_ms.saturating_sub(t) / 1000).to_string();
        let mut rows: BTreeMap<i32, Vec<(String, String)>> = BTreeMap::new();
        for (fd, addr, since) in self.listeners.lock().iter() {
            rows.insert(
                *fd,
                vec![
                    (format!("{fd}:addr"), addr.clone()),
                    (format!("{fd}:state"), "conn_listening".into()),
                    (format!("{fd}:secs_since_last_cmd"), secs(*since)),
                ],
            );
        }
        for (fd, c) in self.conns.lock().iter() {
            rows.insert(
                *fd,
                vec![
                    (format!("{fd}:addr"), c.addr.clone()),
                    (format!("{fd}:listen_addr"), c.listen_addr.clone()),
                    (
                        format!("{fd}:state"),
                        State::name(c.state.load(Ordering::Relaxed)).into(),
                    ),
                    (
                        format!("{fd}:secs_since_last_cmd"),
                        secs(c.last_cmd_ms.load(Ordering::Relaxed)),
                    ),
                ],
            );
        }
        rows.into_values().flatten().collect()
    }
}

/// Write one line to standard error, as memcached's `fprintf(stderr, ..)`
/// (one `write` per line, so lines of different workers do not mix).
pub fn log_line(line: &str) {
    let mut b = Vec::with_capacity(line.len() + 1);
    b.extend_from_slice(line.as_bytes());
    b.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&b);
}

/// memcached's `-vv` trace of a text request: `<fd line`, then for the
/// replies it produced (`out`) `>fd sending key K` per value and `>fd LINE`
/// for every other line (data blocks are skipped).
pub fn log_text(fd: i32, line: &[u8], out: &[u8]) {
    log_line(&format!("<{fd} {}", String::from_utf8_lossy(line)));
    // memcached sends stats through its own buffer, untraced.
    if line.starts_with(b"stats") {
        return;
    }
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(rest.len());
        let l = rest.get(..end).unwrap_or(rest);
        rest = rest.get(end + 2..).unwrap_or(&[]);
        let skip = if let Some(v) = l.strip_prefix(b"VALUE ") {
            let mut parts = v.split(|&b| b == b' ');
            let key = parts.next().unwrap_or(&[]);
            log_line(&format!(
                ">{fd} sending key {}",
                String::from_utf8_lossy(key)
            ));
            parts
                .nth(1)
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<usize>().ok())
                .map(|n| n + 2)
        } else if let Some(v) = l.strip_prefix(b"VA ") {
            log_line(&format!(">{fd} {}", String::from_utf8_lossy(l)));
            v.split(|&b| b == b' ')
                .next()
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<usize>().ok())
                .map(|n| n + 2)
        } else {
            log_line(&format!(">{fd} {}", String::from_utf8_lossy(l)));
            None
        };
        if let Some(n) = skip {
            rest = rest.get(n.min(rest.len())..).unwrap_or(&[]);
        }
    }
}

/// A binary header as memcached's `-vv` dumps it: a title line, then the
/// 24 header bytes four per line, each line prefixed with `prefix`.
fn log_header(prefix: &str, title: &str, indent: &str, header: &[u8]) {
    log_line(&format!("{prefix} {title}"));
    for chunk in header.chunks(4) {
        let hex: Vec<String> = chunk.iter().map(|b| format!("0x{b:02x}")).collect();
        log_line(&format!("{prefix}{indent}{}", hex.join(" ")));
    }
}

/// memcached's `-vv` trace of one binary request and the responses it
/// produced (`out`: whole frames): the header dump, the line memcached
/// prints for the operation (`<fd SET key Value len is 3`, `Deleting key`,
/// ...), and per response an error line when it is one, then the
/// response header dump. Stat responses are not traced, as memcached's.
pub fn log_binary(fd: i32, request: &[u8], out: &[u8]) {
    let hdr = |b: &[u8]| b.get(..24).map(<[u8]>::to_vec).unwrap_or_default();
    let be16 = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .map_or(0, |x| usize::from(u16::from_be_bytes([x[0], x[1]])))
    };
    let be32 = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
    };
    let be64 = |b: &[u8], at: usize| {
        b.get(at..at + 8).map_or(0, |x| {
            let mut a = [0u8; 8];
            a.copy_from_slice(x);
            u64::from_be_bytes(a)
        })
    };
    log_header(
        &format!("<{fd}"),
        "Read binary protocol data:",
        "    ",
        &hdr(request),
    );
    let opcode = request.get(1).copied().unwrap_or(0);
    let nkey = be16(request, 2);
    let next = usize::from(request.get(4).copied().unwrap_or(0));
    let body = be32(request, 8) as usize;
    let key = request
        .get(24 + next..24 + next + nkey)
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let vlen = body.saturating_sub(next + nkey);
    match opcode {
        0x01 | 0x11 => log_line(&format!("<{fd} SET {key} Value len is {vlen}")),
        0x02 | 0x12 => log_line(&format!("<{fd} ADD {key} Value len is {vlen}")),
        0x03 | 0x13 => log_line(&format!("<{fd} REPLACE {key} Value len is {vlen}")),
        0x00 | 0x09 | 0x0c | 0x0d => log_line(&format!("<{fd} GET {key}")),
        0x1c..=0x1e | 0x23 | 0x24 => log_line(&format!("<{fd} TOUCH {key}")),
        0x0e | 0x0f | 0x19 | 0x1a => log_line(&format!("Value len is {vlen}")),
        0x04 | 0x14 => log_line(&format!("Deleting {key}")),
        0x05 | 0x06 | 0x15 | 0x16 => log_line(&format!(
            "incr {key} {}, {}, {}",
            be64(request, 24) as i64,
            be64(request, 32),
            be32(request, 40) as i32
        )),
        0x10 => {
            log_line(&format!("<{fd} STATS {key}"));
            return;
        }
        _ => {}
    }
    let mut rest = out;
    while rest.len() >= 24 {
        let status = be16(rest, 6);
        let rkey = be16(rest, 2);
        let rext = usize::from(rest.get(4).copied().unwrap_or(0));
        let len = be32(rest, 8) as usize;
        if status != 0 && rkey == 0 {
            let msg = rest
                .get(24 + rext..24 + len)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            log_line(&format!(">{fd} Writing an error: {msg}"));
        }
        log_header(
            &format!(">{fd}"),
            "Writing bin response:",
            "   ",
            &hdr(rest),
        );
        rest = rest.get((24 + len).min(rest.len())..).unwrap_or(&[]);
    }
}

/// memcached's slab class table, printed at startup with `-vv`
/// (`slab class   1: chunk size        96 perslab   10922`).
pub fn log_slab_classes(item_size_max: usize, chunk_size: u32, factor: f64) {
    let chunk_max = (item_size_max / 2).max(1);
    let mut size = 48 + chunk_size as usize;
    let mut cls = 1;
    // slabs_init: stop once the next class would pass chunk_max / factor;
    // the last class is chunk_max itself.
    while cls < 63 && (size as f64) < chunk_max as f64 / factor {
        size = size.div_ceil(8) * 8;
        log_line(&format!(
            "slab class {cls:3}: chunk size {size:9} perslab {:7}",
            (1024 * 1024) / size
        ));
        size = (size as f64 * factor) as usize;
        cls += 1;
    }
    log_line(&format!(
        "slab class {cls:3}: chunk size {chunk_max:9} perslab {:7}",
        (1024 * 1024) / chunk_max
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_lists_by_fd() {
        let r = Registry::default();
        r.add_listener(5, "tcp:127.0.0.1:11211".into(), 0);
        let c = r.open(
            9,
            "tcp:127.0.0.1:4000".into(),
            "tcp:127.0.0.1:11211".into(),
            0,
        );
        r.open(
            7,
            "tcp:127.0.0.1:4001".into(),
            "tcp:127.0.0.1:11211".into(),
            0,
        );
        c.set_state(State::ParseCmd, 3000);
        let s = r.stats(5000);
        let keys: Vec<&str> = s.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "5:addr",
                "5:state",
                "5:secs_since_last_cmd",
                "7:addr",
                "7:listen_addr",
                "7:state",
                "7:secs_since_last_cmd",
                "9:addr",
                "9:listen_addr",
                "9:state",
                "9:secs_since_last_cmd"
            ]
        );
        assert_eq!(s[2].1, "5");
        assert_eq!(s[5].1, "conn_new_cmd");
        assert_eq!(s[9].1, "conn_parse_cmd");
        assert_eq!(s[10].1, "2");
        r.close(9);
        assert_eq!(r.stats(5000).len(), 7);
    }
}
