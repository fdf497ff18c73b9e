//! INFO: the server's state as `field:value` lines grouped in sections, with
//! Redis 7.0.15's section names, field names and field order. Fields for
//! features this node does not have (replication, persistence, Lua…) report
//! the values an idle redis-server without them reports, so monitoring
//! tools parse the output unchanged.

use crate::ctx::Ctx;
use crate::error::CmdResult;
use crate::server::{CommandStats, Server};
use crate::spec::{acl, flags::*, CommandSpec};
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    // GLOBAL: the keyspace and stats sections read every shard.
    CommandSpec::new("info", -1, LOADING | STALE | GLOBAL, (0, 0, 0), info)
        .acl(acl::DANGEROUS)
        .doc(
            "server",
            "1.0.0",
            "Get information and statistics about the server",
            "O(1)",
        ),
];

/// Sections in output order, and whether `default` includes them.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

fn info(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut want = [false; SECTIONS.len()];
    if argv.len() == 1 {
        for (w, (_, d)) in want.iter_mut().zip(SECTIONS) {
            *w = *d;
        }
    }
    for a in &argv[1..] {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "all" | "everything" => want = [true; SECTIONS.len()],
            "default" => {
                for (w, (_, d)) in want.iter_mut().zip(SECTIONS) {
                    *w |= *d;
                }
            }
            name => {
                if let Some(i) = SECTIONS.iter().position(|(n, _)| *n == name) {
                    if let Some(w) = want.get_mut(i) {
                        *w = true;
                    }
                }
            }
        }
    }
    let text = gen_info(ctx, &want);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// Build the INFO text for the selected sections.
fn gen_info(ctx: &mut Ctx<'_, '_>, want: &[bool]) -> String {
    let server = ctx.server;
    server.sample_metrics();
    let mut s = String::with_capacity(4096);
    let mut n = 0;
    for (i, (name, _)) in SECTIONS.iter().enumerate() {
        if !want.get(i).copied().unwrap_or(false) {
            continue;
        }
        if n > 0 {
            s.push_str("\r\n");
        }
        n += 1;
        match *name {
            "server" => section_server(&mut s, server),
            "clients" => section_clients(&mut s, server),
            "memory" => section_memory(&mut s, server),
            "persistence" => section_persistence(&mut s, ctx),
            "stats" => section_stats(&mut s, ctx),
            "replication" => section_replication(&mut s, server),
            "cpu" => section_cpu(&mut s),
            "modules" => s.push_str("# Modules\r\n"),
            "commandstats" => section_commandstats(&mut s, server),
            "errorstats" => section_errorstats(&mut s, server),
            "latencystats" => section_latencystats(&mut s, server),
            "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => section_keyspace(&mut s, ctx),
            _ => {}
        }
    }
    s
}

macro_rules! field {
    ($s:expr, $name:expr, $($arg:tt)*) => {{
        let _ = write!($s, "{}:", $name);
        let _ = write!($s, $($arg)*);
        $s.push_str("\r\n");
    }};
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn cfg_num(server: &Server, name: &str, default: i64) -> i64 {
    server
        .config
        .get(name)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(default)
}

/// Bytes in Redis's human form (`bytesToHuman`).
pub fn human(n: u64) -> String {
    let d = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", d / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", d / (1024.0 * 1024.0))
    } else if n < 1024u64.pow(4) {
        format!("{:.2}G", d / 1024f64.powi(3))
    } else if n < 1024u64.pow(5) {
        format!("{:.2}T", d / 1024f64.powi(4))
    } else {
        format!("{:.2}P", d / 1024f64.powi(5))
    }
}

fn section_server(s: &mut String, server: &Server) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let uptime = server.started.elapsed().as_secs();
    let os = format!(
        "{} {} {}",
        read_trim("/proc/sys/kernel/ostype"),
        read_trim("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    );
    let hz = cfg_num(server, "hz", 10);
    s.push_str("# Server\r\n");
    field!(s, "redis_version", "7.0.15");
    field!(s, "redis_git_sha1", "00000000");
    field!(s, "redis_git_dirty", "0");
    field!(
        s,
        "redis_build_id",
        "{}",
        &server.run_id[..16.min(server.run_id.len())]
    );
    field!(s, "redis_mode", "standalone");
    field!(s, "os", "{os}");
    field!(s, "arch_bits", "{}", usize::BITS);
    field!(s, "monotonic_clock", "POSIX clock_gettime");
    field!(s, "multiplexing_api", "epoll");
    field!(s, "atomicvar_api", "c11-builtin");
    field!(s, "gcc_version", "0.0.0");
    field!(s, "process_id", "{}", std::process::id());
    field!(s, "process_supervised", "no");
    field!(s, "run_id", "{}", server.run_id);
    field!(s, "tcp_port", "{}", server.config.port());
    field!(s, "server_time_usec", "{}", now.as_micros());
    field!(s, "uptime_in_seconds", "{uptime}");
    field!(s, "uptime_in_days", "{}", uptime / 86400);
    field!(s, "hz", "{hz}");
    field!(s, "configured_hz", "{hz}");
    field!(
        s,
        "lru_clock",
        "{}",
        ferrocache_engine::keyspace::lru_clock() & 0xff_ffff
    );
    field!(
        s,
        "executable",
        "{}",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    field!(
        s,
        "config_file",
        "{}",
        server.config.get("config-file").unwrap_or_default()
    );
    field!(s, "io_threads_active", "0");
}

fn section_clients(s: &mut String, server: &Server) {
    let clients = server.clients.all();
    let max_in = clients
        .iter()
        .map(|c| c.qbuf.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let max_out = clients
        .iter()
        .map(|c| c.omem.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let normal = clients.iter().filter(|c| !c.is_monitor()).count();
    s.push_str("# Clients\r\n");
    field!(s, "connected_clients", "{normal}");
    field!(s, "cluster_connections", "0");
    field!(s, "maxclients", "{}", cfg_num(server, "maxclients", 10000));
    field!(s, "client_recent_max_input_buffer", "{max_in}");
    field!(s, "client_recent_max_output_buffer", "{max_out}");
    field!(
        s,
        "blocked_clients",
        "{}",
        server.blocking.blocked_clients()
    );
    field!(s, "tracking_clients", "{}", server.tracking.stats().0);
    field!(s, "clients_in_timeout_table", "0");
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

fn section_memory(s: &mut String, server: &Server) {
    let used = server.used_memory() as u64;
    let peak = (server.peak_memory.load(Ordering::Relaxed) as u64).max(used);
    let startup = server.startup_memory.load(Ordering::Relaxed) as u64;
    let rss = super::server::rss_bytes() as u64;
    let sys = total_system_memory();
    let maxmemory = server.keyspace.tunables.maxmemory.load(Ordering::Relaxed);
    let policy = server.keyspace.tunables.policy().name();
    let overhead = startup;
    let dataset = used.saturating_sub(overhead);
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    s.push_str("# Memory\r\n");
    field!(s, "used_memory", "{used}");
    field!(s, "used_memory_human", "{}", human(used));
    field!(s, "used_memory_rss", "{rss}");
    field!(s, "used_memory_rss_human", "{}", human(rss));
    field!(s, "used_memory_peak", "{peak}");
    field!(s, "used_memory_peak_human", "{}", human(peak));
    field!(s, "used_memory_peak_perc", "{:.2}%", pct(used, peak));
    field!(s, "used_memory_overhead", "{overhead}");
    field!(s, "used_memory_startup", "{startup}");
    field!(s, "used_memory_dataset", "{dataset}");
    field!(
        s,
        "used_memory_dataset_perc",
        "{:.2}%",
        pct(dataset, used.saturating_sub(startup))
    );
    field!(s, "allocator_allocated", "{used}");
    field!(s, "allocator_active", "{used}");
    field!(s, "allocator_resident", "{rss}");
    field!(s, "total_system_memory", "{sys}");
    field!(s, "total_system_memory_human", "{}", human(sys));
    // Lua scripting (issue 4): the two Lua states and their caches.
    let lua = crate::script::memory_stats();
    let vm_total = lua.vm_eval + lua.vm_functions;
    let scripts = lua.scripts_eval + lua.functions_bytes;
    field!(s, "used_memory_lua", "{}", lua.vm_eval);
    field!(s, "used_memory_vm_eval", "{}", lua.vm_eval);
    field!(s, "used_memory_lua_human", "{}", human(lua.vm_eval as u64));
    field!(s, "used_memory_scripts_eval", "{}", lua.scripts_eval);
    field!(s, "number_of_cached_scripts", "{}", lua.cached_scripts);
    field!(s, "number_of_functions", "{}", lua.functions);
    field!(s, "number_of_libraries", "{}", lua.libraries);
    field!(s, "used_memory_vm_functions", "{}", lua.vm_functions);
    field!(s, "used_memory_vm_total", "{vm_total}");
    field!(
        s,
        "used_memory_vm_total_human",
        "{}",
        human(vm_total as u64)
    );
    field!(s, "used_memory_functions", "{}", lua.functions_bytes);
    field!(s, "used_memory_scripts", "{scripts}");
    field!(s, "used_memory_scripts_human", "{}", human(scripts as u64));
    field!(s, "maxmemory", "{maxmemory}");
    field!(s, "maxmemory_human", "{}", human(maxmemory));
    field!(s, "maxmemory_policy", "{policy}");
    field!(s, "allocator_frag_ratio", "1.00");
    field!(s, "allocator_frag_bytes", "0");
    field!(s, "allocator_rss_ratio", "{:.2}", ratio(rss, used));
    field!(s, "allocator_rss_bytes", "{}", rss.saturating_sub(used));
    field!(s, "rss_overhead_ratio", "1.00");
    field!(s, "rss_overhead_bytes", "0");
    field!(s, "mem_fragmentation_ratio", "{:.2}", ratio(rss, used));
    field!(s, "mem_fragmentation_bytes", "{}", rss.saturating_sub(used));
    field!(s, "mem_not_counted_for_evict", "0");
    field!(s, "mem_replication_backlog", "0");
    field!(s, "mem_total_replication_buffers", "0");
    field!(s, "mem_clients_slaves", "0");
    field!(s, "mem_clients_normal", "0");
    field!(s, "mem_cluster_links", "0");
    field!(s, "mem_aof_buffer", "0");
    field!(s, "mem_allocator", "jemalloc-5.3.0");
    field!(s, "active_defrag_running", "0");
    field!(s, "lazyfree_pending_objects", "0");
    field!(s, "lazyfreed_objects", "0");
}

fn section_persistence(s: &mut String, ctx: &mut Ctx<'_, '_>) {
    // Real figures from the persistence module (cmd/persist.rs).
    crate::cmd::persist::info_section(s, ctx);
}

fn section_stats(s: &mut String, ctx: &mut Ctx<'_, '_>) {
    let server = ctx.server;
    let st = &server.stats;
    let mut db = ferrocache_engine::db::DbStats::default();
    for (_, shard) in ctx.ks.shards() {
        for d in &shard.dbs {
            db.expired_keys += d.stats.expired_keys;
            db.evicted_keys += d.stats.evicted_keys;
            db.keyspace_hits += d.stats.keyspace_hits;
            db.keyspace_misses += d.stats.keyspace_misses;
        }
    }
    let (ops, in_kbps, out_kbps) = server.instantaneous();
    let l = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    s.push_str("# Stats\r\n");
    field!(
        s,
        "total_connections_received",
        "{}",
        l(&st.total_connections_received)
    );
    field!(
        s,
        "total_commands_processed",
        "{}",
        l(&st.total_commands_processed)
    );
    field!(s, "instantaneous_ops_per_sec", "{ops}");
    field!(s, "total_net_input_bytes", "{}", l(&st.net_input_bytes));
    field!(s, "total_net_output_bytes", "{}", l(&st.net_output_bytes));
    field!(s, "total_net_repl_input_bytes", "0");
    field!(s, "total_net_repl_output_bytes", "0");
    field!(s, "instantaneous_input_kbps", "{in_kbps:.2}");
    field!(s, "instantaneous_output_kbps", "{out_kbps:.2}");
    field!(s, "instantaneous_input_repl_kbps", "0.00");
    field!(s, "instantaneous_output_repl_kbps", "0.00");
    field!(s, "rejected_connections", "{}", l(&st.rejected_connections));
    field!(s, "sync_full", "0");
    field!(s, "sync_partial_ok", "0");
    field!(s, "sync_partial_err", "0");
    field!(s, "expired_keys", "{}", db.expired_keys);
    field!(s, "expired_stale_perc", "0.00");
    field!(s, "expired_time_cap_reached_count", "0");
    field!(s, "expire_cycle_cpu_milliseconds", "0");
    field!(s, "evicted_keys", "{}", db.evicted_keys);
    field!(s, "evicted_clients", "0");
    field!(s, "total_eviction_exceeded_time", "0");
    field!(s, "current_eviction_exceeded_time", "0");
    field!(s, "keyspace_hits", "{}", db.keyspace_hits);
    field!(s, "keyspace_misses", "{}", db.keyspace_misses);
    let (ps_channels, ps_patterns, ps_shard) = server.pubsub.sizes();
    field!(s, "pubsub_channels", "{}", ps_channels);
    field!(s, "pubsub_patterns", "{}", ps_patterns);
    field!(s, "pubsubshard_channels", "{}", ps_shard);
    field!(s, "latest_fork_usec", "0");
    field!(s, "total_forks", "0");
    field!(s, "migrate_cached_sockets", "0");
    field!(s, "slave_expires_tracked_keys", "0");
    field!(s, "active_defrag_hits", "0");
    field!(s, "active_defrag_misses", "0");
    field!(s, "active_defrag_key_hits", "0");
    field!(s, "active_defrag_key_misses", "0");
    field!(s, "total_active_defrag_time", "0");
    field!(s, "current_active_defrag_time", "0");
    let (_, tkeys, titems, tprefixes) = server.tracking.stats();
    field!(s, "tracking_total_keys", "{tkeys}");
    field!(s, "tracking_total_items", "{titems}");
    field!(s, "tracking_total_prefixes", "{tprefixes}");
    field!(
        s,
        "unexpected_error_replies",
        "{}",
        l(&st.unexpected_error_replies)
    );
    field!(s, "total_error_replies", "{}", l(&st.total_error_replies));
    field!(s, "dump_payload_sanitizations", "0");
    field!(
        s,
        "total_reads_processed",
        "{}",
        l(&st.total_commands_processed)
    );
    field!(
        s,
        "total_writes_processed",
        "{}",
        l(&st.total_commands_processed)
    );
    field!(s, "io_threaded_reads_processed", "0");
    field!(s, "io_threaded_writes_processed", "0");
    field!(s, "reply_buffer_shrinks", "0");
    field!(s, "reply_buffer_expands", "0");
}

fn section_replication(s: &mut String, server: &Server) {
    // A stable replication id distinct from run_id, as Redis has.
    let replid: String = server.run_id.chars().rev().collect();
    s.push_str("# Replication\r\n");
    field!(s, "role", "master");
    field!(s, "connected_slaves", "0");
    field!(s, "master_failover_state", "no-failover");
    field!(s, "master_replid", "{replid}");
    field!(
        s,
        "master_replid2",
        "0000000000000000000000000000000000000000"
    );
    field!(s, "master_repl_offset", "0");
    field!(s, "second_repl_offset", "-1");
    field!(s, "repl_backlog_active", "0");
    field!(
        s,
        "repl_backlog_size",
        "{}",
        cfg_num(server, "repl-backlog-size", 1048576)
    );
    field!(s, "repl_backlog_first_byte_offset", "0");
    field!(s, "repl_backlog_histlen", "0");
}

/// (user, sys) CPU seconds from a /proc stat file (fields 14 and 15, in
/// clock ticks of 1/100 s on Linux).
fn cpu_times(path: &str) -> (f64, f64) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (0.0, 0.0);
    };
    // The command name (field 2) may contain spaces: split after its ')'.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    // After ')': field 3 is index 0, so utime (14) is 11 and stime (15) 12.
    (tick(11), tick(12))
}

fn section_cpu(s: &mut String) {
    let (u, sy) = cpu_times("/proc/self/stat");
    let (tu, tsy) = cpu_times("/proc/thread-self/stat");
    s.push_str("# CPU\r\n");
    field!(s, "used_cpu_sys", "{sy:.6}");
    field!(s, "used_cpu_user", "{u:.6}");
    field!(s, "used_cpu_sys_children", "0.000000");
    field!(s, "used_cpu_user_children", "0.000000");
    field!(s, "used_cpu_sys_main_thread", "{tsy:.6}");
    field!(s, "used_cpu_user_main_thread", "{tu:.6}");
}

/// Visit every command (and subcommand) with its stats, as Redis lists
/// them: plain commands by name, containers by `container|sub`. A
/// container's own line carries only what its subcommands do not account
/// for (a bare `COMMAND`, and calls rejected before the subcommand ran).
fn each_command_stats(server: &Server, mut f: impl FnMut(&str, u64, u64, u64, u64, &CommandStats)) {
    let l = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    for (i, c) in crate::table::table().commands.iter().enumerate() {
        let Some(top) = server.command_stats.get(i) else {
            continue;
        };
        if c.subcommands.is_empty() {
            f(
                c.name,
                l(&top.calls),
                l(&top.usec),
                l(&top.rejected_calls),
                l(&top.failed_calls),
                top,
            );
            continue;
        }
        let subs = server.sub_stats.get(i);
        let (mut calls, mut usec, mut failed) = (0, 0, 0);
        if let Some(subs) = subs {
            for s in subs {
                calls += l(&s.calls);
                usec += l(&s.usec);
                failed += l(&s.failed_calls);
            }
        }
        f(
            c.name,
            l(&top.calls).saturating_sub(calls),
            l(&top.usec).saturating_sub(usec),
            l(&top.rejected_calls),
            l(&top.failed_calls).saturating_sub(failed),
            top,
        );
        if let Some(subs) = subs {
            for (sc, s) in c.subcommands.iter().zip(subs) {
                let full = format!("{}|{}", c.name, sc.name);
                f(
                    &full,
                    l(&s.calls),
                    l(&s.usec),
                    l(&s.rejected_calls),
                    l(&s.failed_calls),
                    s,
                );
            }
        }
    }
}

fn section_commandstats(s: &mut String, server: &Server) {
    s.push_str("# Commandstats\r\n");
    each_command_stats(server, |name, calls, usec, rejected, failed, _| {
        if calls == 0 && rejected == 0 && failed == 0 {
            return;
        }
        let per = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        let _ = write!(
            s,
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
        );
    });
}

fn section_errorstats(s: &mut String, server: &Server) {
    s.push_str("# Errorstats\r\n");
    for (code, n) in server.error_stats.lock().iter() {
        let _ = write!(s, "errorstat_{code}:count={n}\r\n");
    }
}

fn section_latencystats(s: &mut String, server: &Server) {
    s.push_str("# Latencystats\r\n");
    let pcts: Vec<f64> = server
        .config
        .get("latency-tracking-info-percentiles")
        .unwrap_or_else(|| "50 99 99.9".into())
        .split_whitespace()
        .filter_map(|p| p.parse::<f64>().ok())
        .collect();
    if pcts.is_empty() {
        return;
    }
    each_command_stats(server, |name, calls, _, _, _, st| {
        let Some(h) = st.histogram.get() else {
            return;
        };
        if calls == 0 {
            return;
        }
        let vals = h.percentiles(&pcts);
        let _ = write!(s, "latency_percentiles_usec_{name}:");
        for (i, (p, v)) in pcts.iter().zip(vals).enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "p{p}={:.3}", v as f64);
        }
        s.push_str("\r\n");
    });
}

fn section_keyspace(s: &mut String, ctx: &mut Ctx<'_, '_>) {
    s.push_str("# Keyspace\r\n");
    let ndb = ctx.server.keyspace.databases();
    let now = ctx.now();
    let mut rng = rand::thread_rng();
    for i in 0..ndb {
        let (mut keys, mut expires, mut ttl_sum, mut ttl_n) = (0usize, 0usize, 0u64, 0u64);
        for db in ctx.ks.each_db(i) {
            keys += db.len();
            expires += db.expires_len();
            // Estimate the average TTL from a sample, as Redis's active
            // expiry cycle does, instead of walking every key.
            for (_, _, at) in db.sample(20, true, &mut rng) {
                if at > now {
                    ttl_sum += at - now;
                    ttl_n += 1;
                }
            }
        }
        if keys == 0 {
            continue;
        }
        let avg = ttl_sum.checked_div(ttl_n).unwrap_or(0);
        let _ = write!(s, "db{i}:keys={keys},expires={expires},avg_ttl={avg}\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1363216), "1.30M");
        assert_eq!(human(32768), "32.00K");
        assert_eq!(human(25276502016), "23.54G");
    }
}
