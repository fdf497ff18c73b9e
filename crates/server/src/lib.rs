//! Networking for a Redis node: listeners, worker threads, connections,
//! limits, background tasks.
//!
//! Threading model (see `docs/architecture.md`): `N` worker threads, each
//! running its own single-threaded tokio runtime. One acceptor hands each new
//! connection to a worker round-robin; the connection then lives on that
//! worker for its whole life, so its buffers stay in one core's cache and no
//! task is ever moved between threads. Commands run inline on the worker,
//! locking only the keyspace shards their keys map to.

pub mod background;
pub mod busy_poll;
pub mod connection;
pub mod daemon;
pub mod listener;
pub mod log;
pub mod memcached;

pub use listener::{run_redis, RunningNode, ServerError};
pub use memcached::{run_memcached, RunningMemcached};
