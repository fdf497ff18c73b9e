//! `stats conns`, `stats sizes` (and `sizes_enable` / `sizes_disable`),
//! `verbosity` and the `-vv` trace, `-d` / `-P`: differential against
//! Debian's memcached 1.6 where the output is comparable (descriptor
//! numbers, ports and seconds are compared for shape), plus ferrocache
//! checks of the daemon mode.

mod mc_common;

use mc_common::{free_port, have_memcached, McConn, Pair};
use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `stats conns` with descriptor numbers, ports and seconds replaced, one
/// string per descriptor, sorted (descriptor numbers, and so the order,
/// depend on which descriptors each process happens to have free).
fn conns_shape(b: &[u8]) -> Vec<String> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for l in String::from_utf8_lossy(b).lines() {
        let fd = l
            .strip_prefix("STAT ")
            .and_then(|r| r.split_once(':'))
            .map_or(String::new(), |(fd, _)| fd.to_string());
        let line = line_shape(l);
        match groups.last_mut() {
            Some((g, text)) if *g == fd => {
                text.push('\n');
                text.push_str(&line);
            }
            _ => groups.push((fd, line)),
        }
    }
    let mut v: Vec<String> = groups.into_iter().map(|(_, t)| t).collect();
    v.sort();
    v
}

fn line_shape(l: &str) -> String {
    std::iter::once(l)
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            match parts.as_slice() {
                ["STAT", key, val] => {
                    let field = key.split_once(':').map_or(*key, |(_, f)| f);
                    let val = if field == "secs_since_last_cmd" {
                        "N".to_string()
                    } else if let Some(a) = val.strip_prefix("tcp:127.0.0.1:") {
                        assert!(a.parse::<u16>().is_ok(), "{l}");
                        "tcp:127.0.0.1:P".to_string()
                    } else {
                        val.to_string()
                    };
                    format!("STAT fd:{field} {val}")
                }
                _ => l.to_string(),
            }
        })
        .collect()
}

#[test]
fn stats_conns_matches_memcached() {
    let Some(mut p) = Pair::start(&[], &[]) else {
        return;
    };
    let mut keep = Vec::new();
    for node in [&p.fc_node, &p.mc_node] {
        // A connection that never sent anything, one idle after a request,
        // one in the middle of a data block, one binary.
        let idle_new = TcpStream::connect(node.addr()).expect("connect");
        let mut idle = node.connect();
        assert!(!idle.text(b"version\r\n").is_empty());
        let mut nread = node.connect();
        nread.send(b"set k 0 0 10\r\nabc");
        let mut bin = node.connect();
        bin.binary(&mc_common::bin_req(0x0b, 0, 0, &[], b"", b""));
        keep.push((idle_new, idle, nread, bin));
    }
    std::thread::sleep(Duration::from_millis(200));
    let a = p.fc.text(b"stats conns\r\n");
    let b = p.mc.text(b"stats conns\r\n");
    assert_eq!(
        conns_shape(&a),
        conns_shape(&b),
        "\nferrocache: {}\nmemcached: {}",
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b)
    );
    // Extra arguments are ignored, as memcached does.
    let a = p.fc.text(b"stats conns extra\r\n");
    let b = p.mc.text(b"stats conns extra\r\n");
    assert_eq!(conns_shape(&a), conns_shape(&b));
    // Closed connections disappear.
    drop(keep);
    std::thread::sleep(Duration::from_millis(200));
    let a = p.fc.text(b"stats conns\r\n");
    let b = p.mc.text(b"stats conns\r\n");
    assert_eq!(conns_shape(&a), conns_shape(&b));
    assert_eq!(conns_shape(&a).len(), 3, "listener + this connection + END");
}

#[test]
fn stats_sizes_matches_memcached() {
    let Some(mut p) = Pair::start(&[], &[]) else {
        return;
    };
    p.check_str("set before 0 0 5\r\nhello");
    p.check_str("stats sizes");
    p.check_str("stats sizes_disable");
    p.check_str("stats sizes_enable");
    p.check_str("stats sizes_enable");
    // Stored before enabling: not counted.
    p.check_str("stats sizes");
    for (i, n) in [1usize, 10, 30, 31, 32, 100, 1000, 5000].iter().enumerate() {
        let v = "x".repeat(*n);
        p.check_str(&format!("set k{i} {} 0 {n}\r\n{v}", i % 2));
        p.check_str(&format!("set other{i} 0 0 {n}\r\n{v}"));
    }
    p.check_str("stats sizes");
    p.check_str("delete k1");
    p.check_str("append k2 0 0 3\r\nabc");
    p.check_str("stats sizes");
    p.check_str("stats sizes_disable");
    p.check_str("stats sizes");
    p.check_str("stats sizes_disable");
    // Re-enabling starts from scratch.
    p.check_str("stats sizes_enable");
    p.check_str("stats sizes");
    p.check_str("set fresh 0 0 2\r\nab");
    p.check_str("stats sizes");
}

#[test]
fn stats_sizes_without_cas() {
    let Some(mut p) = Pair::start(&["-C"], &["-C"]) else {
        return;
    };
    p.check_str("stats sizes_enable");
    p.check_str("stats sizes");
}

#[test]
fn verbosity_command_matches_memcached() {
    let Some(mut p) = Pair::start(&[], &[]) else {
        return;
    };
    for req in [
        "verbosity 1",
        "verbosity 2",
        "verbosity 10",
        "stats settings",
        "verbosity 0 noreply",
        "verbosity",
        "verbosity x",
        "verbosity 1 2 3",
        "verbosity -1",
        "verbosity 0",
    ] {
        if req == "stats settings" {
            let a = String::from_utf8_lossy(&p.fc.text(b"stats settings\r\n")).into_owned();
            let b = String::from_utf8_lossy(&p.mc.text(b"stats settings\r\n")).into_owned();
            let v = |s: &str| {
                s.lines()
                    .find(|l| l.starts_with("STAT verbosity "))
                    .map(String::from)
            };
            assert_eq!(v(&a), v(&b));
            continue;
        }
        p.check_str(req);
    }
}

/// A server with stderr captured to a file.
struct Traced {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Traced {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Traced {
    fn start(memcached: bool, extra: &[&str]) -> Traced {
        for attempt in 0..5 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "fc-mc-trace-{}-{port}-{attempt}-{}.log",
                std::process::id(),
                memcached
            ));
            let file = std::fs::File::create(&log).expect("log file");
            let mut c = if memcached {
                let mut c = Command::new("memcached");
                if is_root() {
                    c.args(["-u", "root"]);
                }
                c.args(["-U", "0"]);
                c
            } else {
                let mut c = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
                c.arg("memcached");
                c
            };
            c.args(["-t", "2", "-p", &port.to_string(), "-l", "127.0.0.1"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(file);
            let mut child = c.spawn().expect("spawn");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Traced { child, port, log };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start a traced server");
    }

    fn connect(&self) -> McConn {
        McConn::new(TcpStream::connect(("127.0.0.1", self.port)).expect("connect"))
    }

    /// The log so far with descriptor numbers replaced by `N`, without
    /// lines about the readiness probe's connection.
    fn trace(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|l| {
                let (prefix, rest) = if l.starts_with(['<', '>']) {
                    l.split_at(1)
                } else {
                    ("", l)
                };
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                if digits > 0 {
                    format!("{prefix}N{}", &rest[digits..])
                } else {
                    l.to_string()
                }
            })
            .collect()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// The requests of the `-vv` trace comparison, text then binary.
fn traced_session(t: &Traced) {
    let mut c = t.connect();
    c.text(b"set k 0 0 1\r\nx\r\nget k nope\r\nbogus\r\ndelete k\r\nincr nope 1\r\n");
    c.text(b"stats\r\nquit\r\n");
    let mut b = t.connect();
    let req = |op: u8, key: &[u8], extras: &[u8], val: &[u8]| {
        mc_common::bin_req(op, 7, 0, extras, key, val)
    };
    let fl = [0u8; 8];
    let mut delta = Vec::new();
    delta.extend_from_slice(&3u64.to_be_bytes());
    delta.extend_from_slice(&5u64.to_be_bytes());
    delta.extend_from_slice(&0u32.to_be_bytes());
    for r in [
        req(0x00, b"missing", &[], b""),
        req(0x0c, b"missing", &[], b""),
        req(0x01, b"k", &fl, b"abc"),
        req(0x11, b"q", &fl, b"z"),
        req(0x02, b"k", &fl, b"x"),
        req(0x03, b"k", &fl, b"y"),
        req(0x0e, b"k", &[], b"more"),
        req(0x0f, b"k", &[], b"pre"),
        req(0x04, b"k", &[], b""),
        req(0x04, b"k", &[], b""),
        req(0x05, b"n", &delta, b""),
        req(0x06, b"n", &delta, b""),
        req(0x1c, b"n", &10u32.to_be_bytes(), b""),
        req(0x1d, b"n", &10u32.to_be_bytes(), b""),
        req(0x0b, b"", &[], b""),
        req(0x10, b"", &[], b""),
        req(0x55, b"", &[], b""),
    ] {
        b.binary(&r);
    }
    drop(b);
}

#[test]
fn vv_trace_matches_memcached() {
    if !have_memcached() {
        return;
    }
    let fc = Traced::start(false, &["-vv"]);
    let mc = Traced::start(true, &["-vv"]);
    let skip = |v: Vec<String>| -> Vec<String> {
        // The readiness probe's connection is not part of the session.
        let start = v
            .iter()
            .position(|l| l.contains("server listening"))
            .unwrap_or(0);
        v.into_iter().skip(start).collect()
    };
    let before_fc = skip(fc.trace());
    let before_mc = skip(mc.trace());
    traced_session(&fc);
    traced_session(&mc);
    let a = skip(fc.trace());
    let b = skip(mc.trace());
    // CAS uniques (header bytes 16..24: the 5th and 6th dump lines of a
    // response) differ between servers by design.
    let mask = |v: Vec<String>| -> Vec<String> {
        let mut since = usize::MAX;
        v.into_iter()
            .map(|l| {
                since = if l.ends_with("Writing bin response:") {
                    0
                } else {
                    since.saturating_add(1)
                };
                if since == 5 || since == 6 {
                    ">N   CAS".to_string()
                } else {
                    l
                }
            })
            .collect()
    };
    let a = mask(a.into_iter().skip(before_fc.len()).collect());
    let b = mask(b.into_iter().skip(before_mc.len()).collect());
    assert_eq!(a, b, "\nferrocache: {a:#?}\nmemcached: {b:#?}");
    // The slab class table and the listener line at startup.
    let fc_start = std::fs::read_to_string(&fc.log).unwrap_or_default();
    let mc_start = std::fs::read_to_string(&mc.log).unwrap_or_default();
    let table = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("slab class"))
            .map(String::from)
            .collect()
    };
    assert_eq!(table(&fc_start), table(&mc_start));
    assert!(fc_start.contains(" server listening (auto-negotiate)"));
}

#[test]
fn verbosity_switches_tracing_at_run_time() {
    let t = Traced::start(false, &[]);
    let mut c = t.connect();
    c.text(b"get quiet\r\n");
    assert!(t.trace().is_empty(), "{:?}", t.trace());
    assert_eq!(c.text(b"verbosity 2\r\n"), b"OK\r\n");
    c.text(b"get loud\r\n");
    let log = t.trace();
    assert!(log.contains(&"<N get loud".to_string()), "{log:?}");
    assert!(log.contains(&">N END".to_string()), "{log:?}");
    assert_eq!(c.text(b"verbosity 0\r\n"), b"OK\r\n");
    let n = t.trace().len();
    c.text(b"get quiet-again\r\n");
    assert_eq!(t.trace().len(), n);
}

#[test]
fn daemon_mode_detaches_and_writes_pidfile() {
    let bin = env!("CARGO_BIN_EXE_ferrocache");
    let port = free_port();
    let pidfile = std::env::temp_dir().join(format!("fc-mc-{}-{port}.pid", std::process::id()));
    let _ = std::fs::remove_file(&pidfile);
    let out = Command::new(bin)
        .args([
            "memcached",
            "-d",
            "-p",
            &port.to_string(),
            "-l",
            "127.0.0.1",
        ])
        .arg("-P")
        .arg(&pidfile)
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
    let _kill = Kill(pid);
    // Listening as soon as the foreground process returned.
    let mut c = McConn::new(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    assert_eq!(c.text(b"version\r\n"), b"VERSION 1.6.18\r\n");
    let r = String::from_utf8_lossy(&c.text(b"stats\r\n")).into_owned();
    assert!(r.contains(&format!("STAT pid {pid}\r\n")), "{r}");
    // Its own session (setsid): session id == pid; parent gone.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(fields.get(3).copied(), Some(pid.to_string().as_str()));
    // A second daemon on the same port fails in the foreground, with the
    // reason on stderr.
    let out = Command::new(bin)
        .args([
            "memcached",
            "-d",
            "-p",
            &port.to_string(),
            "-l",
            "127.0.0.1",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not bind"));
    // It stops on SIGTERM.
    drop(_kill);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && TcpStream::connect(("127.0.0.1", port)).is_ok() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut s = TcpStream::connect(("127.0.0.1", port));
    if let Ok(s) = s.as_mut() {
        let mut b = [0u8; 1];
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)));
    }
}
