//! `parse_command` on arbitrary bytes with arbitrary limits.
//!
//! The first 9 input bytes choose the limits (8 bytes of `proto-max-bulk-len`,
//! one for "unauthenticated"), the rest is the query buffer. The whole buffer
//! is parsed command by command, like a connection does, checking that the
//! parser never panics, that `consumed` is within the buffer and argument
//! ranges within `consumed`, that limits are honoured, and that `min_len`
//! always asks for more than the buffer holds (a server waiting for
//! `min_len` bytes must make progress when they arrive).
#![no_main]

use ferrocache_protocol::{parse_command, Limits, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (limits, buf) = match data.split_first_chunk::<9>() {
        Some((head, rest)) => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&head[..8]);
            let max = i64::from_le_bytes(n);
            // Mostly realistic limits, sometimes extreme ones.
            let max_bulk_len = match head[8] >> 4 {
                0 => max,
                1 => max & 0xff,
                _ => 512 * 1024 * 1024,
            };
            (
                Limits {
                    max_bulk_len,
                    unauthenticated: head[8] & 1 == 1,
                },
                rest,
            )
        }
        None => (Limits::default(), data),
    };
    let mut start = 0;
    while start < buf.len() {
        let rest = &buf[start..];
        match parse_command(rest, &limits) {
            Ok(Parsed::Command { args, consumed }) => {
                assert!(consumed > 0 && consumed <= rest.len());
                let argv = args.resolve(&rest[..consumed]);
                assert_eq!(argv.len(), args.len());
                if rest[0] == b'*' {
                    if limits.unauthenticated {
                        assert!(argv.len() <= 10);
                    }
                    for a in &argv {
                        assert!(a.len() as i64 <= limits.max_bulk_len.max(0));
                        if limits.unauthenticated {
                            assert!(a.len() <= 16384);
                        }
                    }
                }
                start += consumed;
            }
            Ok(Parsed::Incomplete { min_len }) => {
                assert!(min_len > rest.len());
                break;
            }
            Err(e) => {
                // Every error has a Redis text to send back.
                assert!(e.to_string().starts_with("Protocol error: "));
                break;
            }
        }
    }
});
