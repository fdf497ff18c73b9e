//! Redis-compatible persistence: RDB snapshots (read versions 1–12, write
//! 10 or 11), DUMP/RESTORE payloads, crash-safe file replacement, the
//! forked point-in-time BGSAVE, and encrypted snapshot envelopes.
//!
//! Depends only on the engine: no sockets, no command layer. The Redis
//! command layer (`ferrocache-redis`, `cmd/persist.rs`) drives it.
//!
//! - [`crc64`], [`lzf`], [`encoding`]: Redis's checksum, compressor and
//!   compact blob encodings (listpack, ziplist, intset, zipmap).
//! - [`reader`]: streaming RDB reader, hostile-input safe.
//! - [`writer`]: RDB writer and DUMP payloads.
//! - [`file`]: temp file + fsync + rename + directory fsync, and the
//!   fork-based background save.

pub mod crc64;
pub mod crypt;
pub mod encoding;
pub mod file;
pub mod lzf;
pub mod pacer;
pub mod rdb;
pub mod reader;
pub mod writer;

pub use reader::{read_rdb, Item, LoadSummary, LoadedKey, RdbError};
pub use writer::{dump_payload, write_rdb, write_rdb_progress, AccessInfo, SaveOptions, SaveStats};
