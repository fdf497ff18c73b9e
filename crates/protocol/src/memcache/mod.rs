//! memcached 1.6 wire formats: the text protocol ([`text`]), its meta
//! commands ([`meta`]) and the binary protocol ([`binary`]).
//!
//! Pure parsers and encoders, no I/O and no store, so each can be fuzzed on
//! its own (`fuzz/fuzz_targets/mc_*.rs`). The memcached engine
//! (`ferrocache-memcached`) gives the parsed requests their meaning.
//!
//! Number parsing copies memcached's `safe_strto*` helpers (C `strtoul`
//! semantics, including their quirks: leading whitespace and a `+` sign are
//! accepted, a 64-bit value is truncated to 32 bits for flags), because
//! clients see the difference as `CLIENT_ERROR` versus success.

pub mod binary;
pub mod meta;
pub mod text;
