//! `split_args` (Redis's `sdssplitargs`) on arbitrary lines: never panics or
//! loops, and re-quoting what it returns and splitting again gives the same
//! arguments (quoting round-trips).
#![no_main]

use ferrocache_protocol::resp::split_args;
use libfuzzer_sys::fuzz_target;

/// redis-cli style quoting (`sdscatrepr`).
fn quote(a: &[u8]) -> Vec<u8> {
    let mut v = vec![b'"'];
    for &c in a {
        match c {
            b'\\' => v.extend_from_slice(b"\\\\"),
            b'"' => v.extend_from_slice(b"\\\""),
            b'\n' => v.extend_from_slice(b"\\n"),
            b'\r' => v.extend_from_slice(b"\\r"),
            b'\t' => v.extend_from_slice(b"\\t"),
            0x21..=0x7e => v.push(c),
            _ => v.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    v.push(b'"');
    v
}

fuzz_target!(|data: &[u8]| {
    let Some(args) = split_args(data) else {
        return;
    };
    let mut line = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        line.extend_from_slice(&quote(a));
    }
    assert_eq!(split_args(&line).as_ref(), Some(&args));
});
