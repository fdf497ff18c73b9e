//! Crash-safe snapshot files and the forked background save.
//!
//! A snapshot is written to `temp-<pid>.rdb` in the target directory,
//! fsynced, renamed over the target (atomic on POSIX), and then the
//! directory is fsynced so the rename itself survives a power loss. A
//! crash at any point leaves either the old complete file or the new
//! complete file under the target name, never a partial one.

use crate::writer::{write_rdb, SaveOptions, SaveStats};
use ferrocache_engine::Shard;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Write `shards` to `target` crash-safely, using `tmp` (same directory)
/// as the temporary file. `wrap` may wrap the file in another writer (the
/// encrypting envelope); it must flush everything on `finish`.
pub fn save_to_path(
    shards: &[&Shard],
    target: &Path,
    tmp: &Path,
    opts: &SaveOptions,
    wrap: Option<&WrapFn>,
) -> io::Result<SaveStats> {
    let result = (|| {
        let f = File::create(tmp)?;
        let sink: Box<dyn Write> = Box::new(BufWriter::with_capacity(1 << 20, f.try_clone()?));
        let stats = match wrap {
            Some(w) => {
                let mut enc = w(sink)?;
                let s = write_rdb(&mut enc, shards, opts)?;
                enc.finish()?;
                s
            }
            None => {
                let mut sink = sink;
                let s = write_rdb(&mut sink, shards, opts)?;
                sink.flush()?;
                s
            }
        };
        f.sync_all()?;
        drop(f);
        fs::rename(tmp, target)?;
        sync_dir(target)?;
        Ok(stats)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// fsync the directory holding `path`, making a rename durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    File::open(dir)?.sync_all()
}

/// Wraps the file writer in another one (the encrypting envelope).
pub type WrapFn = dyn Fn(Box<dyn Write>) -> io::Result<Box<dyn FinishWrite>>;

/// A writer with an explicit end (the encrypting envelope writes its final
/// authenticated chunk there).
pub trait FinishWrite: Write {
    fn finish(&mut self) -> io::Result<()>;
}

/// Outcome of [`fork_save`] in the parent.
#[derive(Debug, Clone, Copy)]
pub struct Child {
    pub pid: i32,
}

/// Fork a child that writes the snapshot of `shards` and exits.
///
/// The caller must hold the locks of *every* shard (the `shards` borrow
/// comes from those guards) for the duration of this call, and must drop
/// them right after it returns: the child's copy of memory is then a
/// consistent point-in-time image, and the parent's writers continue at
/// once while the kernel copies pages on write.
///
/// In the child, the snapshot is written to `tmp` and renamed to `target`
/// (see [`save_to_path`]); it exits with status 0 on success, 1 on any
/// error. It never returns into the caller.
pub fn fork_save(
    shards: &[&Shard],
    target: &Path,
    tmp_dir: &Path,
    opts: &SaveOptions,
    wrap: Option<&WrapFn>,
) -> io::Result<Child> {
    // SAFETY: fork(2) is sound to call here because of what the child does
    // afterwards:
    // - Only the calling thread exists in the child. Every lock another
    //   thread might have held at the instant of the fork stays locked
    //   forever in the child, so the child must not touch any lock it does
    //   not own. It only reads the shards through `shards`, whose mutexes
    //   this thread holds (the guards were copied with the memory), and
    //   does file I/O through raw syscalls (std::fs has no process-wide
    //   locks). It does not log, print, touch tokio, or take the config,
    //   client or stats locks: everything it needs (`opts`, paths, the
    //   encryption key in `wrap`) was prepared before the fork.
    // - Allocation: the global allocator is jemalloc (behind a counting
    //   wrapper using only atomics). jemalloc registers pthread_atfork
    //   handlers that take all its arena locks before the fork and release
    //   them in both processes after it, so malloc/free work in the child.
    // - The child never returns into Rust code that expects to run in the
    //   parent: it ends with `_exit`, which runs no destructors, no atexit
    //   handlers and flushes no shared stdio buffers. A panic in the child
    //   is caught and turned into exit status 1.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        child_hygiene();
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let tmp = tmp_dir.join(format!("temp-{}.rdb", std::process::id()));
            save_to_path(shards, target, &tmp, opts, wrap)
        })) {
            Ok(Ok(_)) => 0,
            _ => 1,
        };
        // SAFETY: `_exit` is async-signal-safe and ends the child without
        // running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    Ok(Child { pid })
}

/// First thing in the forked child: die with the parent (a `kill -9` of
/// the server must not leave an orphan writing files), and close every
/// inherited descriptor above stderr (listening sockets, client
/// connections, epoll): a restarted server must be able to bind its port
/// while an old child is still finishing, and clients must see their
/// connection close when the parent dies.
fn child_hygiene() {
    // SAFETY: plain syscalls on this (single-threaded) child process.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() == 1 {
            libc::_exit(1);
        }
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..4096 {
                libc::close(fd);
            }
        }
    }
}

/// Wait for a forked child; returns true when it exited with status 0.
/// Blocks: call it from a dedicated thread.
pub fn wait_child(c: Child) -> io::Result<bool> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(c.pid, &mut status, 0) };
        if r == c.pid {
            return Ok(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Kill a forked child (SHUTDOWN while a BGSAVE runs, Redis's
/// `killRDBChild`).
pub fn kill_child(c: Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(c.pid, libc::SIGUSR1);
    }
}
