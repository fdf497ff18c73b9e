//! memcached 1.6 on the shared engine: `ferrocache memcached`.
//!
//! - [`settings`]: memcached's command line.
//! - [`conns`]: open connections (`stats conns`) and the `-vv` trace.
//! - [`engine`]: the item store (on `ferrocache_engine::Keyspace`), stats,
//!   memory limit and eviction, Auto Discovery state.
//! - [`conn`]: one connection's protocol state machine: text and meta
//!   commands ([`text`]) and the binary protocol ([`binary`]), detected from
//!   the first byte as memcached does. No I/O: the server crate feeds bytes
//!   in and writes the replies out.

pub mod binary;
pub mod conn;
pub mod conns;
pub mod engine;
pub mod settings;
pub mod stats;
pub mod text;

pub use conn::Conn;
pub use engine::Engine;
pub use settings::Settings;

/// The version reported by `version` and `stats` (the memcached release
/// whose behaviour this engine reproduces; clients check it for features).
pub const VERSION: &str = "1.6.18";
