//! Client-side caching: CLIENT TRACKING and invalidation messages, as
//! Redis 7.0's `tracking.c`.
//!
//! - Default mode: after a read-only command, the keys it named are
//!   remembered in the tracking table (key → ids of the clients that read
//!   it). The first write to such a key sends every one of those clients an
//!   invalidation for it, once, and forgets the entry. Like Redis, the table
//!   is keyed by key name only (not by database).
//! - BCAST mode: no table; a client subscribes to key prefixes, and every
//!   write to a matching key is collected per prefix and sent after the
//!   command (Redis sends in `beforeSleep`), one message per prefix with all
//!   the keys, sorted as Redis's radix tree iterates them.
//! - OPTIN/OPTOUT with CLIENT CACHING, NOLOOP, REDIRECT (RESP2 clients get
//!   `message __redis__:invalidate` on a subscribed redirect target).
//!
//! Writes are signalled by [`crate::notify`], which every write handler
//! calls once per modified key (Redis pairs `signalModifiedKey` with
//! `notifyKeyspaceEvent` the same way). Invalidations for the client that is
//! running the command are queued and written after its reply (Redis's
//! `tracking_pending_keys`); for other clients they are pushed at once.
//!
//! Cost when nobody tracks: one atomic load per command ([`Tracking::active`]).

use crate::client::{ClientShared, ClientState};
use crate::server::Server;
use crate::spec::{flags, CommandSpec};
use ferrocache_protocol::ReplyWriter;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Client tracking flags (Redis's `CLIENT_TRACKING*`).
pub mod tflags {
    pub const ON: u32 = 1;
    pub const BCAST: u32 = 1 << 1;
    pub const OPTIN: u32 = 1 << 2;
    pub const OPTOUT: u32 = 1 << 3;
    pub const NOLOOP: u32 = 1 << 4;
    /// CLIENT CACHING YES/NO was given for the next command.
    pub const CACHING: u32 = 1 << 5;
    pub const BROKEN_REDIR: u32 = 1 << 6;
}

/// The part of a client's tracking state its own connection reads on every
/// command, without a lock (lives in `ClientState`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientTracking {
    pub flags: u32,
}

/// A tracking client as other connections' writes need to see it.
#[derive(Debug)]
struct Tracked {
    flags: u32,
    redirect: u64,
    prefixes: BTreeSet<Vec<u8>>,
    shared: Arc<ClientShared>,
}

/// One BCAST prefix: its subscribers and the keys modified since the last
/// flush (key → id of the client that modified it last, 0 = none).
#[derive(Debug, Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Vec<u8>, u64>,
}

/// Keys modified under one BCAST prefix → id of their last modifier.
type BcastKeys = BTreeMap<Vec<u8>, u64>;

/// What an invalidation message carries.
enum Payload<'a> {
    Key(&'a [u8]),
    /// Already encoded (BCAST key arrays).
    Proto(&'a [u8]),
    /// "Every key" (flush): a RESP null in the tracking client's protocol.
    Null,
}

#[derive(Debug, Default)]
struct Inner {
    table: HashMap<Vec<u8>, Vec<u64>>,
    items: usize,
    clients: HashMap<u64, Tracked>,
    prefixes: BTreeMap<Vec<u8>, Prefix>,
    /// Invalidations for a client produced while it ran a command: sent
    /// after its reply. `None` = flush (null).
    pending: Vec<(u64, Option<Vec<u8>>)>,
    /// Consecutive runs of the table size limit that could not get under it.
    limit_effort: u32,
}

/// Node-wide tracking state (in `Server`).
#[derive(Debug, Default)]
pub struct Tracking {
    /// Clients with tracking on (INFO `tracking_clients`).
    clients: AtomicUsize,
    /// Something waits in `pending` or in a prefix's `keys`.
    dirty: AtomicBool,
    /// Keys in the table (mirrors `inner.table.len()` for the limit check).
    keys: AtomicUsize,
    /// `tracking-table-max-keys` (0 = no limit), set by [`crate::notify::refresh`].
    pub max_keys: std::sync::atomic::AtomicU64,
    inner: Mutex<Inner>,
}

/// The client running the command, if any: its id and reply buffer.
pub type Me<'o> = Option<(u64, &'o mut ReplyWriter)>;

fn reborrow<'a>(me: &'a mut Me<'_>) -> Me<'a> {
    me.as_mut().map(|(id, o)| (*id, &mut **o))
}

impl Tracking {
    /// Does any client track? (One relaxed load: the hot-path check.)
    #[inline]
    pub fn active(&self) -> bool {
        self.clients.load(Ordering::Relaxed) > 0
    }

    /// INFO figures: (clients, keys, items, prefixes).
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        let i = self.inner.lock();
        (
            self.clients.load(Ordering::Relaxed),
            i.table.len(),
            i.items,
            i.prefixes.len(),
        )
    }
}

/// Encode and deliver one invalidation for tracking client `target`
/// (Redis's `sendTrackingMessage`), following its redirection.
fn send(server: &Server, inner: &mut Inner, target: u64, payload: Payload<'_>, me: &mut Me<'_>) {
    let Some(t) = inner.clients.get_mut(&target) else {
        return;
    };
    let null: &[u8] = if t.shared.resp.load(Ordering::Relaxed) == 3 {
        b"_\r\n"
    } else {
        b"$-1\r\n"
    };
    let mut receiver = t.shared.clone();
    let mut redirected = false;
    if t.redirect != 0 {
        match server.clients.get(t.redirect) {
            Some(r) => {
                receiver = r;
                redirected = true;
            }
            None => {
                t.flags |= tflags::BROKEN_REDIR;
                if t.shared.resp.load(Ordering::Relaxed) == 3 {
                    let msg = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{}\r\n", t.redirect);
                    deliver(&t.shared, msg.as_bytes(), me);
                }
                return;
            }
        }
    }
    let mut msg: Vec<u8> = Vec::with_capacity(64);
    if receiver.resp.load(Ordering::Relaxed) == 3 {
        msg.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else if redirected && receiver.is_pubsub() {
        msg.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    } else {
        return;
    }
    match payload {
        Payload::Key(k) => {
            msg.extend_from_slice(format!("*1\r\n${}\r\n", k.len()).as_bytes());
            msg.extend_from_slice(k);
            msg.extend_from_slice(b"\r\n");
        }
        Payload::Proto(p) => msg.extend_from_slice(p),
        Payload::Null => msg.extend_from_slice(null),
    }
    deliver(&receiver, &msg, me);
}

/// Write to the running client's reply buffer (keeps order with its
/// replies) or push to another connection.
fn deliver(to: &ClientShared, msg: &[u8], me: &mut Me<'_>) {
    if let Some((id, out)) = me.as_mut() {
        if *id == to.id {
            out.push_own(msg);
            return;
        }
    }
    to.push_bytes(msg);
}

/// A key was modified (Redis's `trackingInvalidateKey(c, key, bcast)`):
/// invalidate it for the clients that read it, and with `bcast` remember
/// it for the BCAST prefixes it matches. `me` is the client running the
/// command (None for expiry/eviction outside a command).
pub fn invalidate_key(server: &Server, key: &[u8], bcast: bool, mut me: Me<'_>) {
    let t = &server.tracking;
    if !t.active() {
        return;
    }
    let mut inner = t.inner.lock();
    let me_id = me.as_ref().map_or(0, |(id, _)| *id);
    if bcast && !inner.prefixes.is_empty() {
        let mut any = false;
        for (p, st) in inner.prefixes.iter_mut() {
            if key.starts_with(p) {
                st.keys.insert(key.to_vec(), me_id);
                any = true;
            }
        }
        if any {
            t.dirty.store(true, Ordering::Relaxed);
        }
    }
    let Some(ids) = inner.table.remove(key) else {
        return;
    };
    t.keys.store(inner.table.len(), Ordering::Relaxed);
    inner.items -= ids.len().min(inner.items);
    for id in ids {
        let Some(c) = inner.clients.get(&id) else {
            continue;
        };
        if c.flags & tflags::ON == 0 || c.flags & tflags::BCAST != 0 {
            continue;
        }
        if c.flags & tflags::NOLOOP != 0 && id == me_id {
            continue;
        }
        if id == me_id {
            inner.pending.push((id, Some(key.to_vec())));
            t.dirty.store(true, Ordering::Relaxed);
        } else {
            send(server, &mut inner, id, Payload::Key(key), &mut me);
        }
    }
}

/// FLUSHDB/FLUSHALL (Redis's `trackingInvalidateKeysOnFlush`): every
/// tracking client is told "everything" (a null), and the table is emptied.
pub fn invalidate_all(server: &Server, mut me: Me<'_>) {
    let t = &server.tracking;
    let mut inner = t.inner.lock();
    if t.active() {
        let me_id = me.as_ref().map_or(0, |(id, _)| *id);
        let ids: Vec<u64> = server
            .clients
            .all()
            .iter()
            .map(|c| c.id)
            .filter(|id| {
                inner
                    .clients
                    .get(id)
                    .is_some_and(|c| c.flags & tflags::ON != 0)
            })
            .collect();
        for id in ids {
            if id == me_id {
                inner.pending.push((id, None));
                t.dirty.store(true, Ordering::Relaxed);
            } else {
                send(server, &mut inner, id, Payload::Null, &mut me);
            }
        }
    }
    inner.table = HashMap::new();
    inner.items = 0;
    t.keys.store(0, Ordering::Relaxed);
}

/// After a read-only command: remember the keys it named for the running
/// client, if it tracks in default mode (Redis's `trackingRememberKeys`).
/// Called by dispatch only when [`Tracking::active`].
pub fn remember_keys(server: &Server, client: &ClientState, spec: &CommandSpec, argv: &[&[u8]]) {
    let f = client.tracking.flags;
    if f & tflags::ON == 0 || f & tflags::BCAST != 0 || !spec.has(flags::READONLY) {
        return;
    }
    // Read-only scripts are not tracked as such; their commands are.
    if spec.has(flags::PUBSUB) || matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro") {
        return;
    }
    let caching = f & tflags::CACHING != 0;
    if (f & tflags::OPTIN != 0 && !caching) || (f & tflags::OPTOUT != 0 && caching) {
        return;
    }
    let keys = spec.key_indexes(argv);
    if keys.is_empty() {
        return;
    }
    let t = &server.tracking;
    let mut inner = t.inner.lock();
    for i in keys {
        let Some(k) = argv.get(i) else { continue };
        let ids = inner.table.entry(k.to_vec()).or_default();
        if !ids.contains(&client.id) {
            ids.push(client.id);
            inner.items += 1;
        }
    }
    t.keys.store(inner.table.len(), Ordering::Relaxed);
}

/// After a top-level command (Redis: `trackingHandlePendingKeyInvalidations`
/// after `call`, `trackingBroadcastInvalidationMessages` and
/// `trackingLimitUsedSlots` before sleeping): send the running client's
/// queued invalidations after its reply, the BCAST batches, and enforce
/// `tracking-table-max-keys`. Also drops a CLIENT CACHING flag that served
/// its command.
pub fn after_command(
    server: &Server,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    argv: &[&[u8]],
) {
    if client.tracking.flags & tflags::CACHING != 0
        && client.multi.is_none()
        && !argv
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"client"))
    {
        client.tracking.flags &= !tflags::CACHING;
        if let Some(c) = server.tracking.inner.lock().clients.get_mut(&client.id) {
            c.flags &= !tflags::CACHING;
        }
    }
    let t = &server.tracking;
    let over_limit = {
        let max = t.max_keys.load(Ordering::Relaxed);
        max > 0 && t.keys.load(Ordering::Relaxed) as u64 > max
    };
    if !t.dirty.load(Ordering::Relaxed) && !over_limit {
        return;
    }
    let mut me: Me<'_> = Some((client.id, out));
    flush(server, &mut me);
    if over_limit {
        limit_table(server);
    }
}

/// Send queued invalidations (`me`'s pending ones, BCAST batches).
pub fn flush(server: &Server, me: &mut Me<'_>) {
    let t = &server.tracking;
    if !t.dirty.swap(false, Ordering::Relaxed) {
        return;
    }
    let mut inner = t.inner.lock();
    let me_id = me.as_ref().map_or(0, |(id, _)| *id);
    if me_id != 0 && !inner.pending.is_empty() {
        let mine: Vec<Option<Vec<u8>>> = {
            let (m, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.pending)
                .into_iter()
                .partition(|(id, _)| *id == me_id);
            inner.pending = rest;
            m.into_iter().map(|(_, k)| k).collect()
        };
        for k in mine {
            let p = match &k {
                Some(k) => Payload::Key(k),
                None => Payload::Null,
            };
            send(server, &mut inner, me_id, p, &mut reborrow(me));
        }
        if !inner.pending.is_empty() {
            // Another connection's, still running: keep the flag up.
            t.dirty.store(true, Ordering::Relaxed);
        }
    }
    // BCAST batches, prefix by prefix in sorted order.
    let batches: Vec<(BcastKeys, Vec<u64>)> = inner
        .prefixes
        .values_mut()
        .filter(|p| !p.keys.is_empty())
        .map(|p| {
            (
                std::mem::take(&mut p.keys),
                p.clients.iter().copied().collect(),
            )
        })
        .collect();
    for (keys, clients) in batches {
        let all = encode_keys(&keys, None);
        for id in clients {
            let noloop = inner
                .clients
                .get(&id)
                .is_some_and(|c| c.flags & tflags::NOLOOP != 0);
            if noloop {
                if let Some(own) = encode_keys(&keys, Some(id)) {
                    send(
                        server,
                        &mut inner,
                        id,
                        Payload::Proto(&own),
                        &mut reborrow(me),
                    );
                }
            } else if let Some(all) = &all {
                send(
                    server,
                    &mut inner,
                    id,
                    Payload::Proto(all),
                    &mut reborrow(me),
                );
            }
        }
    }
}

/// RESP array of the keys (skipping those last modified by `except`);
/// None when that leaves nothing (`trackingBuildBroadcastReply`).
fn encode_keys(keys: &BTreeMap<Vec<u8>, u64>, except: Option<u64>) -> Option<Vec<u8>> {
    let n = keys
        .values()
        .filter(|&&by| except.is_none_or(|e| e != by))
        .count();
    if n == 0 {
        return None;
    }
    let mut p = format!("*{n}\r\n").into_bytes();
    for (k, &by) in keys {
        if except.is_some_and(|e| e == by) {
            continue;
        }
        p.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
        p.extend_from_slice(k);
        p.extend_from_slice(b"\r\n");
    }
    Some(p)
}

/// `tracking-table-max-keys` (Redis's `trackingLimitUsedSlots`): invalidate
/// keys until the table is back under the limit, with growing effort.
fn limit_table(server: &Server) {
    let max = server.tracking.max_keys.load(Ordering::Relaxed) as usize;
    let t = &server.tracking;
    let effort = {
        let inner = t.inner.lock();
        if max == 0 || inner.table.len() <= max {
            drop(inner);
            t.inner.lock().limit_effort = 0;
            return;
        }
        100 * (inner.limit_effort as usize + 1)
    };
    for _ in 0..effort {
        let victim = {
            let inner = t.inner.lock();
            if inner.table.len() <= max {
                drop(inner);
                t.inner.lock().limit_effort = 0;
                return;
            }
            // HashMap iteration order is random enough for a random walk.
            inner.table.keys().next().cloned()
        };
        let Some(k) = victim else { break };
        // Not a modification: no BCAST, no NOLOOP exemption (client NULL).
        invalidate_key(server, &k, false, None);
    }
    let mut inner = t.inner.lock();
    if inner.table.len() > max {
        inner.limit_effort += 1;
    }
}

/// Parsed CLIENT TRACKING options.
pub struct TrackingOptions {
    pub on: bool,
    pub redirect: u64,
    pub flags: u32,
    pub prefixes: Vec<Vec<u8>>,
}

/// CLIENT TRACKING ON/OFF after parsing: Redis's checks, in its order, then
/// `enableTracking`/`disableTracking`. Returns the error text on refusal.
pub fn set_tracking(
    server: &Server,
    client: &mut ClientState,
    opts: TrackingOptions,
) -> Result<(), String> {
    if !opts.on {
        disable(server, client.id);
        client.tracking.flags = 0;
        return Ok(());
    }
    let cur = client.tracking.flags;
    let bcast = opts.flags & tflags::BCAST != 0;
    if !bcast && !opts.prefixes.is_empty() {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    if cur & tflags::ON != 0 && (cur & tflags::BCAST != 0) != bcast {
        return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into());
    }
    if bcast && opts.flags & (tflags::OPTIN | tflags::OPTOUT) != 0 {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if opts.flags & tflags::OPTIN != 0 && opts.flags & tflags::OPTOUT != 0 {
        return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if (opts.flags & tflags::OPTIN != 0 && cur & tflags::OPTOUT != 0)
        || (opts.flags & tflags::OPTOUT != 0 && cur & tflags::OPTIN != 0)
    {
        return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into());
    }
    let t = &server.tracking;
    let mut inner = t.inner.lock();
    if bcast {
        let existing = inner.clients.get(&client.id).map(|c| &c.prefixes);
        for (i, p) in opts.prefixes.iter().enumerate() {
            if let Some(old) = existing.and_then(|e| e.iter().find(|o| overlaps(o, p))) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(old)
                ));
            }
            if let Some(other) = opts
                .prefixes
                .get(i + 1..)
                .and_then(|r| r.iter().find(|o| overlaps(p, o)))
            {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(other)
                ));
            }
        }
    }
    // enableTracking.
    let was_on = cur & tflags::ON != 0;
    let keep = cur & tflags::CACHING;
    let flags = tflags::ON
        | keep
        | (opts.flags & (tflags::BCAST | tflags::OPTIN | tflags::OPTOUT | tflags::NOLOOP));
    let entry = inner.clients.entry(client.id).or_insert_with(|| Tracked {
        flags: 0,
        redirect: 0,
        prefixes: BTreeSet::new(),
        shared: client.shared.clone(),
    });
    entry.flags = flags;
    entry.redirect = opts.redirect;
    let mut new_prefixes = Vec::new();
    if bcast {
        if opts.prefixes.is_empty() {
            new_prefixes.push(Vec::new());
        } else {
            new_prefixes.extend(opts.prefixes.iter().cloned());
        }
        for p in &new_prefixes {
            entry.prefixes.insert(p.clone());
        }
    }
    for p in new_prefixes {
        inner
            .prefixes
            .entry(p)
            .or_default()
            .clients
            .insert(client.id);
    }
    drop(inner);
    client.tracking.flags = flags;
    if !was_on {
        t.clients.fetch_add(1, Ordering::Relaxed);
        crate::notify::refresh(server);
    }
    Ok(())
}

/// Two prefixes overlap when one starts with the other.
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// `disableTracking`: also called when the connection closes. Table
/// entries naming the client are dropped lazily, as Redis does.
pub fn disable(server: &Server, id: u64) {
    let t = &server.tracking;
    let mut inner = t.inner.lock();
    let Some(c) = inner.clients.remove(&id) else {
        return;
    };
    for p in &c.prefixes {
        let empty = match inner.prefixes.get_mut(p) {
            Some(st) => {
                st.clients.remove(&id);
                st.clients.is_empty()
            }
            None => false,
        };
        if empty {
            inner.prefixes.remove(p);
        }
    }
    inner.pending.retain(|(i, _)| *i != id);
    drop(inner);
    if c.flags & tflags::ON != 0 {
        t.clients.fetch_sub(1, Ordering::Relaxed);
        crate::notify::refresh(server);
    }
}

/// CLIENT CACHING YES|NO.
pub fn set_caching(
    server: &Server,
    client: &mut ClientState,
    yes: Option<bool>,
) -> Result<(), &'static str> {
    let f = client.tracking.flags;
    if f & tflags::ON == 0 {
        return Err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    }
    match yes {
        Some(true) if f & tflags::OPTIN == 0 => {
            return Err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            )
        }
        Some(false) if f & tflags::OPTOUT == 0 => {
            return Err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            )
        }
        None => return Err(crate::error::SYNTAX),
        _ => {}
    }
    client.tracking.flags |= tflags::CACHING;
    if let Some(c) = server.tracking.inner.lock().clients.get_mut(&client.id) {
        c.flags |= tflags::CACHING;
    }
    Ok(())
}

/// CLIENT TRACKINGINFO / GETREDIR data: (flags, redirect, prefixes);
/// redirect is -1 when tracking is off.
pub fn info(server: &Server, client: &ClientState) -> (u32, i64, Vec<Vec<u8>>) {
    let inner = server.tracking.inner.lock();
    match inner.clients.get(&client.id) {
        Some(c) if c.flags & tflags::ON != 0 => (
            c.flags | (client.tracking.flags & tflags::CACHING),
            c.redirect as i64,
            c.prefixes.iter().cloned().collect(),
        ),
        _ => (0, -1, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_overlap() {
        assert!(overlaps(b"a", b"ab"));
        assert!(overlaps(b"ab", b"a"));
        assert!(overlaps(b"", b"x"));
        assert!(!overlaps(b"ab", b"ac"));
    }

    #[test]
    fn bcast_encoding_skips_own_keys() {
        let mut keys = BTreeMap::new();
        keys.insert(b"b".to_vec(), 7);
        keys.insert(b"a".to_vec(), 0);
        assert_eq!(
            encode_keys(&keys, None).as_deref(),
            Some(&b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"[..])
        );
        assert_eq!(
            encode_keys(&keys, Some(7)).as_deref(),
            Some(&b"*1\r\n$1\r\na\r\n"[..])
        );
        keys.remove(&b"a"[..]);
        assert_eq!(encode_keys(&keys, Some(7)), None);
    }
}
