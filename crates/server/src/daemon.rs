//! `-d` (memcached's `--daemon`): run detached in the background.
//!
//! memcached forks and calls `setsid`. Forking a Rust process needs
//! `unsafe` (and is unsound once threads exist), which this workspace does
//! not use, so the node re-executes itself instead: the foreground process
//! starts the same binary with the same arguments minus `-d`, marked by
//! [`CHILD_ENV`], and waits until that child is listening (or has failed,
//! whose error it then reports with the child's exit status). The child
//! starts a new session (`setsid`: no controlling terminal, no SIGHUP when
//! the terminal goes away), writes its pid file itself (`-P`, so it holds
//! the daemon's pid, as memcached's does), and when ready detaches its
//! standard input and output from the parent (to `/dev/null`; standard
//! error too unless `-v` asks for logging, as memcached keeps its stdio
//! only when verbose). Unlike memcached, the working directory is not
//! changed to `/`, so a relative `-P` path works as typed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// Set in the environment of the re-executed (daemon) process.
pub const CHILD_ENV: &str = "FERROCACHE_DAEMON_CHILD";

/// The line the child writes on its stdout once it is listening.
const READY: &str = "ferrocache-ready";

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot start the daemon process: {0}")]
    Spawn(std::io::Error),
    #[error("the daemon process exited during startup ({0})")]
    Failed(std::process::ExitStatus),
}

/// True in the re-executed daemon process.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Foreground side of `-d`: start the daemon (this binary with `args`,
/// `-d`/`--daemon` removed) and wait until it is listening. Until then the
/// daemon shares standard error, so a startup error (port in use) shows.
/// Returns the daemon's pid.
pub fn detach(args: &[String]) -> Result<u32, DaemonError> {
    let exe = std::env::current_exe().map_err(DaemonError::Spawn)?;
    let rest: Vec<&String> = args
        .iter()
        .filter(|a| !matches!(a.as_str(), "-d" | "--daemon"))
        .collect();
    let mut child = Command::new(exe)
        .arg("memcached")
        .args(rest)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(DaemonError::Spawn)?;
    let pid = child.id();
    let ready = child.stdout.take().is_some_and(|out| {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| l == READY)
    });
    if ready {
        return Ok(pid);
    }
    let status = child.wait().map_err(DaemonError::Spawn)?;
    Err(DaemonError::Failed(status))
}

/// Daemon side, first thing: leave the parent's session.
pub fn start_session() {
    if is_child() {
        let _ = rustix::process::setsid();
    }
}

/// Daemon side, once listening: tell the waiting parent and let go of its
/// pipe and terminal (standard error stays when `keep_stderr`: `-d -v`).
pub fn ready(keep_stderr: bool) {
    if !is_child() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{READY}");
    let _ = out.flush();
    drop(out);
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdout(&null);
        if !keep_stderr {
            let _ = rustix::stdio::dup2_stderr(&null);
        }
    }
}
