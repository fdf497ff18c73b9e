//! memcached meta flag parsing and base64 keys on arbitrary input: never
//! panics, and base64 round-trips.
#![no_main]

use ferrocache_protocol::memcache::meta::{b64_decode, b64_encode, preparse};
use ferrocache_protocol::memcache::text::tokenize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = tokenize(data);
    if let Some((key, flags)) = t.tokens.split_first() {
        let _ = preparse(key, flags);
    }
    if let Some(d) = b64_decode(data) {
        let mut e = Vec::new();
        b64_encode(&d, &mut e);
        assert_eq!(b64_decode(&e), Some(d));
    }
});
