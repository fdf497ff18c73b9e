//! Redis command semantics on top of the engine.
//!
//! A reader finds any command in one place: its entry in a module's
//! `COMMANDS` table under [`cmd`] names its arity, flags, key positions and
//! handler function, which sits right below in the same file. [`table`]
//! gathers the modules' tables into the one registry that dispatch, COMMAND,
//! ACL categories and key extraction all read.
//!
//! - [`spec`]: the `CommandSpec` type and flag constants.
//! - [`dispatch`]: one request's path: lookup, arity, auth, OOM check, key
//!   extraction, shard locking, handler, stats, slowlog, MONITOR feed.
//! - [`ctx`]: what a handler gets: the locked keyspace, the client, the
//!   server and the reply writer.
//! - [`args`]: argument parsing helpers with Redis's exact error strings.
//! - [`server`]: node-wide state (keyspace, config, stats, clients, slowlog).
//! - [`client`]: per-connection state and the client registry.
//! - [`config`]: every `CONFIG` parameter, its parsing and its effect.

pub mod args;
// Blocking commands and CLIENT PAUSE (H3).
pub mod blocking;
pub mod client;
pub mod cmd;
pub mod config;
pub mod ctx;
pub mod dispatch;
pub mod error;
pub mod evict;
// Keyspace notifications and client-side caching (H4).
pub mod notify;
pub mod script;
pub mod server;
pub mod spec;
pub mod table;
pub mod tracking;

pub use client::{ClientShared, ClientState};
pub use ctx::Ctx;
pub use dispatch::execute;
pub use error::CmdError;
pub use server::Server;
