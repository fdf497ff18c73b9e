//! Keyspace notifications (`notify-keyspace-events`), as Redis 7.0's
//! `notify.c`, and the "key modified" signal client-side caching hangs on.
//!
//! Write handlers call [`notify`] once per event, right after the write, with
//! Redis's class and event name (`notifyKeyspaceEvent` calls in `t_*.c`,
//! `db.c`, `expire.c`...). That one call also does Redis's
//! `signalModifiedKey` for client tracking (every Redis write pairs the two;
//! `new` and `keymiss` are not modifications). With notifications off and
//! nobody tracking it costs two relaxed loads.
//!
//! Events the engine produces by itself (lazy/active `expired`, `evicted`,
//! `keymiss` on read misses, `new` on key creation) are recorded in
//! `Db::key_events` while someone listens ([`refresh`] sets the engine's
//! mask) and published here: before the next event of the running command
//! (so `expired`/`new` come first, as in Redis), after the handler, after
//! eviction, and by the cron for active expiry.
//!
//! Messages go through pub/sub: `__keyspace@<db>__:<key>` carries the event,
//! `__keyevent@<db>__:<event>` the key. A RESP3 subscriber that is itself
//! running the command gets them in its own reply buffer, where Redis 7.0
//! writes them (`addReplyPubsubMessage` into the current client while the
//! command runs): at the buffer's push mark (`ReplyWriter::push_own`),
//! which `dispatch::invoke` sets to the start of each command's reply, so
//! by default they precede the reply, as for most Redis commands (SET,
//! DEL, reads' `keymiss`...). Handlers whose Redis counterpart replies
//! first (LPUSH, HSET, ZADD, the *STORE commands...) notify with
//! [`notify_replied`], or [`notify_at`] a position inside their reply
//! (ZPOPMIN after its array header); no extra cost when nobody listens. Inside MULTI/EXEC each
//! queued command sets its own mark (the pushes land inside EXEC's array,
//! as in Redis 7.0); a script's `redis.call` collects them aside and they
//! go before the script's reply.

use crate::ctx::Ctx;
use crate::server::Server;
use crate::tracking::{self, Me};
use ferrocache_engine::{Blob, KeyEvent, Locked};
use ferrocache_protocol::ReplyWriter;
use std::sync::atomic::Ordering;

/// Event classes (`notify.c` flag bits; the same as config.rs parses).
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;

/// Emit `event` of `class` for `key` in the client's selected database.
#[inline]
pub fn notify(ctx: &mut Ctx<'_, '_>, class: u32, event: &str, key: &[u8]) {
    let db = ctx.client.db;
    notify_db(ctx, db, class, event, key);
}

/// [`notify`] for a key in database `db` (MOVE, COPY ... DB).
#[inline]
pub fn notify_db(ctx: &mut Ctx<'_, '_>, db: usize, class: u32, event: &str, key: &[u8]) {
    let on = ctx
        .server
        .config
        .hot()
        .notify_keyspace_events
        .load(Ordering::Relaxed);
    if on == 0 && !ctx.server.tracking.active() {
        return;
    }
    notify_slow(ctx, db, class, event, key);
}

/// Emit `event` without Redis's `signalModifiedKey`: for the places where
/// Redis notifies without signalling (XGROUP subcommands, consumers
/// created by XREADGROUP/XCLAIM/XAUTOCLAIM, XADD's trim), so tracking
/// clients get no invalidation from them.
#[inline]
pub fn notify_only(ctx: &mut Ctx<'_, '_>, class: u32, event: &str, key: &[u8]) {
    let on = ctx
        .server
        .config
        .hot()
        .notify_keyspace_events
        .load(Ordering::Relaxed);
    if on == 0 {
        return;
    }
    let db = ctx.client.db;
    emit_slow(ctx, db, class, event, key, false);
}

/// Redis's `signalModifiedKey` alone (no event): a write Redis does not
/// announce on the keyspace channels, such as XGROUP CREATE MKSTREAM's
/// stream creation.
#[inline]
pub fn signal_modified(ctx: &mut Ctx<'_, '_>, key: &[u8]) {
    if !ctx.server.tracking.active() {
        return;
    }
    let server = ctx.server;
    let id = ctx.client.id;
    let mut me: Me<'_> = Some((id, &mut *ctx.out));
    drain_locked(server, &mut ctx.ks, &mut me);
    tracking::invalidate_key(server, key, true, me);
}

/// Publish the engine's pending events (`new`, `keymiss`, `expired`) now,
/// so that the running client, if subscribed, gets them before the reply
/// the handler writes next (Redis publishes them at lookup time).
#[inline]
pub fn flush(ctx: &mut Ctx<'_, '_>) {
    if !pending(ctx.server) {
        return;
    }
    let server = ctx.server;
    let id = ctx.client.id;
    let mut me: Me<'_> = Some((id, &mut *ctx.out));
    drain_locked(server, &mut ctx.ks, &mut me);
}

/// The reply written so far comes, in Redis, before the events this
/// command emits from now on (its handler replies, then notifies): the
/// engine's pending events (a `new` at creation, a `keymiss` at lookup,
/// which happened earlier) go out first at the push mark, then the mark
/// moves to the end. For the GET forms of SET, where Redis replies before
/// the write creates the key; handlers that notify right away use
/// [`notify_replied`], which costs nothing more than [`notify`].
#[inline]
pub fn replied(ctx: &mut Ctx<'_, '_>) {
    flush(ctx);
    ctx.out.mark_here();
}

/// Engine events pending now (a lookup's `keymiss`) go at the end of what
/// is written so far: MGET's, before each missing key's null.
#[inline]
pub fn flush_here(ctx: &mut Ctx<'_, '_>) {
    if !pending(ctx.server) {
        return;
    }
    ctx.out.mark_here();
    flush(ctx);
}

/// Would [`notify`] do anything (notifications on, or someone tracking)?
/// The same loads as its own check.
#[inline]
fn listening(ctx: &Ctx<'_, '_>) -> bool {
    ctx.server
        .config
        .hot()
        .notify_keyspace_events
        .load(Ordering::Relaxed)
        != 0
        || ctx.server.tracking.active()
}

/// [`notify`] for a handler that has written its reply first, as its
/// Redis counterpart does (`addReply`, then `notifyKeyspaceEvent`): the
/// event (and anything later) follows the reply written so far, while the
/// engine's earlier events (`new`, `keymiss`) go before it. Same cost as
/// [`notify`] when nobody listens.
#[inline]
pub fn notify_replied(ctx: &mut Ctx<'_, '_>, class: u32, event: &str, key: &[u8]) {
    emit_placed(ctx, None, class, event, key, true);
}

/// [`notify`] with the event placed at `pos`, a `ctx.out.len()` taken
/// earlier in this reply: where Redis notifies in the middle of its reply,
/// e.g. after ZPOPMIN's array header and before the elements.
#[inline]
pub fn notify_at(ctx: &mut Ctx<'_, '_>, pos: usize, class: u32, event: &str, key: &[u8]) {
    emit_placed(ctx, Some(pos), class, event, key, true);
}

/// [`notify_only`] after the reply written so far ([`notify_replied`]).
#[inline]
pub fn notify_only_replied(ctx: &mut Ctx<'_, '_>, class: u32, event: &str, key: &[u8]) {
    emit_placed(ctx, None, class, event, key, false);
}

/// [`notify_only`] at reply position `pos` ([`notify_at`]).
#[inline]
pub fn notify_only_at(ctx: &mut Ctx<'_, '_>, pos: usize, class: u32, event: &str, key: &[u8]) {
    emit_placed(ctx, Some(pos), class, event, key, false);
}

/// The four placed forms above: publish the engine's earlier events at
/// the current push mark, move the mark (to `pos`, or to the end of the
/// reply), then emit the event; `signal` also invalidates tracked copies
/// (the [`notify`] forms) rather than only publishing ([`notify_only`]).
/// The check is the same one relaxed load (two with `signal`) as theirs.
#[inline]
fn emit_placed(
    ctx: &mut Ctx<'_, '_>,
    pos: Option<usize>,
    class: u32,
    event: &str,
    key: &[u8],
    signal: bool,
) {
    let on = if signal {
        listening(ctx)
    } else {
        notifying(ctx)
    };
    if !on {
        return;
    }
    flush(ctx);
    match pos {
        Some(p) => ctx.out.set_push_mark(p),
        None => ctx.out.mark_here(),
    }
    let db = ctx.client.db;
    if signal {
        notify_slow(ctx, db, class, event, key);
    } else {
        emit_slow(ctx, db, class, event, key, false);
    }
}

/// Are keyspace notifications on at all? (One relaxed load.)
#[inline]
fn notifying(ctx: &Ctx<'_, '_>) -> bool {
    ctx.server
        .config
        .hot()
        .notify_keyspace_events
        .load(Ordering::Relaxed)
        != 0
}

/// [`flush`] into `w` (a reply being built aside, XREAD's body) at its
/// push mark, for the running client's own events.
pub fn flush_into(ctx: &mut Ctx<'_, '_>, w: &mut ReplyWriter) {
    if !pending(ctx.server) {
        return;
    }
    let server = ctx.server;
    let id = ctx.client.id;
    let mut me: Me<'_> = Some((id, w));
    drain_locked(server, &mut ctx.ks, &mut me);
}

/// [`notify_only`] with the running client's own copy written into `w`
/// at its push mark instead of the connection's buffer.
pub fn notify_only_into(
    ctx: &mut Ctx<'_, '_>,
    w: &mut ReplyWriter,
    class: u32,
    event: &str,
    key: &[u8],
) {
    if !notifying(ctx) {
        return;
    }
    let server = ctx.server;
    let db = ctx.client.db;
    let id = ctx.client.id;
    let mut me: Me<'_> = Some((id, w));
    drain_locked(server, &mut ctx.ks, &mut me);
    publish(server, class, event, key, db, me);
}

#[cold]
fn notify_slow(ctx: &mut Ctx<'_, '_>, db: usize, class: u32, event: &str, key: &[u8]) {
    emit_slow(ctx, db, class, event, key, class & (NEW | KEY_MISS) == 0);
}

#[cold]
fn emit_slow(ctx: &mut Ctx<'_, '_>, db: usize, class: u32, event: &str, key: &[u8], signal: bool) {
    let server = ctx.server;
    let id = ctx.client.id;
    let mut me: Me<'_> = Some((id, &mut *ctx.out));
    drain_locked(server, &mut ctx.ks, &mut me);
    if signal {
        tracking::invalidate_key(server, key, true, reborrow(&mut me));
    }
    publish(server, class, event, key, db, me);
}

fn reborrow<'a>(me: &'a mut Me<'_>) -> Me<'a> {
    me.as_mut().map(|(id, o)| (*id, &mut **o))
}

/// Publish one event on the keyspace/keyevent channels, if its class is on
/// (`notifyKeyspaceEvent`).
pub fn publish(server: &Server, class: u32, event: &str, key: &[u8], db: usize, mut me: Me<'_>) {
    let flags = server
        .config
        .hot()
        .notify_keyspace_events
        .load(Ordering::Relaxed);
    if flags & class == 0 {
        return;
    }
    if flags & KEYSPACE != 0 {
        let mut chan = format!("__keyspace@{db}__:").into_bytes();
        chan.extend_from_slice(key);
        server
            .pubsub
            .publish(server, &chan, event.as_bytes(), false, reborrow(&mut me));
    }
    if flags & KEYEVENT != 0 {
        let chan = format!("__keyevent@{db}__:{event}");
        server
            .pubsub
            .publish(server, chan.as_bytes(), key, false, reborrow(&mut me));
    }
}

/// Are engine-recorded events waiting?
#[inline]
pub fn pending(server: &Server) -> bool {
    server
        .keyspace
        .tunables
        .key_events_pending
        .load(Ordering::Relaxed)
        > 0
}

/// Publish the engine-recorded events of the shards `ks` holds.
pub fn drain_locked(server: &Server, ks: &mut Locked<'_>, me: &mut Me<'_>) {
    if !pending(server) {
        return;
    }
    let mut events: Vec<(u64, usize, KeyEvent, Blob)> = Vec::new();
    for (_, shard) in ks.shards() {
        collect(server, &mut shard.dbs, &mut events);
    }
    emit(server, events, me);
}

/// Publish every shard's recorded events, locking one shard at a time
/// (callers hold no shard lock: after eviction, from the cron).
pub fn drain_all(server: &Server, me: &mut Me<'_>) {
    if !pending(server) {
        return;
    }
    let mut events: Vec<(u64, usize, KeyEvent, Blob)> = Vec::new();
    for s in 0..server.keyspace.shard_count() {
        if let Some(mut g) = server.keyspace.lock_shard(s) {
            collect(server, &mut g.dbs, &mut events);
        }
    }
    emit(server, events, me);
}

fn collect(
    server: &Server,
    dbs: &mut [ferrocache_engine::Db],
    out: &mut Vec<(u64, usize, KeyEvent, Blob)>,
) {
    for (i, d) in dbs.iter_mut().enumerate() {
        if d.key_events.is_empty() {
            continue;
        }
        let n = d.key_events.len();
        out.extend(d.key_events.drain(..).map(|(e, k, seq)| (seq, i, e, k)));
        let _ = server.keyspace.tunables.key_events_pending.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |p| Some(p.saturating_sub(n)),
        );
    }
}

fn emit(server: &Server, mut events: Vec<(u64, usize, KeyEvent, Blob)>, me: &mut Me<'_>) {
    // Shards record separately: put a multi-key command's events back in
    // the order they happened.
    events.sort_by_key(|e| e.0);
    for (_, db, ev, key) in events {
        match ev {
            // expire.c: notify, then signalModifiedKey.
            KeyEvent::Expired => {
                publish(server, EXPIRED, "expired", &key, db, reborrow(me));
                tracking::invalidate_key(server, &key, true, reborrow(me));
            }
            // evict.c: signalModifiedKey, then notify.
            KeyEvent::Evicted => {
                tracking::invalidate_key(server, &key, true, reborrow(me));
                publish(server, EVICTED, "evicted", &key, db, reborrow(me));
            }
            KeyEvent::Miss => publish(server, KEY_MISS, "keymiss", &key, db, reborrow(me)),
            KeyEvent::New => publish(server, NEW, "new", &key, db, reborrow(me)),
        }
    }
}

/// Recompute what the engine records (and the tracking table limit) from
/// the configuration and the tracking state: called when
/// `notify-keyspace-events` or `tracking-table-max-keys` may have changed
/// and when a client turns tracking on or off.
pub fn refresh(server: &Server) {
    let f = server
        .config
        .hot()
        .notify_keyspace_events
        .load(Ordering::Relaxed);
    let tracking = server.tracking.active();
    let channels = f & (KEYSPACE | KEYEVENT) != 0;
    let mut mask = 0;
    if tracking || (channels && f & EXPIRED != 0) {
        mask |= KeyEvent::Expired as u32;
    }
    if tracking || (channels && f & EVICTED != 0) {
        mask |= KeyEvent::Evicted as u32;
    }
    if channels && f & KEY_MISS != 0 {
        mask |= KeyEvent::Miss as u32;
    }
    if channels && f & NEW != 0 {
        mask |= KeyEvent::New as u32;
    }
    server
        .keyspace
        .tunables
        .key_events
        .store(mask, Ordering::Relaxed);
    let max = server
        .config
        .get("tracking-table-max-keys")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    server.tracking.max_keys.store(max, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_config_parser() {
        let f = |s| crate::config::keyspace_events_from_str(s).unwrap_or(u32::MAX);
        assert_eq!(f("K"), KEYSPACE);
        assert_eq!(f("E"), KEYEVENT);
        assert_eq!(
            f("g$lshzxetmdn"),
            GENERIC
                | STRING
                | LIST
                | SET
                | HASH
                | ZSET
                | EXPIRED
                | EVICTED
                | STREAM
                | KEY_MISS
                | MODULE
                | NEW
        );
        assert_eq!(f("A") & (KEY_MISS | NEW), 0);
    }
}
