//! Crash-safe snapshot files, the incremental background save's file
//! and the forked background save.
//!
//! A snapshot is written to `temp-<pid>.rdb` in the target directory,
//! fsynced, renamed over the target (atomic on POSIX), and then the
//! directory is fsynced so the rename itself survives a power loss. A
//! crash at any point leaves either the old complete file or the new
//! complete file under the target name, never a partial one.

use crate::writer::{write_rdb_incremental, write_rdb_progress, SaveOptions, SaveStats};
use ferrocache_engine::{Keyspace, Shard};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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
    save_to_path_progress(shards, target, tmp, opts, wrap, &mut |_| {})
}

/// [`save_to_path`] reporting keys written (see
/// [`crate::writer::write_rdb_progress`]).
pub fn save_to_path_progress(
    shards: &[&Shard],
    target: &Path,
    tmp: &Path,
    opts: &SaveOptions,
    wrap: Option<&WrapFn>,
    progress: &mut dyn FnMut(u64),
) -> io::Result<SaveStats> {
    save_with(target, tmp, wrap, None, &mut |w| {
        write_rdb_progress(w, shards, opts, progress)
    })
}

/// Write the incremental snapshot `id` of `ks` (see
/// [`crate::writer::write_rdb_incremental`]) to `target` crash-safely.
/// Call it on the thread dedicated to the save: that thread's CPU
/// priority is managed by a [`crate::pacer::Pacer`] meanwhile.
/// The rename over `target` happens under `gate.0`, and only if `gate.1`
/// (abort) is still clear: whoever aborts the save under the same lock
/// knows that no older image can land over a file it writes afterwards
/// (SHUTDOWN's save).
#[allow(clippy::too_many_arguments)]
pub fn save_incremental_to_path(
    ks: &Keyspace,
    id: u64,
    target: &Path,
    tmp: &Path,
    opts: &SaveOptions,
    wrap: Option<&WrapFn>,
    gate: (&Mutex<()>, &AtomicBool),
    progress: &mut dyn FnMut(u64),
) -> io::Result<SaveStats> {
    let abort = gate.1;
    // Runs on the snapshot thread: its priority adapts to the load.
    let mut pacer = crate::pacer::Pacer::new();
    save_with(target, tmp, wrap, Some(gate), &mut |w| {
        write_rdb_incremental(w, ks, id, opts, abort, progress, &mut || pacer.tick())
    })
}

/// The crash-safe file protocol around `write`: temporary file, fsync,
/// rename (under `gate` when given, see [`save_incremental_to_path`]),
/// fsync of the directory; the temporary file is removed on any error.
fn save_with(
    target: &Path,
    tmp: &Path,
    wrap: Option<&WrapFn>,
    gate: Option<(&Mutex<()>, &AtomicBool)>,
    write: &mut dyn FnMut(&mut dyn Write) -> io::Result<SaveStats>,
) -> io::Result<SaveStats> {
    let result = (|| {
        let f = File::create(tmp)?;
        let sink: Box<dyn Write> = Box::new(BufWriter::with_capacity(1 << 20, f.try_clone()?));
        let stats = match wrap {
            Some(w) => {
                let mut enc = w(sink)?;
                let s = write(&mut enc)?;
                enc.finish()?;
                s
            }
            None => {
                let mut sink = sink;
                let s = write(&mut sink)?;
                sink.flush()?;
                s
            }
        };
        f.sync_all()?;
        drop(f);
        match gate {
            Some((lock, abort)) => {
                let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
                if abort.load(Ordering::Relaxed) {
                    return Err(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "snapshot aborted",
                    ));
                }
                fs::rename(tmp, target)?;
            }
            None => fs::rename(tmp, target)?,
        }
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
pub type WrapFn = dyn Fn(Box<dyn Write>) -> io::Result<Box<dyn FinishWrite>> + Send + Sync;

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

/// What the forked child reports to the parent while it writes, through
/// one page of memory shared between the two processes (`MAP_SHARED`
/// anonymous mapping, made once per process and reused by every save:
/// only one background save runs at a time).
#[repr(C)]
#[derive(Debug)]
pub struct ChildInfo {
    /// Keys written so far (INFO `current_save_keys_processed`).
    pub keys_processed: AtomicU64,
    /// The child's own `Private_Dirty` bytes, measured just before it
    /// exits after a successful save (0 until then).
    pub final_cow: AtomicU64,
}

/// The shared page, mapped on first use; `None` if `mmap` failed (the
/// save still works, only progress and the final figure are missing).
pub fn child_info() -> Option<&'static ChildInfo> {
    static PAGE: OnceLock<usize> = OnceLock::new();
    let addr = *PAGE.get_or_init(|| {
        // SAFETY: an anonymous shared mapping of one page; no file, no
        // aliasing with Rust-owned memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            0
        } else {
            p as usize
        }
    });
    if addr == 0 {
        return None;
    }
    // SAFETY: the page is never unmapped, is zero-filled by the kernel
    // (a valid `ChildInfo`: two zero atomics), is page-aligned, and is
    // only accessed through atomics, so sharing it with the child
    // process (which writes) and other threads (which read) is sound.
    Some(unsafe { &*(addr as *const ChildInfo) })
}

/// `Private_Dirty` of a process (`None`: this one), in bytes, from
/// `/proc/<pid>/smaps_rollup`. For a forked child this is the memory the
/// fork really costs: pages copied because the parent (or the child)
/// wrote to them since the fork, plus the child's own allocations.
pub fn private_dirty_bytes(pid: Option<i32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/smaps_rollup"),
        None => "/proc/self/smaps_rollup".to_string(),
    };
    let text = fs::read_to_string(path).ok()?;
    parse_private_dirty(&text)
}

/// Sum of the `Private_Dirty:` lines (kB) of an smaps(-rollup) text.
fn parse_private_dirty(text: &str) -> Option<u64> {
    let mut total = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Private_Dirty:") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            total = Some(total.unwrap_or(0) + kb * 1024);
        }
    }
    total
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
    let info = child_info();
    if let Some(i) = info {
        i.keys_processed.store(0, Ordering::Relaxed);
        i.final_cow.store(0, Ordering::Relaxed);
    }
    // SAFETY: fork(2) is sound to call here because of what the child does
    // afterwards:
    // - Only the calling thread exists in the child. Every lock another
    //   thread might have held at the instant of the fork stays locked
    //   forever in the child, so the child must not touch any lock it does
    //   not own. It only reads the shards through `shards`, whose mutexes
    //   this thread holds (the guards were copied with the memory), and
    //   does file I/O through raw syscalls (std::fs has no process-wide
    //   locks), and reports progress through atomics in the shared page
    //   ([`child_info`]), mapped before the fork. It does not log, print, touch tokio, or take the config,
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
            let mut progress = |n: u64| {
                if let Some(i) = info {
                    i.keys_processed.store(n, Ordering::Relaxed);
                }
            };
            let r = save_to_path_progress(shards, target, &tmp, opts, wrap, &mut progress);
            if r.is_ok() {
                if let (Some(i), Some(b)) = (info, private_dirty_bytes(None)) {
                    i.final_cow.store(b, Ordering::Relaxed);
                }
            }
            r
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

/// First thing in the forked child: lowest CPU priority, die with the
/// parent (a `kill -9` of
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
        // The lowest CPU priority: on a node with few cores the snapshot
        // competes with the serving threads for the same CPUs, and a
        // client's latency matters more than how soon the file is done
        // (bench/persist.sh: p99 during BGSAVE). The child still gets
        // every idle cycle. A failure only leaves the default priority.
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
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

/// Wait for a forked child like [`wait_child`], calling `sample` about
/// every `every` while it runs (the parent's copy-on-write sampling).
/// Polls every 10 ms. Call it from a dedicated thread.
pub fn wait_child_sampling(
    c: Child,
    every: Duration,
    sample: &mut dyn FnMut(),
) -> io::Result<bool> {
    let mut status: libc::c_int = 0;
    let mut next = Instant::now() + every.min(Duration::from_millis(100));
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(c.pid, &mut status, libc::WNOHANG) };
        if r == c.pid {
            return Ok(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        if Instant::now() >= next {
            sample();
            next = Instant::now() + every;
        }
        std::thread::sleep(Duration::from_millis(10));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dirty_is_parsed_and_measured() {
        let t = "Rss: 100 kB\nPrivate_Clean: 4 kB\nPrivate_Dirty:      1234 kB\nSwap: 0 kB\n";
        assert_eq!(parse_private_dirty(t), Some(1234 * 1024));
        assert_eq!(parse_private_dirty("Rss: 1 kB\n"), None);
        // This process has dirtied memory (its heap, its stack).
        if Path::new("/proc/self/smaps_rollup").exists() {
            let b = private_dirty_bytes(None).expect("own smaps_rollup");
            assert!(b > 0);
        }
    }

    #[test]
    fn shared_page_is_zeroed_and_writable() {
        let i = child_info().expect("mmap");
        i.keys_processed.store(7, Ordering::Relaxed);
        assert_eq!(i.keys_processed.load(Ordering::Relaxed), 7);
        i.keys_processed.store(0, Ordering::Relaxed);
    }
}
