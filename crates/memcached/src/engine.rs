//! The memcached store on top of the shared engine crate.
//!
//! Items are [`Value::Item`]s in database 0 of a [`Keyspace`] with one shard
//! per worker thread, so a request locks only the shard its key hashes to
//! and workers run in parallel. Expiry is the engine's: `Db::set_expire`
//! with memcached's exptime rules converted to absolute Unix ms
//! ([`Engine::expiry_at`]), lazy expiry on access and the engine's active
//! expiry cycle in the background. Memory is the process-wide counting
//! allocator: `-m` bounds heap growth since startup, enforced by the
//! engine's sampled-pool LRU eviction ([`Engine::make_room`]), the same
//! mechanism as the Redis node's `maxmemory`.

use crate::settings::Settings;
use ferrocache_engine::evict::{Evictor, Outcome};
use ferrocache_engine::keyspace::{EvictionPolicy, Tunables};
use ferrocache_engine::types::item::Item;
use ferrocache_engine::{memory, Keyspace, Value};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// memcached's `REALTIME_MAXDELTA`: larger exptimes are absolute Unix times.
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

macro_rules! counters {
    ($($v:ident => $n:literal),* $(,)?) => {
        /// Per-worker request counters (memcached's thread stats).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum C { $($v),* }
        /// `stats` names of [`C`], in order.
        pub const COUNTER_NAMES: &[&str] = &[$($n),*];
    };
}

counters!(
    CmdGet => "cmd_get", CmdSet => "cmd_set", CmdFlush => "cmd_flush",
    CmdTouch => "cmd_touch", CmdMeta => "cmd_meta", GetHits => "get_hits",
    GetMisses => "get_misses", GetExpired => "get_expired", GetFlushed => "get_flushed",
    DeleteMisses => "delete_misses", DeleteHits => "delete_hits",
    IncrMisses => "incr_misses", IncrHits => "incr_hits", DecrMisses => "decr_misses",
    DecrHits => "decr_hits", CasMisses => "cas_misses", CasHits => "cas_hits",
    CasBadval => "cas_badval", TouchHits => "touch_hits", TouchMisses => "touch_misses",
    StoreTooLarge => "store_too_large", StoreNoMemory => "store_no_memory",
    AuthCmds => "auth_cmds", AuthErrors => "auth_errors", BytesRead => "bytes_read",
    BytesWritten => "bytes_written", TotalItems => "total_items",
    CmdConfigGet => "cmd_config_get", CmdConfigSet => "cmd_config_set",
);

const NCOUNTERS: usize = COUNTER_NAMES.len();

/// One worker's counters on their own cache lines: workers never write a
/// line another worker writes, so counting costs no cross-core traffic.
#[repr(align(128))]
struct Counters([AtomicU64; NCOUNTERS]);

impl Default for Counters {
    fn default() -> Self {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// A storage mode (text command, meta `M` mode, binary opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
    /// Meta `ms` with `C` and `I`: like `Cas`, but a CAS *older* than the
    /// item's still stores, marking the item stale and keeping its TTL.
    CasStale,
}

/// Outcome of a store, as memcached's `store_item_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Stored(u64),
    NotStored,
    Exists,
    NotFound,
    NoMemory,
}

/// Outcome of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    NotFound,
    CasMismatch,
}

/// Outcome of incr/decr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// New value and CAS.
    Ok(u64, u64),
    NonNumeric,
    NotFound,
    CasMismatch,
}

/// The Auto Discovery cluster description (`config get cluster`).
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub version: u64,
    /// `host|ip|port` entries, sorted by host name.
    pub nodes: Vec<String>,
}

/// An item being read or changed by [`Engine::access`].
pub struct Access<'a> {
    pub item: &'a mut Item,
    /// Absolute expiry in Unix ms (`None`: never); may be changed.
    pub expire_at: Option<u64>,
    /// Seconds since the previous access.
    pub idle_s: u64,
    /// The request's clock (Unix ms).
    pub now: u64,
}

impl Access<'_> {
    /// Remaining TTL in whole seconds as memcached reports it (`-1`: none).
    pub fn ttl_secs(&self) -> i64 {
        match self.expire_at {
            None => -1,
            Some(at) => (at.saturating_sub(self.now).div_ceil(1000)) as i64,
        }
    }
}

/// Shared state of a memcached node.
pub struct Engine {
    pub ks: Keyspace,
    pub settings: Settings,
    /// `-m` / `cache_memlimit`, bytes.
    pub limit: AtomicU64,
    baseline: AtomicUsize,
    cas: AtomicU64,
    counters: Vec<Counters>,
    pub curr_conns: AtomicU64,
    pub total_conns: AtomicU64,
    pub rejected_conns: AtomicU64,
    pub started_ms: u64,
    pending_flush_ms: AtomicU64,
    pub verbosity: AtomicU32,
    pub cluster: RwLock<Cluster>,
    pub shutdown: AtomicBool,
    /// Bumped by `flush_all` so that waiting delayed flushes know.
    pub flushes: AtomicU64,
    /// The eviction pool behind `-m` (the engine's, as the Redis node's).
    evictor: Evictor,
    /// Listening sockets and open connections (`stats conns`).
    pub conns: crate::conns::Registry,
    /// `stats sizes_enable`: the first CAS unique the size histogram
    /// counts (memcached counts only items stored after enabling); None
    /// while disabled.
    pub sizes_cas_min: parking_lot::Mutex<Option<u64>>,
}

impl Engine {
    pub fn new(settings: Settings) -> Arc<Engine> {
        let tunables = Arc::new(Tunables::default());
        let shards = settings.threads.max(1);
        let ks = Keyspace::new(shards, 1, tunables);
        let limit = AtomicU64::new(settings.maxbytes);
        let verbosity = AtomicU32::new(settings.verbose);
        Arc::new(Engine {
            ks,
            counters: (0..shards).map(|_| Counters::default()).collect(),
            settings,
            limit,
            baseline: AtomicUsize::new(memory::used_memory()),
            cas: AtomicU64::new(0),
            curr_conns: AtomicU64::new(0),
            total_conns: AtomicU64::new(0),
            rejected_conns: AtomicU64::new(0),
            started_ms: ferrocache_engine::clock::now_ms(),
            pending_flush_ms: AtomicU64::new(0),
            verbosity,
            cluster: RwLock::new(Cluster::default()),
            shutdown: AtomicBool::new(false),
            flushes: AtomicU64::new(0),
            evictor: Evictor::new(),
            conns: Default::default(),
            sizes_cas_min: parking_lot::Mutex::new(None),
        })
    }

    /// Record the heap in use once the node is up: `-m` counts growth
    /// from here (items, index, connection buffers), as memcached's limit
    /// counts item memory and not the process's fixed overhead.
    pub fn set_baseline(&self) {
        self.baseline
            .store(memory::used_memory(), Ordering::Relaxed);
    }

    /// Heap bytes used since [`Engine::set_baseline`].
    pub fn used_bytes(&self) -> u64 {
        memory::used_memory().saturating_sub(self.baseline.load(Ordering::Relaxed)) as u64
    }

    pub fn incr(&self, worker: usize, c: C) {
        self.add(worker, c, 1);
    }

    pub fn add(&self, worker: usize, c: C, n: u64) {
        let w = worker % self.counters.len().max(1);
        if let Some(a) = self.counters.get(w).and_then(|s| s.0.get(c as usize)) {
            a.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Sum of a counter over workers.
    pub fn counter(&self, c: C) -> u64 {
        self.counters
            .iter()
            .filter_map(|s| s.0.get(c as usize))
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }

    /// `stats reset`.
    pub fn reset_counters(&self) {
        for s in &self.counters {
            for (i, a) in s.0.iter().enumerate() {
                if i != C::TotalItems as usize {
                    a.store(0, Ordering::Relaxed);
                }
            }
        }
        self.total_conns.store(0, Ordering::Relaxed);
        self.rejected_conns.store(0, Ordering::Relaxed);
        let mut l = self.ks.lock_all(self.now());
        for d in l.each_db(0) {
            d.stats = Default::default();
        }
    }

    /// The next CAS unique to be handed out (without taking it).
    pub fn peek_cas(&self) -> u64 {
        self.cas.load(Ordering::Relaxed) + 1
    }

    /// A new CAS unique (memcached's `get_cas_id`), or 0 with `-C`.
    pub fn next_cas(&self) -> u64 {
        if self.settings.cas_enabled {
            self.cas.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            0
        }
    }

    pub fn now(&self) -> u64 {
        ferrocache_engine::clock::now_ms()
    }

    /// memcached's `realtime()` as an absolute expiry in Unix ms: 0 never
    /// expires, up to 30 days is relative, larger is an absolute Unix time,
    /// negative means already expired.
    pub fn expiry_at(&self, exptime: i64, now_ms: u64) -> Option<u64> {
        if exptime == 0 {
            None
        } else if exptime < 0 {
            Some(1)
        } else if exptime > REALTIME_MAXDELTA {
            Some((exptime as u64).saturating_mul(1000).max(1))
        } else {
            Some(now_ms + exptime as u64 * 1000)
        }
    }

    /// memcached's `item_size_ok`: header (48) + CAS (8) + key + NUL +
    /// value + CRLF + flags suffix must fit `-I`.
    pub fn item_size_ok(&self, nkey: usize, flags: u32, vlen: usize) -> bool {
        let suffix = if flags == 0 { 0 } else { 4 };
        let cas = if self.settings.cas_enabled { 8 } else { 0 };
        48 + cas + nkey + 1 + vlen + 2 + suffix <= self.settings.item_size_max
    }

    /// Run a delayed `flush_all` whose time has come.
    pub fn maybe_flush(&self, now: u64) {
        let at = self.pending_flush_ms.load(Ordering::Relaxed);
        if at != 0
            && now >= at
            && self
                .pending_flush_ms
                .compare_exchange(at, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.flush_now(now);
        }
    }

    fn flush_now(&self, now: u64) {
        let mut l = self.ks.lock_all(now);
        for d in l.each_db(0) {
            d.clear();
        }
    }

    /// `flush_all [delay]`.
    pub fn flush_all(&self, delay: i64) {
        let now = self.now();
        if delay > 0 {
            if let Some(at) = self.expiry_at(delay, now) {
                self.pending_flush_ms.store(at.max(1), Ordering::Relaxed);
                return;
            }
        }
        self.pending_flush_ms.store(0, Ordering::Relaxed);
        self.flush_now(now);
    }

    /// Make room for an item costing about `need` bytes: while the heap
    /// grown since startup plus `need` exceeds `-m`, evict least recently
    /// used items with the engine's shared eviction pool (the mechanism
    /// behind the Redis node's `maxmemory`; [`ferrocache_engine::evict`]),
    /// from any shard. False when that is impossible (evictions disabled
    /// with `-M`, or nothing left to evict): the store fails with
    /// `SERVER_ERROR out of memory storing object`.
    ///
    /// Called before the key's shard is locked (eviction locks shards one
    /// at a time). Unlike a Redis command, a store is never let through
    /// over the limit, so `-m` is hard up to the margin documented in
    /// `docs/architecture.md`: items being stored concurrently by other
    /// workers (at most `-t` × `-I`) plus connection buffers.
    pub fn make_room(&self, need: usize) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 || !memory::accounting_enabled() {
            return true;
        }
        let over = || self.used_bytes() + need as u64 > limit;
        if !over() {
            return true;
        }
        if !self.settings.evictions {
            return false;
        }
        self.evictor
            .evict(&self.ks, EvictionPolicy::AllkeysLru, None, over)
            != Outcome::Stuck
    }

    /// memcached's `do_store_item` for one request.
    #[allow(clippy::too_many_arguments)]
    pub fn store(
        &self,
        worker: usize,
        mode: Mode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        cas_in: u64,
    ) -> Stored {
        let now = self.now();
        self.maybe_flush(now);
        // Like memcached's item_alloc, room is made (evicting if need be)
        // before the mode's conditions are checked.
        if !self.make_room(data.len() + key.len() + 64) {
            self.incr(worker, C::StoreNoMemory);
            return Stored::NoMemory;
        }
        let mut l = self.ks.lock_keys(std::iter::once(key), now);
        let db = l.db(0, key);
        let old = match db.get_mut(key).map(|e| &e.value) {
            Some(Value::Item(i)) => Some((i.cas(), i.flags())),
            _ => None,
        };
        let mut at = self.expiry_at(exptime, now);
        let mut stale = false;
        let res = match (old, mode) {
            (Some(_), Mode::Add) => return Stored::NotStored,
            (None, Mode::Replace | Mode::Append | Mode::Prepend) => return Stored::NotStored,
            (None, Mode::Cas | Mode::CasStale) => {
                self.incr(worker, C::CasMisses);
                return Stored::NotFound;
            }
            (Some((old_cas, _)), Mode::Cas | Mode::CasStale) => {
                if cas_in != 0 && cas_in == old_cas {
                    self.incr(worker, C::CasHits);
                    None
                } else if mode == Mode::CasStale && cas_in != 0 && cas_in < old_cas {
                    self.incr(worker, C::CasHits);
                    stale = true;
                    None
                } else {
                    self.incr(worker, C::CasBadval);
                    return Stored::Exists;
                }
            }
            (Some((old_cas, old_flags)), Mode::Append | Mode::Prepend) => {
                if cas_in != 0 && cas_in != old_cas {
                    return Stored::Exists;
                }
                Some(old_flags)
            }
            _ => None,
        };
        let cas = self.next_cas();
        match res {
            Some(old_flags) => {
                // Append / prepend keep the old flags and expiry.
                let Some(e) = db.get_mut(key) else {
                    return Stored::NotStored;
                };
                let Value::Item(old) = &e.value else {
                    return Stored::NotStored;
                };
                let total = old.data().len() + data.len();
                if !self.item_size_ok(key.len(), old_flags, total) {
                    return Stored::NotStored;
                }
                let item = if mode == Mode::Append {
                    Item::concat(old_flags, old.data(), data, cas)
                } else {
                    Item::concat(old_flags, data, old.data(), cas)
                };
                e.value = Value::Item(item);
                db.dirty += 1;
            }
            None => {
                let mut item = Item::new(flags, data, cas);
                if stale {
                    at = db.expire_at(key);
                    item.set_flag(Item::STALE, true);
                    if let Some(Value::Item(old)) = db.peek(key).map(|e| &e.value) {
                        item.set_flag(Item::TOKEN_SENT, old.has(Item::TOKEN_SENT));
                    }
                }
                db.set(key, Value::Item(item));
                if let Some(at) = at {
                    db.set_expire(key, at);
                }
            }
        }
        self.incr(worker, C::TotalItems);
        Stored::Stored(cas)
    }

    /// Drop an item whose replacement could not be stored (memcached
    /// unlinks the old value of a failed `set` so stale data does not
    /// linger).
    pub fn unlink(&self, key: &[u8]) {
        let now = self.now();
        let mut l = self.ks.lock_keys(std::iter::once(key), now);
        l.db(0, key).remove(key);
    }

    /// Look an item up (lazy expiry; LRU bump and fetched mark unless
    /// `!bump`) and let `f` read or change it, including its expiry.
    pub fn access<R>(
        &self,
        key: &[u8],
        bump: bool,
        f: impl FnOnce(&mut Access<'_>) -> R,
    ) -> Option<R> {
        self.access_at(key, bump, self.now(), f)
    }

    /// [`Engine::access`] at the request clock `now` (Unix ms), so a
    /// multi-get reads the clock once, not once per key.
    pub fn access_at<R>(
        &self,
        key: &[u8],
        bump: bool,
        now: u64,
        f: impl FnOnce(&mut Access<'_>) -> R,
    ) -> Option<R> {
        self.maybe_flush(now);
        let mut l = self.ks.lock_keys(std::iter::once(key), now);
        let db = l.db(0, key);
        let (r, before, after) = {
            let (e, before, old_access) = db.get_mut_with_ttl(key)?;
            if !bump {
                e.set_access(old_access);
            }
            let idle_s = idle_ms(old_access, now) / 1000;
            let Value::Item(item) = &mut e.value else {
                return None;
            };
            let mut a = Access {
                item,
                expire_at: before,
                idle_s,
                now,
            };
            let r = f(&mut a);
            let after = a.expire_at;
            if bump {
                a.item.set_flag(Item::FETCHED, true);
            }
            (r, before, after)
        };
        if after != before {
            match after {
                Some(at) => {
                    db.set_expire(key, at);
                }
                None => {
                    db.persist(key);
                }
            }
        }
        Some(r)
    }

    /// Before the keys of a multi-get are read one by one, start loading
    /// what their lookups touch (index group, slot, value), so the cache
    /// misses of the whole batch overlap ([`ferrocache_engine::Db`]'s
    /// batched-read stages). Only a hint: it changes nothing, and the
    /// per-key reads that follow do the real work (and lazy expiry).
    pub fn prefetch(&self, keys: &[&[u8]]) {
        // The keyspace's batched prefetch (also used by the Redis node's
        // pipelined GETs); memcached keys all live in database 0.
        for batch in keys.chunks(ferrocache_engine::keyspace::PREFETCH_BATCH) {
            self.ks.prefetch(0, batch);
        }
    }

    /// delete; with `cas` (meta `C`, binary header CAS) only if it matches.
    pub fn delete(&self, key: &[u8], cas: Option<u64>) -> Deleted {
        let now = self.now();
        self.maybe_flush(now);
        let mut l = self.ks.lock_keys(std::iter::once(key), now);
        let db = l.db(0, key);
        let cur = match db.get_mut(key).map(|e| &e.value) {
            Some(Value::Item(i)) => i.cas(),
            _ => return Deleted::NotFound,
        };
        if let Some(c) = cas {
            if c != cur {
                return Deleted::CasMismatch;
            }
        }
        db.remove(key);
        Deleted::Yes
    }

    /// incr/decr (memcached's `do_add_delta`): unsigned 64-bit, incr wraps,
    /// decr floors at 0. A result no longer than the old value is written
    /// in place, padded with spaces to the old length, as memcached does.
    pub fn delta(&self, key: &[u8], incr: bool, delta: u64, cas_in: u64) -> Delta {
        let now = self.now();
        self.maybe_flush(now);
        let mut l = self.ks.lock_keys(std::iter::once(key), now);
        let db = l.db(0, key);
        let Some(e) = db.get_mut(key) else {
            return Delta::NotFound;
        };
        let Value::Item(it) = &mut e.value else {
            return Delta::NotFound;
        };
        let data = it.data();
        if data.is_empty() {
            return Delta::NonNumeric;
        }
        if cas_in != 0 && cas_in != it.cas() {
            return Delta::CasMismatch;
        }
        let Some(v) = parse_counter(data) else {
            return Delta::NonNumeric;
        };
        let nv = if incr {
            v.wrapping_add(delta)
        } else {
            v.saturating_sub(delta)
        };
        let mut buf = itoa::Buffer::new();
        let s = buf.format(nv).as_bytes();
        let cas = self.next_cas();
        let flags = it.flags();
        let new = if s.len() <= data.len() {
            // In place: memcached keeps the item, so its meta flags
            // (fetched, stale, token sent) stay too.
            let mut v = s.to_vec();
            v.resize(data.len(), b' ');
            let mut n = Item::new(flags, &v, cas);
            for f in [Item::FETCHED, Item::STALE, Item::TOKEN_SENT] {
                n.set_flag(f, it.has(f));
            }
            n
        } else {
            Item::new(flags, s, cas)
        };
        *it = new;
        db.dirty += 1;
        Delta::Ok(nv, cas)
    }

    /// Create an item only if absent (meta `ma` with `N`, `mg` with `N`).
    pub fn add_if_absent(&self, key: &[u8], flags: u32, data: &[u8], exptime: i64) -> Option<u64> {
        match self.store(0, Mode::Add, key, flags, exptime, data, 0) {
            Stored::Stored(c) => Some(c),
            _ => None,
        }
    }

    /// `curr_items` and the `bytes` memcached would report (item header
    /// 48 + CAS 8 + key + 1 + value + 2 + flags suffix): one pass over the
    /// items, one shard at a time.
    pub fn item_totals(&self) -> (u64, u64) {
        let mut items = 0u64;
        let mut bytes = 0u64;
        for s in 0..self.ks.shard_count() {
            if let Some(g) = self.ks.lock_shard(s) {
                if let Some(d) = g.dbs.first() {
                    for (k, e) in d.iter() {
                        if let Value::Item(i) = &e.value {
                            items += 1;
                            let suffix = if i.flags() == 0 { 0 } else { 4 };
                            bytes += (48 + 8 + k.len() + 1 + i.data().len() + 2 + suffix) as u64;
                        }
                    }
                }
            }
        }
        (items, bytes)
    }

    /// Evictions and expired-reclaimed counts over all shards.
    pub fn db_stats(&self) -> (u64, u64) {
        let mut ev = 0;
        let mut ex = 0;
        for s in 0..self.ks.shard_count() {
            if let Some(g) = self.ks.lock_shard(s) {
                for d in &g.dbs {
                    ev += d.stats.evicted_keys;
                    ex += d.stats.expired_keys;
                }
            }
        }
        (ev, ex)
    }

    /// Replace the cluster node list (admin), bumping the version.
    pub fn set_cluster(&self, nodes_text: &[u8]) -> Result<u64, &'static str> {
        let text = std::str::from_utf8(nodes_text).map_err(|_| "CLIENT_ERROR bad data chunk")?;
        let mut nodes = Vec::new();
        for n in text
            .split(|c: char| c.is_ascii_whitespace())
            .filter(|s| !s.is_empty())
        {
            let parts: Vec<&str> = n.split('|').collect();
            let ok = parts.len() == 3
                && !parts.first().is_some_and(|h| h.is_empty())
                && parts.get(2).is_some_and(|p| p.parse::<u16>().is_ok());
            if !ok {
                return Err("CLIENT_ERROR bad cluster node format");
            }
            nodes.push(n.to_string());
        }
        nodes.sort_by(|a, b| {
            let ha = a.split('|').next().unwrap_or("");
            let hb = b.split('|').next().unwrap_or("");
            ha.cmp(hb)
        });
        let mut c = self.cluster.write();
        c.version += 1;
        c.nodes = nodes;
        Ok(c.version)
    }

    /// The body of `config get cluster`: `<version>\n<nodes>\n`.
    pub fn cluster_body(&self) -> Vec<u8> {
        let c = self.cluster.read();
        let mut v = format!("{}\n", c.version).into_bytes();
        v.extend_from_slice(c.nodes.join(" ").as_bytes());
        v.push(b'\n');
        v
    }
}

/// Idle time of an entry whose LRU access field is `access`, in ms, at
/// `now_ms` (the engine's tick clock, across one wrap).
fn idle_ms(access: u32, now_ms: u64) -> u64 {
    use ferrocache_engine::keyspace::{lru_ticks_at, LRU_TICK_MS};
    const MASK: u32 = 0x7fff_ffff;
    let now = lru_ticks_at(now_ms);
    let a = access & MASK;
    let ticks = if now >= a {
        now - a
    } else {
        (MASK - a) + now + 1
    };
    u64::from(ticks) * LRU_TICK_MS
}

/// memcached's `safe_strtoull` on an item's data (which it sees followed
/// by `\r\n`).
fn parse_counter(data: &[u8]) -> Option<u64> {
    let mut v = data.to_vec();
    v.extend_from_slice(b"\r\n");
    // strtoull stops at the first non-digit; memcached accepts the value
    // only if that is whitespace or the end.
    let mut s = v.as_slice();
    if let Some(z) = s.iter().position(|&b| b == 0) {
        s = s.get(..z).unwrap_or(&[]);
    }
    ferrocache_protocol::memcache::text::strtoull(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eng() -> Arc<Engine> {
        Engine::new(Settings {
            threads: 2,
            ..Settings::default()
        })
    }

    #[test]
    fn store_modes() {
        let e = eng();
        assert!(matches!(
            e.store(0, Mode::Set, b"k", 5, 0, b"v", 0),
            Stored::Stored(_)
        ));
        assert_eq!(
            e.store(0, Mode::Add, b"k", 0, 0, b"x", 0),
            Stored::NotStored
        );
        assert_eq!(
            e.store(0, Mode::Replace, b"n", 0, 0, b"x", 0),
            Stored::NotStored
        );
        assert!(matches!(
            e.store(0, Mode::Append, b"k", 9, 0, b"w", 0),
            Stored::Stored(_)
        ));
        let (data, flags, cas) = e
            .access(b"k", true, |a| {
                (a.item.data().to_vec(), a.item.flags(), a.item.cas())
            })
            .unwrap_or_default();
        assert_eq!((data.as_slice(), flags), (&b"vw"[..], 5));
        assert_eq!(
            e.store(0, Mode::Cas, b"k", 0, 0, b"z", cas + 1),
            Stored::Exists
        );
        assert!(matches!(
            e.store(0, Mode::Cas, b"k", 0, 0, b"z", cas),
            Stored::Stored(_)
        ));
        assert_eq!(e.store(0, Mode::Cas, b"q", 0, 0, b"z", 1), Stored::NotFound);
        assert!(matches!(
            e.store(0, Mode::Set, b"neg", 0, -1, b"v", 0),
            Stored::Stored(_)
        ));
        assert!(e.access(b"neg", true, |_| ()).is_none());
    }

    #[test]
    fn deltas() {
        let e = eng();
        e.store(0, Mode::Set, b"n", 0, 0, b"100", 0);
        assert!(matches!(e.delta(b"n", false, 1, 0), Delta::Ok(99, _)));
        let d = e.access(b"n", true, |a| a.item.data().to_vec());
        assert_eq!(d.as_deref(), Some(&b"99 "[..]));
        assert!(matches!(e.delta(b"n", false, 1000, 0), Delta::Ok(0, _)));
        e.store(0, Mode::Set, b"m", 0, 0, b"18446744073709551615", 0);
        assert!(matches!(e.delta(b"m", true, 2, 0), Delta::Ok(1, _)));
        e.store(0, Mode::Set, b"s", 0, 0, b"abc", 0);
        assert_eq!(e.delta(b"s", true, 1, 0), Delta::NonNumeric);
        assert_eq!(e.delta(b"none", true, 1, 0), Delta::NotFound);
    }

    /// The multi-get prefetch (keys across both shards, more than one
    /// batch, absent and expired keys) only hints: every item reads back
    /// unchanged and nothing is created, expired or counted by it.
    #[test]
    fn prefetch_changes_nothing() {
        let e = eng();
        let names: Vec<String> = (0..60).map(|i| format!("key:{i}")).collect();
        for (i, k) in names.iter().enumerate().take(40) {
            let data = format!("v{i}").repeat(i + 1);
            e.store(0, Mode::Set, k.as_bytes(), i as u32, 0, data.as_bytes(), 0);
        }
        e.store(0, Mode::Set, b"gone", 0, -1, b"x", 0);
        let mut keys: Vec<&[u8]> = names.iter().map(|k| k.as_bytes()).collect();
        keys.push(b"gone");
        e.prefetch(&keys);
        e.prefetch(&keys[..1]);
        e.prefetch(&[]);
        assert_eq!(e.db_stats(), (0, 0));
        assert_eq!(e.item_totals().0, 41);
        for (i, k) in names.iter().enumerate() {
            let got = e.access(k.as_bytes(), true, |a| {
                (a.item.flags(), a.item.data().to_vec())
            });
            let want = (i < 40).then(|| (i as u32, format!("v{i}").repeat(i + 1).into_bytes()));
            assert_eq!(got, want, "{k}");
        }
        assert!(e.access(b"gone", true, |_| ()).is_none());
    }

    #[test]
    fn expiry_rules() {
        let e = eng();
        assert_eq!(e.expiry_at(0, 1000), None);
        assert_eq!(e.expiry_at(-1, 1000), Some(1));
        assert_eq!(e.expiry_at(10, 1000), Some(11_000));
        assert_eq!(
            e.expiry_at(REALTIME_MAXDELTA + 1, 0),
            Some((REALTIME_MAXDELTA as u64 + 1) * 1000)
        );
    }

    #[test]
    fn cluster_sorted_and_versioned() {
        let e = eng();
        assert_eq!(e.set_cluster(b"b|10.0.0.2|11211 a||11211"), Ok(1));
        assert_eq!(e.cluster_body(), b"1\na||11211 b|10.0.0.2|11211\n".to_vec());
        assert!(e.set_cluster(b"bad").is_err());
        assert_eq!(e.set_cluster(b""), Ok(2));
    }
}
