//! Wire formats spoken by ferrocache: RESP2/RESP3 requests and replies.
//!
//! This crate does no I/O and knows nothing about the store: it turns bytes
//! into commands ([`resp::parse_command`]) and replies into bytes
//! ([`reply::ReplyWriter`]). Keeping it pure makes it easy to fuzz
//! (`fuzz/fuzz_targets/resp_parse.rs`) and to reuse from tests and clients.

pub mod memcache;
pub mod reply;
pub mod resp;

pub use reply::{ReplyWriter, RespVersion};
pub use resp::{parse_command, Limits, ParseError, Parsed};
