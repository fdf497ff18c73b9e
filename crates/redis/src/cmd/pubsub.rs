//! Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH,
//! SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH and PUBSUB.
//!
//! The node-wide registry ([`PubSub`], in `Server::pubsub`) maps channels,
//! patterns and shard channels to their subscribers' [`ClientShared`]; each
//! connection keeps its own subscription sets in `ClientState::pubsub` (only
//! it changes them) and mirrors their sizes into `ClientShared` for CLIENT
//! LIST and the RESP2 subscribed-mode check in dispatch.
//!
//! Delivery: PUBLISH encodes a message once per protocol version and appends
//! it to each receiver's push buffer (`ClientShared::push_limited`), which
//! wakes the receiver's connection task. The publisher never waits for a
//! subscriber: a subscriber whose pending bytes pass
//! `client-output-buffer-limit pubsub` is killed instead. A message to the
//! publishing client itself (RESP3) goes straight into its reply buffer, so
//! it comes before PUBLISH's own reply, as in Redis.

use crate::client::{ClientShared, ClientState};
use crate::ctx::Ctx;
use crate::error::CmdResult;
use crate::server::Server;
use crate::spec::{flags::*, CommandSpec};
use ferrocache_engine::glob::glob_match;
use ferrocache_protocol::ReplyWriter;
use parking_lot::RwLock;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, PS_SUB, (0, 0, 0), subscribe).doc(
        "pubsub",
        "2.0.0",
        "Listen for messages published to the given channels",
        "O(N) where N is the number of channels to subscribe to.",
    ),
    CommandSpec::new("unsubscribe", -1, PS_SUB, (0, 0, 0), unsubscribe).doc(
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to the given channels",
        "O(N) where N is the number of clients already subscribed to a channel.",
    ),
    CommandSpec::new("psubscribe", -2, PS_SUB, (0, 0, 0), psubscribe).doc(
        "pubsub",
        "2.0.0",
        "Listen for messages published to channels matching the given patterns",
        "O(N) where N is the number of patterns the client is already subscribed to.",
    ),
    CommandSpec::new("punsubscribe", -1, PS_SUB, (0, 0, 0), punsubscribe).doc(
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to channels matching the given patterns",
        "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
    ),
    CommandSpec::new("publish", 3, PS_PUB, (0, 0, 0), publish).doc(
        "pubsub",
        "2.0.0",
        "Post a message to a channel",
        "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
    ),
    CommandSpec::new("ssubscribe", -2, PS_SUB, (1, -1, 1), ssubscribe).doc(
        "pubsub",
        "7.0.0",
        "Listen for messages published to the given shard channels",
        "O(N) where N is the number of shard channels to subscribe to.",
    ),
    CommandSpec::new("sunsubscribe", -1, PS_SUB, (1, -1, 1), sunsubscribe).doc(
        "pubsub",
        "7.0.0",
        "Stop listening for messages posted to the given shard channels",
        "O(N) where N is the number of clients already subscribed to a shard channel.",
    ),
    CommandSpec::new("spublish", 3, PS_PUB, (1, 1, 1), spublish).doc(
        "pubsub",
        "7.0.0",
        "Post a message to a shard channel",
        "O(N) where N is the number of clients subscribed to the receiving shard channel.",
    ),
    CommandSpec::container("pubsub", -2, PUBSUB_SUBS).doc(
        "pubsub",
        "2.8.0",
        "A container for Pub/Sub commands",
        "Depends on subcommand.",
    ),
];

/// Flags of the subscribe/unsubscribe commands (COMMAND INFO of 7.0).
const PS_SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
/// Flags of PUBLISH/SPUBLISH.
const PS_PUB: u32 = PUBSUB | LOADING | STALE | FAST;
const PS_INTRO: u32 = PUBSUB | LOADING | STALE;

/// In the order redis-server 7.0 lists them in COMMAND INFO.
static PUBSUB_SUBS: &[CommandSpec] = &[
    CommandSpec::new("numpat", 2, PS_INTRO, (0, 0, 0), pubsub_numpat).doc(
        "pubsub",
        "2.8.0",
        "Get the count of unique patterns pattern subscriptions",
        "O(1)",
    ),
    CommandSpec::new("numsub", -2, PS_INTRO, (0, 0, 0), pubsub_numsub).doc(
        "pubsub",
        "2.8.0",
        "Get the count of subscribers for channels",
        "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
    ),
    CommandSpec::new("shardchannels", -2, PS_INTRO, (0, 0, 0), pubsub_shardchannels).doc(
        "pubsub",
        "7.0.0",
        "List active shard channels",
        "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
    ),
    CommandSpec::new("channels", -2, PS_INTRO, (0, 0, 0), pubsub_channels).doc(
        "pubsub",
        "2.8.0",
        "List active channels",
        "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
    ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), pubsub_help).doc(
        "pubsub",
        "6.2.0",
        "Show helpful text about the different subcommands",
        "O(1)",
    ),
    CommandSpec::new("shardnumsub", -2, PS_INTRO, (0, 0, 0), pubsub_shardnumsub).doc(
        "pubsub",
        "7.0.0",
        "Get the count of subscribers for shard channels",
        "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
    ),
];

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn sub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// One connection's subscriptions. Ordered sets: UNSUBSCRIBE without
/// arguments then answers in a stable order (Redis's is its dict's, which
/// depends on a per-process hash seed, so clients cannot rely on any).
#[derive(Debug, Default)]
pub struct Subscriptions {
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shard: BTreeSet<Vec<u8>>,
    /// `patterns` in subscription order: Redis 7.0 keeps a client's
    /// patterns in a list, so PUNSUBSCRIBE without arguments answers in that
    /// order (unlike channels, which live in a randomly seeded dict).
    pattern_order: Vec<Vec<u8>>,
}

impl Subscriptions {
    fn set_mut(&mut self, kind: Kind) -> &mut BTreeSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count SUBSCRIBE & co. reply with: channels plus patterns for the
    /// classic commands, shard channels alone for the sharded ones (Redis's
    /// `clientSubscriptionsCount` / `clientShardSubscriptionsCount`).
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

type Subscribers = Vec<Arc<ClientShared>>;

#[derive(Debug, Default)]
struct Registry {
    channels: HashMap<Vec<u8>, Subscribers>,
    patterns: HashMap<Vec<u8>, Subscribers>,
    shard: HashMap<Vec<u8>, Subscribers>,
}

impl Registry {
    fn map_mut(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, Subscribers> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    fn map(&self, kind: Kind) -> &HashMap<Vec<u8>, Subscribers> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    fn add(&mut self, kind: Kind, name: &[u8], c: &Arc<ClientShared>) {
        self.map_mut(kind)
            .entry(name.to_vec())
            .or_default()
            .push(c.clone());
    }

    /// Drop `id` from `name`'s subscribers; the entry goes with its last one.
    fn remove(&mut self, kind: Kind, name: &[u8], id: u64) {
        let map = self.map_mut(kind);
        if let Some(subs) = map.get_mut(name) {
            if let Some(i) = subs.iter().position(|c| c.id == id) {
                subs.remove(i);
            }
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// The node's channel/pattern/shard-channel → subscribers registry. A
/// read-write lock: PUBLISH (the hot path) only reads it.
#[derive(Debug, Default)]
pub struct PubSub {
    inner: RwLock<Registry>,
}

/// A message encoded once per protocol version, on first need.
struct Encoded<'m> {
    parts: [&'m [u8]; 4],
    n: usize,
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl<'m> Encoded<'m> {
    fn new(parts: [&'m [u8]; 4], n: usize) -> Self {
        Encoded {
            parts,
            n,
            resp2: None,
            resp3: None,
        }
    }

    fn get(&mut self, resp3: bool) -> &[u8] {
        let (slot, head) = if resp3 {
            (&mut self.resp3, b'>')
        } else {
            (&mut self.resp2, b'*')
        };
        let parts = &self.parts[..self.n];
        slot.get_or_insert_with(|| {
            let len: usize = parts.iter().map(|p| p.len() + 16).sum();
            let mut v = Vec::with_capacity(len + 8);
            v.push(head);
            push_num(&mut v, parts.len());
            for p in parts {
                v.push(b'$');
                push_num(&mut v, p.len());
                v.extend_from_slice(p);
                v.extend_from_slice(b"\r\n");
            }
            v
        })
    }
}

fn push_num(v: &mut Vec<u8>, n: usize) {
    let mut b = itoa::Buffer::new();
    v.extend_from_slice(b.format(n).as_bytes());
    v.extend_from_slice(b"\r\n");
}

impl PubSub {
    /// (channels, patterns, shard channels) with at least one subscriber:
    /// INFO's `pubsub_channels`, `pubsub_patterns`, `pubsubshard_channels`.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let r = self.inner.read();
        (r.channels.len(), r.patterns.len(), r.shard.len())
    }

    /// Deliver `message` on `channel` to every subscriber (and, unless
    /// `shard`, every matching pattern subscriber); returns the number of
    /// deliveries, as PUBLISH replies. A receiver with id `me` gets its copy
    /// in `me_out` instead of its push buffer. Usable by any part of the
    /// server (keyspace notifications).
    pub fn publish(
        &self,
        server: &Server,
        channel: &[u8],
        message: &[u8],
        shard: bool,
        mut me: Option<(u64, &mut ReplyWriter)>,
    ) -> usize {
        let hot = server.config.hot();
        let limit = (
            hot.obuf_pubsub_hard.load(Ordering::Relaxed),
            hot.obuf_pubsub_soft.load(Ordering::Relaxed),
            hot.obuf_pubsub_secs.load(Ordering::Relaxed),
        );
        let mut deliver = |c: &Arc<ClientShared>, enc: &mut Encoded<'_>| {
            if let Some((id, out)) = me.as_mut() {
                if c.id == *id {
                    // At the push mark: where Redis's write into the
                    // running client's buffer lands (see ReplyWriter).
                    let resp3 = c.resp.load(Ordering::Relaxed) == 3;
                    out.push_own(enc.get(resp3));
                    return;
                }
            }
            let resp3 = c.resp.load(Ordering::Relaxed) == 3;
            c.push_limited(enc.get(resp3), limit);
        };
        let r = self.inner.read();
        let mut receivers = 0;
        let (kind, map) = if shard {
            (&b"smessage"[..], &r.shard)
        } else {
            (&b"message"[..], &r.channels)
        };
        if let Some(subs) = map.get(channel) {
            let mut enc = Encoded::new([kind, channel, message, b""], 3);
            for c in subs {
                deliver(c, &mut enc);
                receivers += 1;
            }
        }
        if !shard {
            for (pat, subs) in &r.patterns {
                if !glob_match(pat, channel, false) {
                    continue;
                }
                let mut enc = Encoded::new([b"pmessage", pat, channel, message], 4);
                for c in subs {
                    deliver(c, &mut enc);
                    receivers += 1;
                }
            }
        }
        receivers
    }
}

/// Mirror a client's subscription counts into its shared state.
fn sync_counts(client: &ClientState) {
    let s = &client.shared;
    let p = &client.pubsub;
    s.subs.store(p.channels.len(), Ordering::Relaxed);
    s.psubs.store(p.patterns.len(), Ordering::Relaxed);
    s.ssubs.store(p.shard.len(), Ordering::Relaxed);
}

/// One confirmation: `[kind, name or nil, count]`, a push in RESP3.
fn confirm(out: &mut ReplyWriter, what: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(what);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn do_subscribe(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let shared = ctx.client.shared.clone();
    {
        let mut reg = ctx.server.pubsub.inner.write();
        for name in &argv[1..] {
            if ctx.client.pubsub.set_mut(kind).insert(name.to_vec()) {
                reg.add(kind, name, &shared);
                if kind == Kind::Pattern {
                    ctx.client.pubsub.pattern_order.push(name.to_vec());
                }
            }
            let count = ctx.client.pubsub.count(kind);
            confirm(ctx.out, kind.sub_name(), Some(name), count);
        }
    }
    sync_counts(ctx.client);
    Ok(())
}

/// Unsubscribe `names` (all of `kind` when empty), writing confirmations to
/// `out` when given.
fn do_unsubscribe(
    server: &Server,
    client: &mut ClientState,
    mut out: Option<&mut ReplyWriter>,
    names: &[&[u8]],
    kind: Kind,
) {
    let id = client.id;
    {
        let mut reg = server.pubsub.inner.write();
        if names.is_empty() {
            let set = std::mem::take(client.pubsub.set_mut(kind));
            let all: Vec<Vec<u8>> = if kind == Kind::Pattern {
                std::mem::take(&mut client.pubsub.pattern_order)
            } else {
                set.into_iter().collect()
            };
            if all.is_empty() {
                if let Some(o) = out.as_deref_mut() {
                    confirm(o, kind.unsub_name(), None, client.pubsub.count(kind));
                }
            }
            let mut left = all.len();
            for name in &all {
                reg.remove(kind, name, id);
                left -= 1;
                if let Some(o) = out.as_deref_mut() {
                    // The taken set is empty now, so `count` is the rest.
                    let count = left + client.pubsub.count(kind);
                    confirm(o, kind.unsub_name(), Some(name), count);
                }
            }
        } else {
            for name in names {
                if client.pubsub.set_mut(kind).remove(*name) {
                    reg.remove(kind, name, id);
                    if kind == Kind::Pattern {
                        client
                            .pubsub
                            .pattern_order
                            .retain(|p| p.as_slice() != *name);
                    }
                }
                if let Some(o) = out.as_deref_mut() {
                    confirm(o, kind.unsub_name(), Some(name), client.pubsub.count(kind));
                }
            }
        }
    }
    sync_counts(client);
}

/// Drop every subscription of `client` (RESET, disconnect).
pub fn unsubscribe_all(server: &Server, client: &mut ClientState) {
    if client.pubsub.is_empty() {
        return;
    }
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        do_unsubscribe(server, client, None, &[], kind);
    }
}

fn subscribe(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    do_subscribe(ctx, argv, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    do_subscribe(ctx, argv, Kind::Pattern)
}

/// Redis 7.0 refuses SSUBSCRIBE from a client that may not block (inside
/// EXEC), while SUBSCRIBE and PSUBSCRIBE are allowed there.
fn ssubscribe(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if ctx.client.deny_blocking {
        return crate::error::err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    }
    do_subscribe(ctx, argv, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    do_unsubscribe(
        ctx.server,
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Channel,
    );
    Ok(())
}

fn punsubscribe(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    do_unsubscribe(
        ctx.server,
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Pattern,
    );
    Ok(())
}

fn sunsubscribe(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    do_unsubscribe(
        ctx.server,
        ctx.client,
        Some(ctx.out),
        &argv[1..],
        Kind::Shard,
    );
    Ok(())
}

fn publish_kind(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], shard: bool) -> CmdResult {
    let id = ctx.client.id;
    let n = ctx.server.pubsub.publish(
        ctx.server,
        argv[1],
        argv[2],
        shard,
        Some((id, &mut *ctx.out)),
    );
    ctx.out.int(n as i64);
    Ok(())
}

fn publish(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    publish_kind(ctx, argv, false)
}

fn spublish(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    publish_kind(ctx, argv, true)
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern].
fn list_channels(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    if argv.len() > 3 {
        return Err(super::server::subcommand_syntax_error(argv));
    }
    let pat = argv.get(2).copied();
    let reg = ctx.server.pubsub.inner.read();
    let map = reg.map(kind);
    let names: Vec<&Vec<u8>> = map
        .keys()
        .filter(|k| pat.is_none_or(|p| glob_match(p, k, false)))
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n);
    }
    Ok(())
}

/// PUBSUB NUMSUB / SHARDNUMSUB [channel ...]: a flat array of pairs (not a
/// map, even in RESP3, as Redis).
fn num_subs(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let reg = ctx.server.pubsub.inner.read();
    let map = reg.map(kind);
    ctx.out.array((argv.len() - 2) * 2);
    for ch in &argv[2..] {
        ctx.out.bulk(ch);
        ctx.out.int(map.get(*ch).map_or(0, Vec::len) as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    list_channels(ctx, argv, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    list_channels(ctx, argv, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    num_subs(ctx, argv, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    num_subs(ctx, argv, Kind::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.server.pubsub.sizes().1;
    ctx.out.int(n as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    super::server::reply_help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}

/// Is `name` (a top-level command) one RESP2 subscribed mode allows?
pub fn allowed_in_subscribed_mode(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_messages_per_protocol() {
        let mut e = Encoded::new([b"message", b"ch", b"hi", b""], 3);
        assert_eq!(
            e.get(false),
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            e.get(true),
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        let mut p = Encoded::new([b"pmessage", b"c*", b"ch", b""], 4);
        assert_eq!(
            p.get(false),
            b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn counts_follow_redis() {
        let mut s = Subscriptions::default();
        s.set_mut(Kind::Channel).insert(b"a".to_vec());
        s.set_mut(Kind::Pattern).insert(b"p*".to_vec());
        s.set_mut(Kind::Shard).insert(b"s".to_vec());
        assert_eq!(s.count(Kind::Channel), 2);
        assert_eq!(s.count(Kind::Pattern), 2);
        assert_eq!(s.count(Kind::Shard), 1);
        assert!(!s.is_empty());
    }

    #[test]
    fn registry_drops_empty_entries() {
        let c = Arc::new(ClientShared::new(7, None, None));
        let mut r = Registry::default();
        r.add(Kind::Channel, b"x", &c);
        assert_eq!(r.channels.len(), 1);
        r.remove(Kind::Channel, b"x", 7);
        assert!(r.channels.is_empty());
        r.remove(Kind::Channel, b"missing", 7);
    }
}
