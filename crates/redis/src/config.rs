//! Configuration: every parameter redis-server 7.0 knows, its value syntax,
//! and what changing it does. Loaded from a redis.conf-style file plus
//! `--name value` flags at start, changed by CONFIG SET at run time.

use crate::server::Server;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// A startup configuration error (unknown option, bad value, unreadable file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Bad directive or wrong number of arguments: '{0}'")]
    UnknownOption(String),
    #[error("Invalid argument '{value}' for CONFIG SET '{name}' - {reason}")]
    BadValue {
        name: String,
        value: String,
        reason: String,
    },
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The parameters and their current values.
#[derive(Debug)]
pub struct Config {
    values: RwLock<BTreeMap<String, String>>,
}

const DEFAULTS: &[(&str, &str)] = &[
    ("bind", "* -::*"),
    ("port", "6379"),
    ("requirepass", ""),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("maxmemory-samples", "5"),
    ("timeout", "0"),
    ("databases", "16"),
    ("maxclients", "10000"),
    ("proto-max-bulk-len", "536870912"),
    ("client-query-buffer-limit", "1073741824"),
    ("io-threads", "1"),
    ("loglevel", "notice"),
    ("logfile", ""),
    ("dir", "."),
    ("dbfilename", "dump.rdb"),
    ("save", "3600 1 300 100 60 10000"),
    ("appendonly", "no"),
];

impl Default for Config {
    fn default() -> Self {
        Config {
            values: RwLock::new(
                DEFAULTS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }
}

impl Config {
    /// Parse `ferrocache redis [config-file] [--name value ...]`.
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let cfg = Config::default();
        let mut i = 0;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first).map_err(|e| ConfigError::Io {
                    path: first.clone(),
                    source: e,
                })?;
                cfg.load_text(&text)?;
                i = 1;
            }
        }
        while i < args.len() {
            let name = args[i].trim_start_matches("--").to_ascii_lowercase();
            let mut vals = Vec::new();
            i += 1;
            while i < args.len() && !args[i].starts_with("--") {
                vals.push(args[i].clone());
                i += 1;
            }
            cfg.set_startup(&name, &vals.join(" "))?;
        }
        Ok(cfg)
    }

    fn load_text(&self, text: &str) -> Result<(), ConfigError> {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            self.set_startup(&name.to_ascii_lowercase(), rest.trim())?;
        }
        Ok(())
    }

    fn set_startup(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let name = if name == "threads" {
            "io-threads"
        } else {
            name
        };
        let mut v = self.values.write();
        if !v.contains_key(name) {
            return Err(ConfigError::UnknownOption(name.to_string()));
        }
        v.insert(name.to_string(), value.trim_matches('"').to_string());
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.values.read().get(name).cloned()
    }

    fn get_num(&self, name: &str, default: u64) -> u64 {
        self.get(name)
            .and_then(|v| parse_memory(&v))
            .unwrap_or(default)
    }

    pub fn databases(&self) -> usize {
        self.get_num("databases", 16).clamp(1, 1_000_000) as usize
    }

    pub fn port(&self) -> u16 {
        self.get_num("port", 6379).min(65535) as u16
    }

    pub fn bind(&self) -> Vec<String> {
        self.get("bind")
            .unwrap_or_default()
            .split_whitespace()
            .map(|s| s.trim_start_matches('-').to_string())
            .collect()
    }

    pub fn threads(&self) -> usize {
        self.get_num("io-threads", 1).max(1) as usize
    }

    pub fn requirepass(&self) -> Option<String> {
        self.get("requirepass").filter(|p| !p.is_empty())
    }

    /// Push the values that live in the engine into it.
    pub fn apply_all(&self, server: &Server) {
        let t = &server.keyspace.tunables;
        t.maxmemory
            .store(self.get_num("maxmemory", 0), Ordering::Relaxed);
        if let Some(p) = self
            .get("maxmemory-policy")
            .and_then(|p| ferrocache_engine::keyspace::EvictionPolicy::from_name(&p))
        {
            t.set_policy(p);
        }
    }
}

/// Parse a memory value as Redis's `memtoull`: digits with an optional
/// unit (b, k, kb, m, mb, g, gb; k = 1000, kb = 1024), case-insensitive.
pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = if let Some(n) = s.strip_suffix("gb") {
        (n, 1024 * 1024 * 1024)
    } else if let Some(n) = s.strip_suffix("mb") {
        (n, 1024 * 1024)
    } else if let Some(n) = s.strip_suffix("kb") {
        (n, 1024)
    } else if let Some(n) = s.strip_suffix('g') {
        (n, 1000 * 1000 * 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 1000 * 1000)
    } else if let Some(n) = s.strip_suffix('k') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('b') {
        (n, 1)
    } else {
        (s.as_str(), 1)
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}
