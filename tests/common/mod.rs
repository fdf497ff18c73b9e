//! Test harness: start the real `ferrocache` binary and, for differential
//! tests, a real `redis-server`, each on a free loopback port. Processes are
//! killed when the handle drops.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Node {
    pub port: u16,
    child: Child,
    _dir: Option<TempDir>,
}

impl Node {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connect")
    }

    /// A raw TCP connection for byte-level tests.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Is the process still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "ferrocache-test-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            if s.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf) {
                    if n > 0 {
                        return;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not become ready");
}

/// Start ferrocache with extra arguments (after `redis --port P --bind 127.0.0.1`).
pub fn start_ferrocache(extra: &[&str]) -> Node {
    let dir = TempDir::new("fc");
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
            .arg("redis")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.0.to_str().unwrap_or(".")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ferrocache");
        std::thread::sleep(Duration::from_millis(30));
        if let Ok(Some(_)) = child.try_wait() {
            continue; // port race; try another
        }
        wait_ready(port, &mut child);
        return Node {
            port,
            child,
            _dir: Some(dir),
        };
    }
    panic!("could not start ferrocache");
}

/// Is Debian's redis-server installed? (`.ci/run` installs it.)
pub fn have_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Start a real redis-server with extra `--name value` arguments.
/// Panics when it is not installed and `CI` is set; otherwise returns None.
pub fn start_redis_server(extra: &[&str]) -> Option<Node> {
    if !have_redis_server() {
        if std::env::var_os("CI").is_some() {
            panic!("redis-server is not installed (the CI script must install it)");
        }
        eprintln!("redis-server not installed: skipping the differential part");
        return None;
    }
    let dir = TempDir::new("redis");
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", dir.0.to_str().unwrap_or(".")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        std::thread::sleep(Duration::from_millis(30));
        if let Ok(Some(_)) = child.try_wait() {
            continue;
        }
        wait_ready(port, &mut child);
        return Some(Node {
            port,
            child,
            _dir: Some(dir),
        });
    }
    panic!("could not start redis-server");
}

/// Send raw bytes and read until `expect_len` bytes arrived or the peer closed.
pub fn raw_roundtrip(node: &Node, req: &[u8], settle: Duration) -> Vec<u8> {
    let mut s = node.raw();
    s.write_all(req).expect("write");
    std::thread::sleep(settle);
    s.set_read_timeout(Some(Duration::from_millis(300))).ok();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// Encode a command as a RESP multibulk.
pub fn encode_cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// A buffered reader of whole RESP replies (RESP2 and RESP3), returning each
/// reply's raw bytes.
pub struct RespReader {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RespReader {
    pub fn new(stream: TcpStream) -> Self {
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        RespReader {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, args: &[&[u8]]) {
        self.stream.write_all(&encode_cmd(args)).expect("write");
    }

    /// Read one complete reply; None if the peer closed.
    pub fn read_reply(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(n) = reply_len(&self.buf) {
                let r = self.buf[..n].to_vec();
                self.buf.drain(..n);
                return Some(r);
            }
            let mut tmp = [0u8; 65536];
            match self.stream.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) => panic!("read error: {e}"),
            }
        }
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_reply().expect("connection closed")
    }
}

/// Length of the first complete RESP value in `b`, if complete.
pub fn reply_len(b: &[u8]) -> Option<usize> {
    let nl = b.windows(2).position(|w| w == b"\r\n")?;
    let line = &b[1..nl];
    let after = nl + 2;
    let num = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    match *b.first()? {
        b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = num()?;
            if n < 0 {
                return Some(after);
            }
            let count = if matches!(b[0], b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut pos = after;
            for _ in 0..count {
                pos += reply_len(&b[pos..])?;
            }
            Some(pos)
        }
        _ => None,
    }
}

/// Differential pair: the same commands go to ferrocache and a real
/// redis-server; replies are compared byte for byte.
pub struct Pair {
    pub fc_node: Node,
    pub redis_node: Node,
    pub fc: RespReader,
    pub redis: RespReader,
}

impl Pair {
    /// Start both servers (None when redis-server is unavailable outside CI).
    pub fn start(fc_extra: &[&str]) -> Option<Pair> {
        let redis_node = start_redis_server(&[])?;
        let fc_node = start_ferrocache(fc_extra);
        let fc = RespReader::new(fc_node.raw());
        let redis = RespReader::new(redis_node.raw());
        Some(Pair {
            fc_node,
            redis_node,
            fc,
            redis,
        })
    }

    /// Send to both; return (ferrocache reply, redis reply).
    pub fn both(&mut self, args: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        (self.fc.call(args), self.redis.call(args))
    }

    /// Send to both and assert the replies are identical.
    pub fn check(&mut self, args: &[&[u8]]) {
        let (a, b) = self.both(args);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "reply mismatch for {:?}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        );
    }

    /// Convenience: whitespace-separated command.
    pub fn check_str(&mut self, cmd: &str) {
        let parts: Vec<&[u8]> = cmd.split_whitespace().map(|s| s.as_bytes()).collect();
        self.check(&parts);
    }
}
