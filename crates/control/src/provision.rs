//! Provisioners start and stop cache nodes. The controller only talks to
//! the [`Provisioner`] trait, so a Kubernetes provisioner can replace the
//! local one; [`LocalProvisioner`] runs every node as a child process of
//! the same binary on a loopback port, with its own directory and log.

use anyhow::{anyhow, bail, Context, Result};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a node is started with.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub engine: String,
    pub port: u16,
    /// The node's own directory; unique per node incarnation, it also
    /// identifies the process (see [`Provisioner::find`]).
    pub dir: PathBuf,
    /// maxmemory (redis) / -m (memcached), from the node type.
    pub cache_bytes: u64,
    /// Engine options from the parameter group (`--name value` for redis,
    /// flags for memcached).
    pub args: Vec<String>,
}

pub trait Provisioner: Send + Sync {
    /// Starts a node; returns its process id.
    fn create(&self, spec: &NodeSpec) -> Result<u32>;
    /// Stops a node (if running) and removes its directory.
    fn destroy(&self, pid: Option<u32>, dir: &Path) -> Result<()>;
    /// Stops the node's process (if running) and starts it again with the
    /// same directory, keeping its data files.
    fn restart(&self, pid: Option<u32>, spec: &NodeSpec) -> Result<u32> {
        if let Some(pid) = pid {
            self.kill(pid, &spec.dir);
        }
        self.create(spec)
    }
    /// Is process `pid` running and is it the node of `dir`?
    fn alive(&self, pid: u32, dir: &Path) -> bool;
    /// Finds a running process of the node of `dir` (re-adoption after a
    /// control-plane restart, including one between spawn and commit).
    fn find(&self, dir: &Path) -> Option<u32>;
    /// Kills the node's process, if it is that node's.
    fn kill(&self, pid: u32, dir: &Path);
    /// Where clients reach a node listening on `port`.
    fn address(&self, port: u16) -> SocketAddr;
    /// Sends one admin command and returns the raw reply.
    fn admin(&self, engine: &str, port: u16, cmd: &[&str]) -> Result<Vec<u8>>;
}

pub struct LocalProvisioner {
    exe: PathBuf,
    children: Mutex<HashMap<u32, Child>>,
}

impl LocalProvisioner {
    pub fn new(exe: PathBuf) -> LocalProvisioner {
        LocalProvisioner {
            exe,
            children: Mutex::new(HashMap::new()),
        }
    }

    /// Reaps exited children (they would linger as zombies and look alive).
    fn reap(&self) {
        self.children
            .lock()
            .retain(|_, c| matches!(c.try_wait(), Ok(None)));
    }
}

/// The command line of `pid` (NUL-separated args), if it runs.
fn cmdline(pid: u32) -> Option<Vec<u8>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ...`: the state follows the last ')'.
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    std::fs::read(format!("/proc/{pid}/cmdline")).ok()
}

/// Does a command line mention the node directory (its identity token)?
fn mentions(cmd: &[u8], dir: &Path) -> bool {
    let d = dir.as_os_str().as_encoded_bytes();
    !d.is_empty() && cmd.windows(d.len()).any(|w| w == d)
}

impl Provisioner for LocalProvisioner {
    fn create(&self, spec: &NodeSpec) -> Result<u32> {
        std::fs::create_dir_all(&spec.dir)
            .with_context(|| format!("cannot create {}", spec.dir.display()))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.dir.join("node.log"))?;
        let mut cmd = Command::new(&self.exe);
        let dir = spec.dir.to_string_lossy().to_string();
        match spec.engine.as_str() {
            "redis" => {
                cmd.arg("redis")
                    .args(["--port", &spec.port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--dir", &dir, "--save", "", "--threads", "1"])
                    .args(["--maxmemory", &spec.cache_bytes.to_string()])
                    .args(["--protected-mode", "no"]);
            }
            "memcached" => {
                let mb = (spec.cache_bytes / (1024 * 1024)).max(1);
                cmd.arg("memcached")
                    .args(["-p", &spec.port.to_string(), "-l", "127.0.0.1"])
                    .args(["-m", &mb.to_string(), "-t", "1", "-U", "0"])
                    // Carries the node directory (the identity token).
                    .args(["-P", &format!("{dir}/node.pid")]);
            }
            e => bail!("unknown engine {e}"),
        }
        cmd.args(&spec.args);
        // A process group of its own: signals aimed at the control plane's
        // terminal must not take the nodes down with it.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().context("cannot start the node process")?;
        let pid = child.id();
        self.children.lock().insert(pid, child);
        std::fs::write(spec.dir.join("pid"), format!("{pid}\n")).ok();
        Ok(pid)
    }

    fn destroy(&self, pid: Option<u32>, dir: &Path) -> Result<()> {
        if let Some(pid) = pid {
            self.kill(pid, dir);
        }
        if let Some(other) = self.find(dir) {
            self.kill(other, dir);
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).ok();
        }
        Ok(())
    }

    fn alive(&self, pid: u32, dir: &Path) -> bool {
        self.reap();
        cmdline(pid).is_some_and(|c| mentions(&c, dir))
    }

    fn find(&self, dir: &Path) -> Option<u32> {
        self.reap();
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            if let Some(c) = cmdline(pid) {
                if mentions(&c, dir) {
                    return Some(pid);
                }
            }
        }
        None
    }

    fn kill(&self, pid: u32, dir: &Path) {
        if !self.alive(pid, dir) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut c) = self.children.lock().remove(&pid) {
            let _ = c.wait();
        } else {
            let t = Instant::now();
            while cmdline(pid).is_some() && t.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn address(&self, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn admin(&self, engine: &str, port: u16, cmd: &[&str]) -> Result<Vec<u8>> {
        let addr = self.address(port);
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.set_nodelay(true).ok();
        if engine == "redis" {
            let mut req = format!("*{}\r\n", cmd.len()).into_bytes();
            for a in cmd {
                req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
            s.write_all(&req)?;
            read_until(&mut s, |b| resp_complete(b).is_some())
        } else {
            let line = cmd.join(" ");
            s.write_all(line.as_bytes())?;
            s.write_all(b"\r\n")?;
            read_until(&mut s, mc_complete)
        }
    }
}

fn read_until(s: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(anyhow!("connection closed"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        if done(&buf) {
            return Ok(buf);
        }
    }
}

/// Memcached replies end in one of these lines.
fn mc_complete(b: &[u8]) -> bool {
    if !b.ends_with(b"\r\n") {
        return false;
    }
    if b.starts_with(b"CONFIG ") || b.starts_with(b"STAT ") || b.starts_with(b"VALUE ") {
        return b.ends_with(b"END\r\n");
    }
    true
}

/// The length of the first complete RESP value in `b`, if complete.
pub fn resp_complete(b: &[u8]) -> Option<usize> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(b.get(1..line_end)?).ok()?;
    let after = line_end + 2;
    match b.first()? {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' => Some(after),
        b'$' | b'=' | b'!' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'%' | b'>' => {
            let n: i64 = head.parse().ok()?;
            let items = if b[0] == b'%' { n * 2 } else { n };
            let mut pos = after;
            for _ in 0..items.max(0) {
                pos += resp_complete(b.get(pos..)?)?;
            }
            Some(pos)
        }
        _ => None,
    }
}

/// The payload of a RESP bulk or simple string reply.
pub fn resp_text(b: &[u8]) -> Option<String> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    match b.first()? {
        b'+' | b':' => Some(String::from_utf8_lossy(b.get(1..line_end)?).into_owned()),
        b'$' => {
            let n: usize = std::str::from_utf8(b.get(1..line_end)?)
                .ok()?
                .parse()
                .ok()?;
            Some(String::from_utf8_lossy(b.get(line_end + 2..line_end + 2 + n)?).into_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_framing() {
        assert_eq!(resp_complete(b"+OK\r\n"), Some(5));
        assert_eq!(resp_complete(b"$3\r\nabc\r"), None);
        assert_eq!(resp_complete(b"*2\r\n$1\r\na\r\n:1\r\nX"), Some(15));
        assert_eq!(resp_text(b"$3\r\nabc\r\n").as_deref(), Some("abc"));
        assert!(mc_complete(b"CONFIG cluster 0 3\r\n1\n\n\r\nEND\r\n"));
        assert!(!mc_complete(b"CONFIG cluster 0 3\r\n"));
    }
}
