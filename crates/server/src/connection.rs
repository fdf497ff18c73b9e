//! One client connection: read, parse, execute, reply.
//!
//! Replies are written before more input is read, and are flushed whenever
//! the output passes [`FLUSH_AT`] even in the middle of a pipeline. A client
//! that stops reading therefore stalls only itself: its socket buffer fills,
//! our write waits, we stop reading its requests. Memory per connection stays
//! bounded by the query buffer limit plus one flush threshold.

use ferrocache_protocol::{parse_command, Limits, ParseError, Parsed, ReplyWriter, RespVersion};
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
                        execute(server, client, out, &argv);
                    }
                    start += consumed;
                    need = 1;
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
