//! The `ferrocache` binary: `ferrocache redis [redis.conf] [--option value…]`
//! runs a Redis-compatible node.

use anyhow::{bail, Context, Result};
use ferrocache_engine::memory::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc<tikv_jemallocator::Jemalloc> =
    CountingAlloc(tikv_jemallocator::Jemalloc);

const USAGE: &str = "usage: ferrocache <command> [options]

commands:
  redis [redis.conf] [--name value ...]   run a Redis-compatible node
                                          (options as redis-server's; --threads N)
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

fn run_redis(args: &[String]) -> Result<()> {
    let config =
        ferrocache_redis::config::Config::from_args(args).context("invalid configuration")?;
    let node = ferrocache_server::run_redis(config).context("could not start the Redis node")?;
    for a in &node.addrs {
        eprintln!("ferrocache: Redis node ready to accept connections on {a}");
    }
    node.wait();
    Ok(())
}
