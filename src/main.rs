//! The `ferrocache` binary: `ferrocache redis [redis.conf] [--option value…]`
//! runs a Redis-compatible node; `ferrocache memcached [-p 11211 -m 64 …]`
//! runs a memcached-compatible node with memcached's own command line.

mod control_cli;

use anyhow::{bail, Context, Result};
use ferrocache_engine::memory::CountingAlloc;

mod snapshot;

#[global_allocator]
static GLOBAL: CountingAlloc<tikv_jemallocator::Jemalloc> =
    CountingAlloc(tikv_jemallocator::Jemalloc);

const USAGE: &str = "usage: ferrocache <command> [options]

commands:
  redis [redis.conf] [--name value ...]   run a Redis-compatible node
                                          (options as redis-server's; --threads N)
  memcached [-p port -l addr -m MB -c conns -t threads -I size -v]
                                          run a memcached-compatible node
                                          (options as memcached's; --help)
  serve [--data-dir D] [--listen ADDR] [--port-range LO-HI]
                                          run the control plane (ElastiCache API)
  create-access-key [--data-dir D]        create an API access key pair
  usage [--from T] [--to T] [--output json]
                                          node-hours and cost per resource and day
  create-cache-cluster, describe-cache-clusters, … (the AWS CLI's elasticache
  verbs and options) [--output json] [--wait] [--endpoint-url URL]
  snapshot inspect FILE [--key-file K]    describe a snapshot (RDB or encrypted)
  snapshot convert IN OUT [--key-file K] [--new-key-file K2]
                                          plain <-> encrypted, rotate the key
  version                                 print the version
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        std::process::exit(2);
    };
    match cmd.as_str() {
        "redis" => run_redis(&args[1..]),
        "memcached" => run_memcached(&args[1..]),
        "snapshot" => snapshot::run(&args[1..]),
        // The managed-service control plane and its local verbs.
        "serve" => ferrocache_control::serve::serve(&args[1..]),
        "create-access-key" => control_cli::create_access_key(&args[1..]),
        "usage" => control_cli::usage(&args[1..]),
        v if control_cli::VERBS.contains(&v) => control_cli::verb(v, &args[1..]),
        "version" | "--version" | "-v" => {
            println!("ferrocache {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n{USAGE}"),
    }
}

/// True when the command line or the config file sets the thread count.
fn threads_configured(args: &[String]) -> bool {
    let flag = args.iter().any(|a| {
        matches!(
            a.to_ascii_lowercase().as_str(),
            "--threads" | "--io-threads"
        )
    });
    let in_file = args
        .first()
        .filter(|f| !f.starts_with("--"))
        .and_then(|f| std::fs::read_to_string(f).ok())
        .is_some_and(|text| {
            text.lines().any(|l| {
                l.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("io-threads ")
            })
        });
    flag || in_file
}

fn run_redis(args: &[String]) -> Result<()> {
    // Snapshot parameters: a relative key file path made absolute.
    let owned = snapshot::absolute_key_file(args)?;
    let args = &owned[..];
    // Default: one worker thread (and keyspace shard) per core.
    let threads = if threads_configured(args) {
        None
    } else {
        Some(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        )
    };
    let config =
        ferrocache_redis::config::Config::from_args(args).context("invalid configuration")?;
    let level = config.get("loglevel").unwrap_or_else(|| "notice".into());
    let logfile = config.get("logfile").unwrap_or_default();
    ferrocache_server::log::init(&level, &logfile)
        .with_context(|| format!("cannot open logfile '{logfile}'"))?;
    use ferrocache_server::log::{log, Level};
    log(
        Level::Notice,
        &format!(
            "ferrocache {} starting (Redis-compatible node), pid={}",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        ),
    );
    let node =
        ferrocache_server::run_redis(config, threads).context("could not start the Redis node")?;
    for a in &node.addrs {
        log(
            Level::Notice,
            &format!("Ready to accept connections tcp {a}"),
        );
    }
    node.wait();
    Ok(())
}

fn run_memcached(args: &[String]) -> Result<()> {
    use ferrocache_memcached::settings::{ArgError, HELP};
    let settings = match ferrocache_memcached::Settings::from_args(args) {
        Ok(s) => s,
        Err(ArgError::Help) => {
            print!("{HELP}");
            return Ok(());
        }
        Err(e) => bail!("{e}"),
    };
    // -d: memcached's daemonize, by re-executing detached (H8; see
    // ferrocache_server::daemon). The foreground process exits once the
    // daemon listens.
    if settings.daemonize && !ferrocache_server::daemon::is_child() {
        ferrocache_server::daemon::detach(args)?;
        return Ok(());
    }
    ferrocache_server::daemon::start_session();
    let level = match settings.verbose {
        0 => "notice",
        1 => "verbose",
        _ => "debug",
    };
    ferrocache_server::log::init(level, "").context("cannot start logging")?;
    if let Some(p) = &settings.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pidfile '{p}'"))?;
    }
    let verbose = settings.verbose > 0;
    let node =
        ferrocache_server::run_memcached(settings).context("could not start the memcached node")?;
    ferrocache_server::daemon::ready(verbose);
    node.wait();
    Ok(())
}
