//! `stats` and its sub-commands, with memcached 1.6's field names, in its
//! order. Values are real where ferrocache has the figure (connections,
//! commands, hits, items, bytes, evictions, limits, rusage); fields about
//! memcached internals ferrocache does not have (slab rebalancing, LRU
//! crawler, extstore) report memcached's idle values.

use crate::conn::Conn;
use crate::engine::{Engine, C, COUNTER_NAMES};
use crate::text::slab_class;
use ferrocache_engine::Value;
use ferrocache_protocol::memcache::text::Tokens;
use std::sync::atomic::Ordering;

type Stats = Vec<(String, String)>;

fn kv(v: &mut Stats, k: &str, val: impl ToString) {
    v.push((k.to_string(), val.to_string()));
}

fn rusage() -> (String, String) {
    // /proc/self/stat fields 14/15: utime, stime in clock ticks (100 Hz).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        let t: u64 = f.get(i).and_then(|x| x.parse().ok()).unwrap_or(0);
        format!("{}.{:06}", t / 100, (t % 100) * 10_000)
    };
    (tick(11), tick(12))
}

/// General `stats`.
pub fn general(eng: &Engine) -> Stats {
    let mut v = Vec::with_capacity(96);
    let now = eng.now();
    let c = |x: C| eng.counter(x);
    kv(&mut v, "pid", std::process::id());
    kv(&mut v, "uptime", now.saturating_sub(eng.started_ms) / 1000);
    kv(&mut v, "time", now / 1000);
    kv(&mut v, "version", crate::VERSION);
    kv(&mut v, "libevent", "ferrocache");
    kv(&mut v, "pointer_size", 64);
    let (u, s) = rusage();
    kv(&mut v, "rusage_user", u);
    kv(&mut v, "rusage_system", s);
    kv(&mut v, "max_connections", eng.settings.maxconns);
    let curr = eng.curr_conns.load(Ordering::Relaxed);
    kv(&mut v, "curr_connections", curr);
    kv(
        &mut v,
        "total_connections",
        eng.total_conns.load(Ordering::Relaxed),
    );
    kv(
        &mut v,
        "rejected_connections",
        eng.rejected_conns.load(Ordering::Relaxed),
    );
    kv(&mut v, "connection_structures", curr + 1);
    kv(&mut v, "response_obj_oom", 0);
    kv(&mut v, "response_obj_count", curr);
    kv(&mut v, "response_obj_bytes", curr * 8192);
    kv(&mut v, "read_buf_count", curr);
    kv(&mut v, "read_buf_bytes", curr * 16384);
    kv(&mut v, "read_buf_bytes_free", 0);
    kv(&mut v, "read_buf_oom", 0);
    kv(&mut v, "reserved_fds", 20);
    for name in [
        C::CmdGet,
        C::CmdSet,
        C::CmdFlush,
        C::CmdTouch,
        C::CmdMeta,
        C::GetHits,
        C::GetMisses,
        C::GetExpired,
        C::GetFlushed,
        C::DeleteMisses,
        C::DeleteHits,
        C::IncrMisses,
        C::IncrHits,
        C::DecrMisses,
        C::DecrHits,
        C::CasMisses,
        C::CasHits,
        C::CasBadval,
        C::TouchHits,
        C::TouchMisses,
        C::StoreTooLarge,
        C::StoreNoMemory,
        C::AuthCmds,
        C::AuthErrors,
        C::BytesRead,
        C::BytesWritten,
    ] {
        kv(
            &mut v,
            COUNTER_NAMES.get(name as usize).copied().unwrap_or("?"),
            c(name),
        );
    }
    kv(&mut v, "limit_maxbytes", eng.limit.load(Ordering::Relaxed));
    kv(&mut v, "accepting_conns", 1);
    kv(&mut v, "listen_disabled_num", 0);
    kv(&mut v, "time_in_listen_disabled_us", 0);
    kv(&mut v, "threads", eng.settings.threads);
    kv(&mut v, "conn_yields", 0);
    kv(&mut v, "hash_power_level", 16);
    kv(&mut v, "hash_bytes", 524288);
    kv(&mut v, "hash_is_expanding", 0);
    for k in [
        "slab_reassign_rescues",
        "slab_reassign_chunk_rescues",
        "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim",
        "slab_reassign_busy_items",
        "slab_reassign_busy_deletes",
        "slab_reassign_running",
        "slabs_moved",
        "lru_crawler_running",
    ] {
        kv(&mut v, k, 0);
    }
    kv(&mut v, "lru_crawler_starts", 0);
    kv(&mut v, "lru_maintainer_juggles", 0);
    for k in [
        "malloc_fails",
        "log_worker_dropped",
        "log_worker_written",
        "log_watcher_skipped",
        "log_watcher_sent",
        "log_watchers",
        "unexpected_napi_ids",
        "round_robin_fallback",
    ] {
        kv(&mut v, k, 0);
    }
    let (items, bytes) = eng.item_totals();
    let (evictions, reclaimed) = eng.db_stats();
    kv(&mut v, "bytes", bytes);
    kv(&mut v, "curr_items", items);
    kv(&mut v, "total_items", c(C::TotalItems));
    kv(&mut v, "slab_global_page_pool", 0);
    kv(&mut v, "expired_unfetched", 0);
    kv(&mut v, "evicted_unfetched", 0);
    kv(&mut v, "evicted_active", 0);
    kv(&mut v, "evictions", evictions);
    kv(&mut v, "reclaimed", reclaimed);
    for k in [
        "crawler_reclaimed",
        "crawler_items_checked",
        "lrutail_reflocked",
        "moves_to_cold",
        "moves_to_warm",
        "moves_within_lru",
        "direct_reclaims",
        "lru_bumps_dropped",
    ] {
        kv(&mut v, k, 0);
    }
    kv(&mut v, "cmd_config_get", c(C::CmdConfigGet));
    kv(&mut v, "cmd_config_set", c(C::CmdConfigSet));
    kv(&mut v, "curr_config", eng.cluster.read().version);
    v
}

/// `stats settings`.
pub fn settings(eng: &Engine) -> Stats {
    let s = &eng.settings;
    let mut v = Vec::new();
    kv(&mut v, "maxbytes", eng.limit.load(Ordering::Relaxed));
    kv(&mut v, "maxconns", s.maxconns);
    kv(&mut v, "tcpport", s.port);
    kv(&mut v, "udpport", 0);
    kv(
        &mut v,
        "inter",
        if s.listen.is_empty() {
            "NULL".to_string()
        } else {
            s.listen.join(",")
        },
    );
    kv(&mut v, "verbosity", eng.verbosity.load(Ordering::Relaxed));
    kv(&mut v, "oldest", 0);
    kv(&mut v, "evictions", if s.evictions { "on" } else { "off" });
    kv(&mut v, "domain_socket", "NULL");
    kv(&mut v, "umask", 700);
    kv(&mut v, "shutdown_command", "no");
    kv(&mut v, "growth_factor", format!("{:.2}", s.growth_factor));
    kv(&mut v, "chunk_size", s.chunk_size);
    kv(&mut v, "num_threads", s.threads);
    kv(&mut v, "num_threads_per_udp", s.threads);
    kv(&mut v, "stat_key_prefix", ":");
    kv(&mut v, "detail_enabled", "no");
    kv(&mut v, "reqs_per_event", s.reqs_per_event);
    kv(
        &mut v,
        "cas_enabled",
        if s.cas_enabled { "yes" } else { "no" },
    );
    kv(&mut v, "tcp_backlog", s.backlog);
    kv(&mut v, "binding_protocol", "auto-negotiate");
    kv(&mut v, "auth_enabled_sasl", "no");
    kv(&mut v, "auth_enabled_ascii", "no");
    kv(&mut v, "item_size_max", s.item_size_max);
    kv(&mut v, "maxconns_fast", "yes");
    kv(&mut v, "hashpower_init", 0);
    kv(&mut v, "slab_reassign", "yes");
    kv(&mut v, "slab_automove", 1);
    kv(&mut v, "slab_automove_ratio", "0.80");
    kv(&mut v, "slab_automove_window", 30);
    kv(&mut v, "slab_chunk_max", s.item_size_max / 2);
    kv(&mut v, "lru_crawler", "yes");
    kv(&mut v, "lru_crawler_sleep", 100);
    kv(&mut v, "lru_crawler_tocrawl", 0);
    kv(&mut v, "tail_repair_time", 0);
    kv(
        &mut v,
        "flush_enabled",
        if s.flush_enabled { "yes" } else { "no" },
    );
    kv(&mut v, "dump_enabled", "yes");
    kv(&mut v, "hash_algorithm", "ahash");
    kv(&mut v, "lru_maintainer_thread", "yes");
    kv(&mut v, "lru_segmented", "no");
    kv(&mut v, "idle_timeout", s.idle_timeout);
    kv(&mut v, "memory_file", "(null)");
    v
}

/// Per-slab-class item counts (`stats items` / `stats slabs`), classes as
/// memcached's default sizes would assign them.
fn classes(eng: &Engine) -> std::collections::BTreeMap<u32, (u64, u64, usize)> {
    let mut m = std::collections::BTreeMap::new();
    for s in 0..eng.ks.shard_count() {
        if let Some(g) = eng.ks.lock_shard(s) {
            if let Some(d) = g.dbs.first() {
                for (k, e) in d.iter() {
                    if let Value::Item(i) = &e.value {
                        let nt = 48
                            + 8
                            + k.len()
                            + 1
                            + i.data().len()
                            + 2
                            + if i.flags() == 0 { 0 } else { 4 };
                        let (cls, size) = slab_class(nt);
                        let ent = m.entry(cls).or_insert((0u64, 0u64, size));
                        ent.0 += 1;
                        ent.1 += nt as u64;
                    }
                }
            }
        }
    }
    m
}

pub fn items(eng: &Engine) -> Stats {
    let mut v = Vec::new();
    for (cls, (n, req, _)) in classes(eng) {
        let p = |f: &str| format!("items:{cls}:{f}");
        kv(&mut v, &p("number"), n);
        kv(&mut v, &p("number_hot"), 0);
        kv(&mut v, &p("number_warm"), 0);
        kv(&mut v, &p("number_cold"), n);
        kv(&mut v, &p("age_hot"), 0);
        kv(&mut v, &p("age_warm"), 0);
        kv(&mut v, &p("age"), 0);
        kv(&mut v, &p("mem_requested"), req);
        for f in [
            "evicted",
            "evicted_nonzero",
            "evicted_time",
            "outofmemory",
            "tailrepairs",
            "reclaimed",
            "expired_unfetched",
            "evicted_unfetched",
            "evicted_active",
            "crawler_reclaimed",
            "crawler_items_checked",
            "lrutail_reflocked",
            "moves_to_cold",
            "moves_to_warm",
            "moves_within_lru",
            "direct_reclaims",
            "hits_to_hot",
            "hits_to_warm",
            "hits_to_cold",
            "hits_to_temp",
        ] {
            kv(&mut v, &p(f), 0);
        }
    }
    v
}

pub fn slabs(eng: &Engine) -> Stats {
    let mut v = Vec::new();
    let m = classes(eng);
    let mut total = 0u64;
    for (cls, (n, _, size)) in &m {
        let per_page = (1024 * 1024 / size.max(&1)) as u64;
        let pages = n.div_ceil(per_page.max(1));
        total += pages * 1024 * 1024;
        let p = |f: &str| format!("{cls}:{f}");
        kv(&mut v, &p("chunk_size"), size);
        kv(&mut v, &p("chunks_per_page"), per_page);
        kv(&mut v, &p("total_pages"), pages);
        kv(&mut v, &p("total_chunks"), pages * per_page);
        kv(&mut v, &p("used_chunks"), n);
        kv(&mut v, &p("free_chunks"), pages * per_page - n);
        kv(&mut v, &p("free_chunks_end"), 0);
        for f in [
            "get_hits",
            "cmd_set",
            "delete_hits",
            "incr_hits",
            "decr_hits",
            "cas_hits",
            "cas_badval",
            "touch_hits",
        ] {
            kv(&mut v, &p(f), 0);
        }
    }
    kv(&mut v, "active_slabs", m.len());
    kv(&mut v, "total_malloced", total);
    v
}

fn write(out: &mut Vec<u8>, st: &Stats) {
    for (k, val) in st {
        out.extend_from_slice(b"STAT ");
        out.extend_from_slice(k.as_bytes());
        out.push(b' ');
        out.extend_from_slice(val.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"END\r\n");
}

/// `stats sizes`: memcached's item size histogram (32-byte buckets of the
/// item's total size, keyed by the bucket's upper bound), over the items
/// stored since `stats sizes_enable`; `sizes_status disabled` otherwise.
/// memcached maintains the histogram on every link/unlink; here it is
/// computed when asked (it is an admin command), from the items whose CAS
/// unique is at least the one current when it was enabled.
pub fn sizes(eng: &Engine) -> Stats {
    let Some(min) = *eng.sizes_cas_min.lock() else {
        return vec![("sizes_status".into(), "disabled".into())];
    };
    let mut hist = std::collections::BTreeMap::<usize, u64>::new();
    for s in 0..eng.ks.shard_count() {
        if let Some(g) = eng.ks.lock_shard(s) {
            if let Some(d) = g.dbs.first() {
                for (k, e) in d.iter() {
                    if let Value::Item(i) = &e.value {
                        if i.cas() < min {
                            continue;
                        }
                        let nt = 48
                            + 8
                            + k.len()
                            + 1
                            + i.data().len()
                            + 2
                            + if i.flags() == 0 { 0 } else { 4 };
                        *hist.entry(nt.div_ceil(32)).or_default() += 1;
                    }
                }
            }
        }
    }
    hist.into_iter()
        .map(|(b, n)| ((b * 32).to_string(), n.to_string()))
        .collect()
}

/// `stats sizes_enable` / `sizes_disable`: the status lines, without the
/// terminating `END` (memcached 1.6 sends none for these two).
fn sizes_toggle(eng: &Engine, enable: bool, out: &mut Vec<u8>) {
    let mut st = eng.sizes_cas_min.lock();
    let lines: &[(&str, &str)] = if !enable {
        *st = None;
        &[("sizes_status", "disabled")]
    } else if !eng.settings.cas_enabled {
        &[
            ("sizes_status", "error"),
            ("sizes_error", "cas_support_disabled"),
        ]
    } else {
        if st.is_none() {
            *st = Some(eng.peek_cas());
        }
        &[("sizes_status", "enabled")]
    };
    for (k, v) in lines {
        out.extend_from_slice(format!("STAT {k} {v}\r\n").as_bytes());
    }
}

/// The stats group `sub` names (None: unknown), shared with binary STAT.
pub fn group(eng: &Engine, sub: &[u8]) -> Option<Stats> {
    Some(match sub {
        b"" => general(eng),
        b"settings" => settings(eng),
        b"items" => items(eng),
        b"slabs" => slabs(eng),
        b"sizes" => sizes(eng),
        b"conns" => eng.conns.stats(eng.now()),
        _ => return None,
    })
}

/// Text `stats [group]`.
pub(crate) fn text_stats(_c: &Conn, eng: &Engine, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let sub = t.get(1).unwrap_or(b"");
    match sub {
        b"reset" => {
            eng.reset_counters();
            out.extend_from_slice(b"RESET\r\n");
        }
        b"detail" => match t.get(2) {
            Some(b"on") | Some(b"off") => out.extend_from_slice(b"OK\r\n"),
            Some(b"dump") => out.extend_from_slice(b"END\r\n"),
            _ => out.extend_from_slice(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
        },
        b"sizes_enable" => sizes_toggle(eng, true, out),
        b"sizes_disable" => sizes_toggle(eng, false, out),
        b"cachedump" => {
            if t.ntokens() < 5 {
                out.extend_from_slice(b"CLIENT_ERROR bad command line\r\n");
            } else {
                out.extend_from_slice(b"END\r\n");
            }
        }
        _ => match group(eng, sub) {
            Some(st) => write(out, &st),
            None => out.extend_from_slice(b"ERROR\r\n"),
        },
    }
}
