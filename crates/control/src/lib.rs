//! ferrocache's control plane: the managed service on one machine.
//! `ferrocache serve` keeps resources (cache clusters, replication groups,
//! parameter groups, events, tags, access keys, usage) in an embedded
//! transactional store, runs a level-triggered controller that converges
//! nodes (child processes from a [`provision::Provisioner`]) to the desired
//! state, and answers the ElastiCache API (AWS Query protocol, SigV4).

pub mod api;
pub mod backup;
pub mod controller;
pub mod forward;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod provision;
pub mod s3;
pub mod serve;
pub mod sigv4;
pub mod store;
pub mod util;

/// Re-exported for the binary's CLI verbs (JSON output).
pub use serde_json;
pub mod snapshots;
