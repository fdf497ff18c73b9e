//! Command line of `ferrocache memcached`, as memcached's own (`-p 11211
//! -l 127.0.0.1 -m 64 -c 1024 -t 4 -I 1m -v`, long forms, `--opt=value`),
//! so scripts that start memcached can start ferrocache instead.
//!
//! Options that only make sense for memcached's C implementation (`-u`,
//! `-k`, `-L`, `-o ...`) are accepted and ignored where harmless;
//! anything unknown is a startup error naming the option.

use std::net::IpAddr;

/// Startup settings (and the `stats settings` values).
#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    pub listen: Vec<String>,
    /// `-m`: item memory limit in bytes.
    pub maxbytes: u64,
    pub maxconns: u64,
    pub threads: usize,
    /// `-I`: largest item (key + value + header), bytes.
    pub item_size_max: usize,
    pub verbose: u32,
    pub evictions: bool,
    pub cas_enabled: bool,
    pub flush_enabled: bool,
    pub growth_factor: f64,
    pub chunk_size: u32,
    pub backlog: u32,
    pub reqs_per_event: u32,
    pub pidfile: Option<String>,
    pub idle_timeout: u64,
    /// `-d`: run as a daemon (see `ferrocache_server::daemon`).
    pub daemonize: bool,
    /// `--busy-poll-us` (ferrocache's own): how long a worker keeps
    /// polling its sockets after input before it sleeps; 0 disables.
    pub busy_poll_us: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: 11211,
            listen: Vec::new(),
            maxbytes: 64 * 1024 * 1024,
            maxconns: 1024,
            threads: 4,
            item_size_max: 1024 * 1024,
            verbose: 0,
            evictions: true,
            cas_enabled: true,
            flush_enabled: true,
            growth_factor: 1.25,
            chunk_size: 48,
            backlog: 1024,
            reqs_per_event: 20,
            pidfile: None,
            idle_timeout: 0,
            daemonize: false,
            busy_poll_us: 50,
        }
    }
}

/// A bad command line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgError {
    #[error("unknown option '{0}' (see `ferrocache memcached --help`)")]
    Unknown(String),
    #[error("option '{0}' needs a value")]
    Missing(String),
    #[error("invalid value '{1}' for option '{0}'")]
    Invalid(String, String),
    #[error("help requested")]
    Help,
}

pub const HELP: &str = "usage: ferrocache memcached [options]   (memcached 1.6 compatible)
-p, --port=<num>          TCP port to listen on (default: 11211)
-l, --listen=<addr>       interface(s) to listen on, comma separated (default: all)
-m, --memory-limit=<num>  item memory in megabytes (default: 64)
-M, --disable-evictions   return error on memory exhausted instead of evicting
-c, --conn-limit=<num>    max simultaneous connections (default: 1024)
-t, --threads=<num>       number of worker threads (default: 4)
-I, --max-item-size=<num> max item size, k/m suffixes (default: 1m, min 1k, max 1024m)
-v, -vv, --verbose        verbose logging to stderr
-C, --disable-cas         disable use of CAS
-F, --disable-flush-all   disable flush_all
-b, --listen-backlog=<n>  accepted for compatibility
-R, --max-reqs-per-event  accepted for compatibility
-d, --daemon              run as a daemon
-P, --pidfile=<file>      save the process id in <file>
--busy-poll-us=<num>      microseconds a busy worker polls before it sleeps
                          (ferrocache's own; default 50, 0 disables)
-f, -n, -U, -u, -k, -L, -r, -o   accepted for compatibility
";

/// Parse a size with memcached's `k`/`m`/`g` suffixes.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024u64),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        b'g' | b'G' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

impl Settings {
    /// Parse memcached-style arguments (after the `memcached` subcommand).
    pub fn from_args(args: &[String]) -> Result<Settings, ArgError> {
        let mut s = Settings::default();
        let mut i = 0;
        while let Some(raw) = args.get(i) {
            i += 1;
            // Split "--opt=value" and "-p11211".
            let (name, inline): (String, Option<String>) =
                if let Some(long) = raw.strip_prefix("--") {
                    match long.split_once('=') {
                        Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                        None => (raw.clone(), None),
                    }
                } else if raw.starts_with('-') && raw.len() > 2 && !raw.starts_with("-vv") {
                    match (raw.get(..2), raw.get(2..)) {
                        (Some(n), Some(v)) => (n.to_string(), Some(v.to_string())),
                        _ => return Err(ArgError::Unknown(raw.clone())),
                    }
                } else {
                    (raw.clone(), None)
                };
            let mut value = |n: &str| -> Result<String, ArgError> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| ArgError::Missing(n.into()))?;
                i += 1;
                Ok(v)
            };
            let bad = |n: &str, v: &str| ArgError::Invalid(n.into(), v.into());
            match name.as_str() {
                "-p" | "--port" => {
                    let v = value(&name)?;
                    s.port = v.parse().map_err(|_| bad(&name, &v))?;
                }
                "-l" | "--listen" => {
                    let v = value(&name)?;
                    for a in v.split(',') {
                        let a = a.trim();
                        if a.parse::<IpAddr>().is_err() && a != "localhost" {
                            return Err(bad(&name, a));
                        }
                        s.listen.push(a.to_string());
                    }
                }
                "-m" | "--memory-limit" => {
                    let v = value(&name)?;
                    // memcached takes megabytes (a k/m/g suffix is bytes).
                    let bytes = match v.parse::<u64>() {
                        Ok(mb) => mb.checked_mul(1024 * 1024),
                        Err(_) => parse_size(&v),
                    };
                    s.maxbytes = bytes.filter(|&b| b > 0).ok_or_else(|| bad(&name, &v))?;
                }
                "-c" | "--conn-limit" => {
                    let v = value(&name)?;
                    s.maxconns = v
                        .parse()
                        .ok()
                        .filter(|&c| c > 0)
                        .ok_or_else(|| bad(&name, &v))?;
                }
                "-t" | "--threads" => {
                    let v = value(&name)?;
                    s.threads = v
                        .parse()
                        .ok()
                        .filter(|&t| (1..=1024).contains(&t))
                        .ok_or_else(|| bad(&name, &v))?;
                }
                "-I" | "--max-item-size" => {
                    let v = value(&name)?;
                    let n = parse_size(&v)
                        .filter(|&n| (1024..=1024 * 1024 * 1024).contains(&n))
                        .ok_or_else(|| bad(&name, &v))?;
                    s.item_size_max = n as usize;
                }
                "-v" | "--verbose" => s.verbose += 1,
                "-vv" => s.verbose += 2,
                "-vvv" => s.verbose += 3,
                "-M" | "--disable-evictions" => s.evictions = false,
                "-C" | "--disable-cas" => s.cas_enabled = false,
                "-F" | "--disable-flush-all" => s.flush_enabled = false,
                "-b" | "--listen-backlog" => {
                    let v = value(&name)?;
                    s.backlog = v.parse().map_err(|_| bad(&name, &v))?;
                }
                "-R" | "--max-reqs-per-event" => {
                    let v = value(&name)?;
                    s.reqs_per_event = v.parse().map_err(|_| bad(&name, &v))?;
                }
                "-f" | "--slab-growth-factor" => {
                    let v = value(&name)?;
                    s.growth_factor = v.parse().map_err(|_| bad(&name, &v))?;
                }
                "-n" | "--slab-min-size" => {
                    let v = value(&name)?;
                    s.chunk_size = v.parse().map_err(|_| bad(&name, &v))?;
                }
                "-P" | "--pidfile" => s.pidfile = Some(value(&name)?),
                "-U" | "--udp-port" => {
                    let v = value(&name)?;
                    if v != "0" {
                        return Err(bad(&name, &v));
                    }
                }
                "-u" | "--user" | "-o" | "--extended" | "-B" | "--protocol" => {
                    let _ = value(&name)?;
                }
                "-d" | "--daemon" => s.daemonize = true,
                "--busy-poll-us" => {
                    let v = value(&name)?;
                    s.busy_poll_us = v
                        .parse()
                        .ok()
                        .filter(|&us| us <= 10_000)
                        .ok_or_else(|| bad(&name, &v))?;
                }
                "-k"
                | "--lock-memory"
                | "-L"
                | "--enable-largepages"
                | "-r"
                | "--enable-coredumps" => {}
                "-h" | "--help" => return Err(ArgError::Help),
                _ => return Err(ArgError::Unknown(raw.clone())),
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn memcached_style_args() {
        let s = Settings::from_args(&a("-p 11311 -l 127.0.0.1 -m 64 -c 10 -t 2 -I 2m -v"))
            .unwrap_or_default();
        assert_eq!(s.port, 11311);
        assert_eq!(s.listen, vec!["127.0.0.1".to_string()]);
        assert_eq!(s.maxbytes, 64 << 20);
        assert_eq!(s.maxconns, 10);
        assert_eq!(s.threads, 2);
        assert_eq!(s.item_size_max, 2 << 20);
        assert_eq!(s.verbose, 1);
        assert!(!s.daemonize);
        let s = Settings::from_args(&a("-d -P /tmp/x.pid")).unwrap_or_default();
        assert!(s.daemonize);
        assert_eq!(s.pidfile.as_deref(), Some("/tmp/x.pid"));
        let s = Settings::from_args(&a("--port=1 --memory-limit=8 --threads=1 -p2 -vv"))
            .unwrap_or_default();
        assert_eq!(
            (s.port, s.maxbytes, s.threads, s.verbose),
            (2, 8 << 20, 1, 2)
        );
        assert_eq!(
            Settings::from_args(&a("--bogus")).err(),
            Some(ArgError::Unknown("--bogus".into()))
        );
        assert!(Settings::from_args(&a("-p")).is_err());
        assert!(Settings::from_args(&a("-t 0")).is_err());
        assert!(Settings::from_args(&a("-I 10")).is_err());
        assert_eq!(Settings::default().busy_poll_us, 50);
        let s = Settings::from_args(&a("--busy-poll-us=0")).unwrap_or_default();
        assert_eq!(s.busy_poll_us, 0);
        let s = Settings::from_args(&a("--busy-poll-us 200")).unwrap_or_default();
        assert_eq!(s.busy_poll_us, 200);
        assert!(Settings::from_args(&a("--busy-poll-us 10001")).is_err());
    }
}
