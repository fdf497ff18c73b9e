//! Test harness for the memcached engine: start `ferrocache memcached` and,
//! for differential tests, Debian's `memcached` 1.6, each on a free loopback
//! port; send the same requests to both and compare the replies byte for
//! byte (CAS uniques and TTL/idle seconds, which must differ, are compared
//! for shape only). Processes are killed when the handles drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct McNode {
    pub port: u16,
    child: Child,
}

impl McNode {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn connect(&self) -> McConn {
        McConn::new(TcpStream::connect(self.addr()).expect("connect"))
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for McNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wait_ready(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            if s.write_all(b"version\r\n").is_ok() {
                let mut buf = [0u8; 64];
                if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn spawn(mut cmd: Command) -> McNode {
    for _ in 0..5 {
        let port = free_port();
        let mut c = Command::new(cmd.get_program());
        c.args(cmd.get_args());
        c.args(["-p", &port.to_string(), "-l", "127.0.0.1"]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(30));
        if wait_ready(port, &mut child) {
            return McNode { port, child };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = &mut cmd;
    panic!("could not start {:?}", cmd.get_program());
}

/// Start `ferrocache memcached` with extra memcached-style arguments.
pub fn start_ferrocache(extra: &[&str]) -> McNode {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
    c.arg("memcached").args(["-t", "2"]).args(extra);
    spawn(c)
}

pub fn have_memcached() -> bool {
    Command::new("memcached")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Start Debian's memcached (None when not installed outside CI).
pub fn start_memcached(extra: &[&str]) -> Option<McNode> {
    if !have_memcached() {
        if std::env::var_os("CI").is_some() {
            panic!("memcached is not installed (scripts/test must install it)");
        }
        eprintln!("memcached not installed: skipping the differential part");
        return None;
    }
    let mut c = Command::new("memcached");
    if is_root() {
        c.args(["-u", "root"]);
    }
    c.args(["-U", "0", "-t", "2"]).args(extra);
    Some(spawn(c))
}

/// A client connection speaking raw bytes.
pub struct McConn {
    pub s: TcpStream,
    buf: Vec<u8>,
}

impl McConn {
    pub fn new(s: TcpStream) -> McConn {
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s.set_nodelay(true).ok();
        McConn { s, buf: Vec::new() }
    }

    pub fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("write");
    }

    fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 65536];
        match self.s.read(&mut tmp) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    /// Text: send `req` followed by `mn`, return everything before `MN`.
    /// Returns what arrived plus `<CLOSED>` if the server hung up.
    pub fn text(&mut self, req: &[u8]) -> Vec<u8> {
        let mut r = req.to_vec();
        r.extend_from_slice(b"mn\r\n");
        self.send(&r);
        loop {
            if self.buf.ends_with(b"MN\r\n") {
                let n = self.buf.len() - 4;
                let out = self.buf[..n].to_vec();
                self.buf.clear();
                return out;
            }
            if !self.fill() {
                let mut out = std::mem::take(&mut self.buf);
                out.extend_from_slice(b"<CLOSED>");
                return out;
            }
        }
    }

    /// Binary: send `req` followed by a NOOP, return the response frames
    /// before the NOOP's.
    pub fn binary(&mut self, req: &[u8]) -> Vec<Vec<u8>> {
        let mut r = req.to_vec();
        r.extend_from_slice(&[0x80, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xed, 0, 0]);
        r.extend_from_slice(&[0u8; 8]);
        self.send(&r);
        let mut frames = Vec::new();
        loop {
            while self.buf.len() >= 24 {
                let body =
                    u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
                        as usize;
                if self.buf.len() < 24 + body {
                    break;
                }
                let f: Vec<u8> = self.buf.drain(..24 + body).collect();
                if f[1] == 0x0a && f[12..14] == [0xfe, 0xed] {
                    return frames;
                }
                frames.push(f);
            }
            if !self.fill() {
                frames.push(b"<CLOSED>".to_vec());
                return frames;
            }
        }
    }
}

/// Replace what legitimately differs between two servers: CAS uniques
/// (text `gets`, meta `c`), meta TTL `t` and idle `l` seconds.
pub fn normalize_text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b).into_owned();
    let mut out = String::new();
    for line in s.split_inclusive("\r\n") {
        let l = if line.starts_with("VALUE ") {
            let parts: Vec<&str> = line.trim_end().split(' ').collect();
            if parts.len() == 5 {
                format!(
                    "{} {} {} {} CAS\r\n",
                    parts[0], parts[1], parts[2], parts[3]
                )
            } else {
                line.to_string()
            }
        } else if ["VA", "HD", "EN", "NF", "NS", "EX"]
            .iter()
            .any(|p| line.starts_with(p))
        {
            line.trim_end()
                .split(' ')
                .map(|t| {
                    if t.len() > 1
                        && (t.starts_with('c') || t.starts_with('l') || t.starts_with('t'))
                        && t[1..].chars().all(|c| c.is_ascii_digit() || c == '-')
                    {
                        format!("{}N", &t[..1])
                    } else {
                        t.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
                + "\r\n"
        } else if line.starts_with("ME ") {
            "ME\r\n".to_string()
        } else {
            line.to_string()
        };
        out.push_str(&l);
    }
    out
}

/// Binary frame with the CAS field zeroed (compared for shape: zero or not).
pub fn normalize_frame(f: &[u8]) -> Vec<u8> {
    let mut f = f.to_vec();
    if f.len() >= 24 {
        let nonzero = f[16..24].iter().any(|&b| b != 0);
        for b in &mut f[16..24] {
            *b = 0;
        }
        f[23] = u8::from(nonzero);
    }
    f
}

/// Differential pair.
pub struct Pair {
    pub fc_node: McNode,
    pub mc_node: McNode,
    pub fc: McConn,
    pub mc: McConn,
}

impl Pair {
    pub fn start(fc_extra: &[&str], mc_extra: &[&str]) -> Option<Pair> {
        let mc_node = start_memcached(mc_extra)?;
        let fc_node = start_ferrocache(fc_extra);
        let fc = fc_node.connect();
        let mc = mc_node.connect();
        Some(Pair {
            fc_node,
            mc_node,
            fc,
            mc,
        })
    }

    /// Fresh connections to both.
    pub fn reconnect(&mut self) {
        self.fc = self.fc_node.connect();
        self.mc = self.mc_node.connect();
    }

    /// Send a text request to both; assert normalized replies are equal.
    pub fn check(&mut self, req: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let a = self.fc.text(req);
        let b = self.mc.text(req);
        assert_eq!(
            normalize_text(&a),
            normalize_text(&b),
            "reply mismatch for {:?}\nferrocache: {:?}\nmemcached:  {:?}",
            String::from_utf8_lossy(req),
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
        (a, b)
    }

    pub fn check_str(&mut self, req: &str) {
        let mut r = req.replace("\\r\\n", "\r\n").into_bytes();
        if !r.ends_with(b"\n") {
            r.extend_from_slice(b"\r\n");
        }
        self.check(&r);
    }

    /// Binary request to both; frames compared with CAS normalized.
    pub fn check_bin(&mut self, req: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let a = self.fc.binary(req);
        let b = self.mc.binary(req);
        let na: Vec<Vec<u8>> = a.iter().map(|f| normalize_frame(f)).collect();
        let nb: Vec<Vec<u8>> = b.iter().map(|f| normalize_frame(f)).collect();
        assert_eq!(
            na, nb,
            "binary mismatch for {req:02x?}\nferrocache: {a:02x?}\nmemcached:  {b:02x?}"
        );
        (a, b)
    }
}

/// Encode a binary request.
pub fn bin_req(
    opcode: u8,
    opaque: u32,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    ferrocache_protocol_shim::write_request(&mut v, opcode, opaque, cas, extras, key, value);
    v
}

/// A local copy of the request encoder (the root package does not depend
/// on the protocol crate).
mod ferrocache_protocol_shim {
    pub fn write_request(
        out: &mut Vec<u8>,
        opcode: u8,
        opaque: u32,
        cas: u64,
        extras: &[u8],
        key: &[u8],
        value: &[u8],
    ) {
        let body = extras.len() + key.len() + value.len();
        out.push(0x80);
        out.push(opcode);
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.push(extras.len() as u8);
        out.push(0);
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&(body as u32).to_be_bytes());
        out.extend_from_slice(&opaque.to_be_bytes());
        out.extend_from_slice(&cas.to_be_bytes());
        out.extend_from_slice(extras);
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    }
}
