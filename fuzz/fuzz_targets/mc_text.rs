//! memcached text protocol parsing on arbitrary input: line splitting,
//! tokenizing (including the 24-token continuation used by multi-get) and
//! the `safe_strto*` number parsers never panic, and tokens are never
//! empty and never contain a space.
#![no_main]

use ferrocache_protocol::memcache::text::{
    next_line, strtol, strtoll, strtoul, strtoull, tokenize, Line,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Line::Complete { line, consumed } = next_line(rest) {
        assert!(consumed > 0 && consumed <= rest.len());
        let mut t = tokenize(line);
        loop {
            for tok in &t.tokens {
                assert!(!tok.is_empty() && !tok.contains(&b' '));
                let _ = (strtoul(tok), strtoull(tok), strtol(tok), strtoll(tok));
            }
            match t.rest {
                Some(r) => t = tokenize(r),
                None => break,
            }
        }
        rest = &rest[consumed..];
    }
});
