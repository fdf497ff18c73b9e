//! One client connection: read, parse, execute, reply.
//!
//! Replies are written before more input is read, and are flushed whenever
//! the output passes [`FLUSH_AT`] even in the middle of a pipeline. A client
//! that stops reading therefore stalls only itself: its socket buffer fills,
//! our write waits, we stop reading its requests. Memory per connection stays
//! bounded by the query buffer limit plus one flush threshold.

use ferrocache_protocol::resp::Args;
use ferrocache_protocol::{parse_command, Limits, ParseError, Parsed, ReplyWriter, RespVersion};
use ferrocache_redis::blocking::BlockRequest;
use ferrocache_redis::{execute, ClientShared, ClientState, Server};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Flush replies once this many bytes are pending.
const FLUSH_AT: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

pub async fn serve_connection(server: Arc<Server>, std_stream: std::net::TcpStream) {
    let Ok(mut stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let stats = &server.stats;
    stats
        .total_connections_received
        .fetch_add(1, Ordering::Relaxed);
    let maxclients = server.config.hot().maxclients.load(Ordering::Relaxed) as usize;
    if server.clients.len() >= maxclients {
        stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    let id = server.clients.next_id();
    let shared = Arc::new(ClientShared::new(
        id,
        stream.peer_addr().ok(),
        stream.local_addr().ok(),
    ));
    {
        use std::os::fd::AsRawFd;
        shared
            .fd
            .store(i64::from(stream.as_raw_fd()), Ordering::Relaxed);
    }
    server.clients.register(shared.clone());
    let needs_auth = server.config.requirepass().is_some();
    let mut client = ClientState::new(shared.clone(), !needs_auth);
    let mut out = ReplyWriter::new(RespVersion::Resp2);
    let _ = run(&server, &mut stream, &mut client, &mut out).await;
    ferrocache_redis::cmd::transaction::reset(&server, &mut client);
    ferrocache_redis::cmd::pubsub::unsubscribe_all(&server, &mut client);
    ferrocache_redis::blocking::client_gone(&server, id);
    ferrocache_redis::tracking::disable(&server, id);
    server.clients.unregister(id);
}

async fn run(
    server: &Server,
    stream: &mut TcpStream,
    client: &mut ClientState,
    out: &mut ReplyWriter,
) -> std::io::Result<()> {
    let mut inbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut start = 0usize;
    let mut need = 1usize;
    let shared = client.shared.clone();
    let hot = server.config.hot();
    loop {
        // Make room and read.
        if start > 0 && (start == inbuf.len() || start > inbuf.len() / 2) {
            inbuf.drain(..start);
            start = 0;
        }
        let want = need.saturating_sub(inbuf.len() - start).max(READ_CHUNK);
        inbuf.reserve(want);
        let timeout_secs = hot.timeout.load(Ordering::Relaxed);
        let n = tokio::select! {
            r = stream.read_buf(&mut inbuf) => r?,
            _ = shared.wake.notified() => {
                if shared.is_killed() {
                    return Ok(());
                }
                crate::busy_poll::coalesce().await;
                if !write_pushes(server, stream, &shared).await? {
                    return Ok(());
                }
                continue;
            }
            _ = idle(timeout_secs) => {
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        crate::busy_poll::activity();
        server
            .stats
            .net_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        if inbuf.len() - start > hot.client_query_buffer_limit.load(Ordering::Relaxed) as usize {
            // Redis closes the connection without a reply, even while a big
            // bulk is still arriving.
            crate::log::log(
                crate::log::Level::Warning,
                &format!(
                    "Closing client that reached max query buffer length: id={} addr={}",
                    shared.id, shared.addr
                ),
            );
            return Ok(());
        }
        if inbuf.len() - start < need {
            continue;
        }
        // Execute every complete command in the buffer.
        let limits = Limits {
            max_bulk_len: hot.proto_max_bulk_len.load(Ordering::Relaxed),
            unauthenticated: !client.authenticated,
        };
        shared.touch();
        let mut proto_err: Option<ParseError> = None;
        prefetch_pipelined_gets(server, client.db, &inbuf[start..], &limits);
        loop {
            match parse_command(&inbuf[start..], &limits) {
                Ok(Parsed::Command { args, consumed }) => {
                    if shared.is_killed() {
                        return Ok(());
                    }
                    // Pushes (pub/sub messages, MONITOR lines) queued so
                    // far go out before this command's reply: they cannot
                    // starve behind a client that keeps sending, and they
                    // keep Redis's order (a message published before an
                    // UNSUBSCRIBE arrives before its confirmation).
                    if shared.push_pending.load(Ordering::Relaxed) > 0 {
                        let pushes = shared.take_pushes();
                        out.raw(&pushes);
                        shared.pushes_written(pushes.len());
                    }
                    let argv = args.resolve(&inbuf[start..start + consumed]);
                    if !argv.is_empty() {
                        // A Lua script runs (on any worker) and is not yet
                        // past busy-reply-threshold: it holds every shard.
                        // Wait without blocking this worker's thread on a
                        // shard lock, so that past the threshold this
                        // worker can answer BUSY and take SCRIPT KILL.
                        if ferrocache_redis::script::must_wait() {
                            flush(server, stream, &shared, out).await?;
                            ferrocache_redis::script::wait_for_script().await;
                        }
                        // CLIENT PAUSE: the command waits, unread input
                        // stays unread, until the pause ends.
                        if ferrocache_redis::blocking::paused_until(server, client, &argv).is_some()
                        {
                            flush(server, stream, &shared, out).await?;
                            if !wait_unpaused(server, client, &argv).await {
                                return Ok(());
                            }
                        }
                        if ferrocache_redis::script::may_run_script(argv[0]) {
                            execute_suspendable(server, client, out, &argv).await;
                        } else {
                            execute(server, client, out, &argv);
                        }
                    }
                    drop(argv);
                    start += consumed;
                    need = 1;
                    // A blocking command (BLPOP & co.) found nothing: send
                    // what is pending, wait for its outcome, go on with the
                    // rest of the pipeline.
                    if let Some(req) = client.blocked.take() {
                        flush(server, stream, &shared, out).await?;
                        match wait_blocked(server, stream, &shared, &mut inbuf, req).await? {
                            Some(reply) => out.raw(&reply),
                            None => return Ok(()),
                        }
                    }
                    if client.close_after_reply || shared.is_killed() {
                        break;
                    }
                    if out.len() >= FLUSH_AT {
                        flush(server, stream, &shared, out).await?;
                    }
                }
                Ok(Parsed::Incomplete { min_len }) => {
                    need = min_len;
                    break;
                }
                Err(e) => {
                    proto_err = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = proto_err {
            crate::log::log(
                crate::log::Level::Verbose,
                &format!(
                    "Protocol error ({e}) from client: id={} addr={}",
                    shared.id, shared.addr
                ),
            );
            out.error_bytes(&e.reply_bytes());
            flush(server, stream, &shared, out).await?;
            return Ok(());
        }
        let limit = hot.client_query_buffer_limit.load(Ordering::Relaxed) as usize;
        if inbuf.len() - start > limit {
            // Redis closes the connection without a reply.
            flush(server, stream, &shared, out).await?;
            return Ok(());
        }
        shared.qbuf.store(inbuf.len() - start, Ordering::Relaxed);
        flush(server, stream, &shared, out).await?;
        if client.close_after_reply || shared.is_killed() {
            return Ok(());
        }
        // A push queued while we wrote may have used up its wake-up.
        if shared.push_pending.load(Ordering::Relaxed) > 0
            && !write_pushes(server, stream, &shared).await?
        {
            return Ok(());
        }
    }
}

/// Run a command that may run a Lua script (EVAL*, FCALL*, EXEC) on a side
/// stack: a script past `busy-reply-threshold` pauses at every hook tick,
/// and this task then yields so the worker serves its other connections
/// (BUSY replies, SCRIPT KILL, SHUTDOWN NOSAVE) before resuming it. The
/// script keeps its shard locks while paused.
async fn execute_suspendable(
    server: &Server,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    argv: &[&[u8]],
) {
    let mut work =
        ferrocache_redis::script::Suspendable::new(|| execute(server, client, out, argv));
    while !work.resume() {
        tokio::task::yield_now().await;
    }
}

/// Wait for the outcome of a blocked command: its reply (served by a
/// writer, CLIENT UNBLOCK), its deadline, or the client going away. The
/// socket is read meanwhile so that EOF is noticed (the waiter is then
/// dropped, as Redis frees a blocked client that disconnects) and pipelined
/// commands queue up in `inbuf`, within the query buffer limit. Returns
/// None when the connection must close.
async fn wait_blocked(
    server: &Server,
    stream: &mut TcpStream,
    shared: &ClientShared,
    inbuf: &mut Vec<u8>,
    req: BlockRequest,
) -> std::io::Result<Option<Vec<u8>>> {
    use ferrocache_redis::blocking;
    let BlockRequest {
        waiter,
        mut rx,
        mut deadline,
    } = req;
    let hot = server.config.hot();
    loop {
        inbuf.reserve(READ_CHUNK);
        tokio::select! {
            r = &mut rx => {
                // A dropped sender means the waiter was cancelled without
                // a reply (cannot happen while we wait); answer a timeout.
                return Ok(Some(r.unwrap_or_else(|_| {
                    let mut w = ReplyWriter::new(waiter.resp);
                    w.null_array();
                    w.take()
                })));
            }
            _ = sleep_until(deadline) => {
                if let Some(reply) = blocking::time_out(server, &waiter) {
                    return Ok(Some(reply));
                }
                // Being served right now: the reply is on its way.
                deadline = None;
            }
            _ = shared.wake.notified() => {
                if shared.is_killed() || !write_pushes(server, stream, shared).await? {
                    blocking::client_gone(server, shared.id);
                    return Ok(None);
                }
            }
            r = stream.read_buf(inbuf) => {
                let n = match r {
                    Ok(n) => n,
                    Err(e) => {
                        blocking::client_gone(server, shared.id);
                        return Err(e);
                    }
                };
                if n == 0 {
                    blocking::client_gone(server, shared.id);
                    return Ok(None);
                }
                crate::busy_poll::activity();
                server
                    .stats
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                if inbuf.len() > hot.client_query_buffer_limit.load(Ordering::Relaxed) as usize {
                    blocking::client_gone(server, shared.id);
                    return Ok(None);
                }
            }
        }
    }
}

/// Sleep until `deadline`, or forever for None.
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending::<()>().await,
    }
}

/// Hold a command postponed by CLIENT PAUSE until the pause ends (timeout
/// or CLIENT UNPAUSE) or no longer applies to it. The client shows as
/// blocked meanwhile. Returns false if the client was killed.
async fn wait_unpaused(server: &Server, client: &ClientState, argv: &[&[u8]]) -> bool {
    let shared = &client.shared;
    let blocking = &server.blocking;
    blocking.set_postponed(shared, true);
    let alive = loop {
        let changed = blocking.pause_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let Some(until) = ferrocache_redis::blocking::paused_until(server, client, argv) else {
            break true;
        };
        let left = until.saturating_sub(ferrocache_engine::clock::now_ms());
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(left)) => {}
            _ = shared.wake.notified() => {
                if shared.is_killed() {
                    break false;
                }
            }
        }
    };
    blocking.set_postponed(shared, false);
    alive
}

/// Write queued pushes until none are left. Returns false if the client was
/// killed meanwhile (e.g. over its pub/sub output buffer limit while its
/// socket was full).
async fn write_pushes(
    server: &Server,
    stream: &mut TcpStream,
    shared: &ClientShared,
) -> std::io::Result<bool> {
    loop {
        let pushes = shared.take_pushes();
        if pushes.is_empty() {
            return Ok(true);
        }
        let done = write_unless_killed(stream, shared, &pushes).await?;
        crate::busy_poll::activity();
        shared.pushes_written(pushes.len());
        if !done {
            return Ok(false);
        }
        server
            .stats
            .net_output_bytes
            .fetch_add(pushes.len() as u64, Ordering::Relaxed);
    }
}

/// Write all of `buf`, giving up (`Ok(false)`) as soon as the client is
/// killed: a peer that stopped reading must not keep its connection task,
/// and the memory it holds, alive forever.
async fn write_unless_killed(
    stream: &mut TcpStream,
    shared: &ClientShared,
    buf: &[u8],
) -> std::io::Result<bool> {
    let mut off = 0;
    while off < buf.len() {
        tokio::select! {
            r = stream.write(&buf[off..]) => {
                let n = r?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                off += n;
            }
            _ = shared.wake.notified() => {
                if shared.is_killed() {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

async fn flush(
    server: &Server,
    stream: &mut TcpStream,
    shared: &ClientShared,
    out: &mut ReplyWriter,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let n = out.len();
    if !write_unless_killed(stream, shared, out.as_bytes()).await? {
        out.clear();
        return Err(std::io::ErrorKind::ConnectionAborted.into());
    }
    server
        .stats
        .net_output_bytes
        .fetch_add(n as u64, Ordering::Relaxed);
    out.clear();
    Ok(())
}

async fn idle(secs: u64) {
    if secs == 0 {
        std::future::pending::<()>().await;
    } else {
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
}

/// A pipeline of GETs (`redis-benchmark -P 16`, a client's batched reads)
/// runs one command at a time, and each lookup's cache misses would wait
/// for the previous one's. Looking ahead over the complete commands in the
/// buffer and prefetching their keys first lets those misses overlap, as
/// the memcached multi-get does. Only a run of GETs is looked at (the
/// command that dominates read pipelines). A buffer that does not start
/// with a multibulk GET costs a 11-byte comparison; a lone GET (pipeline 1)
/// costs one extra parse of itself before it is found to be alone.
fn prefetch_pipelined_gets(server: &Server, db: usize, buf: &[u8], limits: &Limits) {
    let starts_with_get = buf.len() > 11
        && buf.starts_with(b"*2\r\n$3\r\n")
        && buf[8..11].eq_ignore_ascii_case(b"get");
    if !starts_with_get {
        return;
    }
    const MAX: usize = ferrocache_engine::keyspace::PREFETCH_BATCH;
    let mut keys: [&[u8]; MAX] = [&[]; MAX];
    let mut n = 0usize;
    let mut off = 0usize;
    while n < MAX {
        let rest = buf.get(off..).unwrap_or_default();
        let (args, consumed) = match parse_command(rest, limits) {
            Ok(Parsed::Command { args, consumed }) => (args, consumed),
            _ => break,
        };
        if off == 0 && consumed == buf.len() {
            return;
        }
        // Stop at the first command that is not a GET: other pipelines
        // pay for one look-ahead parse, not for parsing everything twice.
        let key = match &args {
            Args::Ranges(r) => match r.as_slice() {
                [cmd, key]
                    if rest
                        .get(cmd.clone())
                        .is_some_and(|c| c.eq_ignore_ascii_case(b"get")) =>
                {
                    rest.get(key.clone())
                }
                _ => None,
            },
            Args::Owned(_) => None,
        };
        match (key, keys.get_mut(n)) {
            (Some(k), Some(slot)) => {
                *slot = k;
                n += 1;
            }
            _ => break,
        }
        off += consumed;
    }
    if n >= 2 {
        server.keyspace.prefetch(db, &keys[..n]);
    }
}
