//! The keyspace: data types, expiry, memory accounting and eviction.
//!
//! Nothing here knows about sockets or wire formats. The Redis command layer
//! (`ferrocache-redis`) and the memcached layer build on this crate.
//!
//! Layout:
//! - [`blob`]: the small-string-optimised byte string used for keys and values.
//! - [`types`]: one module per data type (string helpers, list, hash, set,
//!   sorted set), each with its compact and its large encoding.
//! - [`db`]: one logical database (`SELECT n`) within one shard: the key map,
//!   lazy expiry, random sampling for active expiry and eviction.
//! - [`keyspace`]: the shards (each owns a range of the 16,384 hash slots and
//!   all databases for those slots) and the lock discipline for multi-key work.
//! - [`slot`]: key → hash slot (CRC16, hash tags), as Redis Cluster.
//! - [`glob`]: Redis's glob matcher (KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE).
//! - [`memory`]: the process-wide allocation counter behind `used_memory`.
//! - [`evict`]: sampled-pool LRU/LFU eviction, shared by the Redis node
//!   (`maxmemory`) and the memcached node (`-m`).

pub mod blob;
pub mod clock;
pub mod db;
pub mod evict;
pub mod glob;
pub mod keyspace;
pub mod memory;
pub mod slot;
pub mod types;
pub mod value;

pub use blob::Blob;
pub use db::{Db, Entry, KeyEvent};
pub use keyspace::{Keyspace, Locked, Shard};
pub use value::{Value, WrongType};
