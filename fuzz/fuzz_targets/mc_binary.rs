//! memcached binary framing on arbitrary input: never panics, a framed
//! request's parts add up to what it consumed, and re-encoding a request
//! gives back the same bytes.
#![no_main]

use ferrocache_protocol::memcache::binary::{parse_request, write_request, Framed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Framed::Request { req, consumed } = parse_request(rest, 1 << 20) {
        assert_eq!(
            24 + req.extras.len() + req.key.len() + req.value.len(),
            consumed
        );
        let mut again = Vec::new();
        let h = req.header;
        write_request(
            &mut again, h.opcode, h.opaque, h.cas, req.extras, req.key, req.value,
        );
        // Datatype and vbucket are not re-encoded (always 0 from clients).
        if h.datatype == 0 && h.vbucket == 0 {
            assert_eq!(&again[..], &rest[..consumed]);
        }
        rest = &rest[consumed..];
    }
});
