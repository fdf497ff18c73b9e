//! Property tests for the request parser, always on (stable Rust, no
//! cargo-fuzz): a few hundred thousand seeded random and mutated inputs.
//!
//! Invariants checked:
//! - `parse_command` never panics, whatever the bytes and limits;
//! - a command's `consumed` is within the buffer and its argument ranges
//!   within `consumed`; limits (`proto-max-bulk-len`, unauthenticated caps)
//!   are honoured;
//! - `Incomplete { min_len }` always asks for more than the buffer holds, and
//!   for a prefix of a valid command never more than the whole command (a
//!   server that waits for `min_len` bytes must never wait forever);
//! - feeding a stream in random chunks, waiting for `min_len` like the server
//!   does, yields exactly the commands (and the same final error) as parsing
//!   it whole;
//! - trailing bytes after a complete command do not change it;
//! - `split_args` inverts redis-cli style quoting;
//! - a NUL byte ends a line search like C's `strchr` (random inputs are full
//!   of NULs; an earlier parser looped forever on them).
//!
//! The generator is a tiny xorshift PRNG so the crate needs no dev-dependency.

use ferrocache_protocol::resp::split_args;
use ferrocache_protocol::{parse_command, Limits, ParseError, Parsed};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 24) as u8
    }
}

/// A random argument: often printable, sometimes binary with CR/LF/NUL.
fn rand_arg(r: &mut Rng) -> Vec<u8> {
    let len = match r.below(10) {
        0 => 0,
        1..=7 => r.below(12),
        8 => r.below(200),
        _ => r.below(3000),
    };
    (0..len)
        .map(|_| match r.below(6) {
            0 => r.byte(),
            1 => b"\r\n\0\"' \\"[r.below(7)],
            _ => b'a' + r.below(26) as u8,
        })
        .collect()
}

fn encode_multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Quote like redis-cli (`sdscatrepr`): double quotes, escapes, `\xHH`.
fn quote(a: &[u8]) -> Vec<u8> {
    let mut v = vec![b'"'];
    for &c in a {
        match c {
            b'\\' => v.extend_from_slice(b"\\\\"),
            b'"' => v.extend_from_slice(b"\\\""),
            b'\n' => v.extend_from_slice(b"\\n"),
            b'\r' => v.extend_from_slice(b"\\r"),
            b'\t' => v.extend_from_slice(b"\\t"),
            7 => v.extend_from_slice(b"\\a"),
            8 => v.extend_from_slice(b"\\b"),
            0x21..=0x7e => v.push(c),
            _ => v.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    v.push(b'"');
    v
}

fn encode_inline(args: &[Vec<u8>], r: &mut Rng) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 || r.chance(20) {
            v.extend_from_slice([&b" "[..], b"  ", b"\t"][r.below(3)]);
        }
        v.extend_from_slice(&quote(a));
    }
    if r.chance(20) {
        v.push(b' ');
    }
    v.extend_from_slice(if r.chance(50) { b"\r\n" } else { b"\n" });
    v
}

/// A valid stream of commands and the argument lists it encodes.
fn valid_stream(r: &mut Rng) -> (Vec<u8>, Vec<Vec<Vec<u8>>>) {
    let mut bytes = Vec::new();
    let mut cmds = Vec::new();
    for _ in 0..1 + r.below(6) {
        let n = r.below(6);
        let args: Vec<Vec<u8>> = (0..n).map(|_| rand_arg(r)).collect();
        match r.below(10) {
            0..=5 => bytes.extend(encode_multibulk(&args)),
            6..=8 => bytes.extend(encode_inline(&args, r)),
            _ => {
                // Empty commands that Redis skips silently.
                bytes.extend_from_slice([&b"*0\r\n"[..], b"*-1\r\n", b"\r\n", b"\n"][r.below(4)]);
                cmds.push(Vec::new());
                continue;
            }
        }
        cmds.push(args);
    }
    (bytes, cmds)
}

fn mutate(r: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + r.below(4) {
        let len = input.len();
        match r.below(9) {
            0 if len > 0 => {
                let i = r.below(len);
                input[i] = r.byte();
            }
            1 => {
                let i = r.below(len + 1);
                input.insert(i, r.byte());
            }
            2 if len > 0 => {
                input.remove(r.below(len));
            }
            3 if len > 0 => {
                let i = r.below(len);
                let j = (i + r.below(16)).min(len);
                let dup: Vec<u8> = input[i..j].to_vec();
                let at = r.below(len + 1);
                input.splice(at..at, dup);
            }
            4 => {
                let i = r.below(len + 1);
                let special: &[&[u8]] = &[
                    b"\r\n",
                    b"*",
                    b"$",
                    b"-1",
                    b"2147483647",
                    b"536870912",
                    b"9223372036854775808",
                    b"\"",
                    b"'",
                    b"\\x",
                    b"\r",
                    b"\n",
                ];
                let s = special[r.below(special.len())];
                input.splice(i..i, s.iter().copied());
            }
            5 if len > 0 => input.truncate(r.below(len)),
            6 if len > 0 => {
                // Replace a digit with another number.
                let i = r.below(len);
                if input[i].is_ascii_digit() {
                    let nums: &[&[u8]] = &[b"0", b"-1", b"99999999999", b"1024", b"65536", b"-0"];
                    let n = nums[r.below(nums.len())];
                    input.splice(i..i + 1, n.iter().copied());
                }
            }
            _ => {}
        }
    }
}

fn rand_limits(r: &mut Rng) -> Limits {
    Limits {
        max_bulk_len: match r.below(6) {
            0 => 0,
            1 => r.below(20) as i64,
            2 => -1,
            3 => i64::MAX,
            _ => 512 * 1024 * 1024,
        },
        unauthenticated: r.chance(20),
    }
}

/// Check the per-call invariants; return the outcome.
fn checked_parse(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    let res = parse_command(buf, limits);
    match &res {
        Ok(Parsed::Command { args, consumed }) => {
            assert!(*consumed > 0, "zero consumed for {buf:?}");
            assert!(*consumed <= buf.len(), "consumed past the buffer");
            let resolved = args.resolve(&buf[..*consumed]);
            assert_eq!(resolved.len(), args.len());
            if limits.unauthenticated {
                assert!(args.len() <= 10 || !buf.starts_with(b"*"));
            }
            if buf.starts_with(b"*") {
                for a in &resolved {
                    assert!(a.len() as i64 <= limits.max_bulk_len.max(0));
                    if limits.unauthenticated {
                        assert!(a.len() <= 16384);
                    }
                }
            }
        }
        Ok(Parsed::Incomplete { min_len }) => {
            assert!(
                *min_len > buf.len(),
                "min_len {min_len} <= buffer {}",
                buf.len()
            );
        }
        Err(_) => {}
    }
    res
}

/// Parse a whole buffer command by command: (commands, final state) where the
/// final state is `Ok(unconsumed bytes)` or the error.
type Stream = (Vec<Vec<Vec<u8>>>, Result<usize, ParseError>);

fn parse_whole(buf: &[u8], limits: &Limits) -> Stream {
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        match checked_parse(&buf[start..], limits) {
            Ok(Parsed::Command { args, consumed }) => {
                let argv = args.resolve(&buf[start..start + consumed]);
                out.push(argv.iter().map(|a| a.to_vec()).collect());
                start += consumed;
            }
            Ok(Parsed::Incomplete { .. }) => return (out, Ok(buf.len() - start)),
            Err(e) => return (out, Err(e)),
        }
    }
}

/// Feed `buf` in random chunks the way the server does: append, wait until
/// `min_len` bytes are buffered, then parse every complete command.
fn parse_chunked(buf: &[u8], limits: &Limits, r: &mut Rng) -> Stream {
    let mut out = Vec::new();
    let mut inbuf: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut need = 1;
    let mut fed = 0;
    while fed < buf.len() {
        let max_chunk = if r.chance(50) { 8 } else { 400 };
        let n = 1 + r.below(max_chunk);
        let end = (fed + n).min(buf.len());
        inbuf.extend_from_slice(&buf[fed..end]);
        fed = end;
        if inbuf.len() - start < need {
            continue;
        }
        loop {
            match checked_parse(&inbuf[start..], limits) {
                Ok(Parsed::Command { args, consumed }) => {
                    let argv = args.resolve(&inbuf[start..start + consumed]);
                    out.push(argv.iter().map(|a| a.to_vec()).collect());
                    start += consumed;
                }
                Ok(Parsed::Incomplete { min_len }) => {
                    need = min_len;
                    break;
                }
                Err(e) => return (out, Err(e)),
            }
        }
    }
    (out, Ok(inbuf.len() - start))
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    for _ in 0..100_000 {
        let len = r.below(64);
        let buf: Vec<u8> = (0..len)
            .map(|_| match r.below(4) {
                0 => r.byte(),
                _ => b"*$\r\n0123456789-\"' x"[r.below(19)],
            })
            .collect();
        let limits = rand_limits(&mut r);
        let _ = checked_parse(&buf, &limits);
        let _ = parse_whole(&buf, &limits);
        let _ = split_args(&buf);
    }
}

#[test]
fn valid_streams_parse_the_same_whole_and_chunked() {
    let mut r = Rng(0xfe77_0cac_4e00_0001);
    let limits = Limits::default();
    for _ in 0..30_000 {
        let (bytes, cmds) = valid_stream(&mut r);
        let whole = parse_whole(&bytes, &limits);
        assert_eq!(whole.0, cmds, "stream {bytes:?}");
        assert_eq!(whole.1, Ok(0));
        let chunked = parse_chunked(&bytes, &limits, &mut r);
        assert_eq!(chunked, whole, "chunked stream {bytes:?}");
    }
}

#[test]
fn prefixes_ask_for_at_most_the_whole_command() {
    let mut r = Rng(0x0dd_ba11_cafe);
    let limits = Limits::default();
    for _ in 0..3_000 {
        let n = 1 + r.below(4);
        let args: Vec<Vec<u8>> = (0..n).map(|_| rand_arg(&mut r)).collect();
        let cmd = if r.chance(60) {
            encode_multibulk(&args)
        } else {
            encode_inline(&args, &mut r)
        };
        for i in 0..cmd.len() {
            match checked_parse(&cmd[..i], &limits) {
                Ok(Parsed::Incomplete { min_len }) => {
                    assert!(min_len <= cmd.len(), "prefix {i} of {cmd:?} asks {min_len}")
                }
                other => panic!("prefix {i} of {cmd:?}: {other:?}"),
            }
        }
        // Trailing bytes do not change a complete command.
        let mut longer = cmd.clone();
        longer.extend(rand_arg(&mut r));
        let a = parse_whole(&cmd, &limits).0;
        let b = parse_whole(&longer, &limits).0;
        assert_eq!(a.first(), b.first());
        assert_eq!(a.first(), Some(&args));
    }
}

#[test]
fn mutated_streams_agree_whole_and_chunked() {
    let mut r = Rng(0xbad_1dea_5eed);
    for _ in 0..150_000 {
        let (mut bytes, _) = valid_stream(&mut r);
        mutate(&mut r, &mut bytes);
        let limits = if r.chance(70) {
            Limits::default()
        } else {
            rand_limits(&mut r)
        };
        let whole = parse_whole(&bytes, &limits);
        let chunked = parse_chunked(&bytes, &limits, &mut r);
        assert_eq!(chunked, whole, "mutated stream {bytes:?} limits {limits:?}");
    }
}

#[test]
fn huge_declared_lengths_are_incomplete_not_allocated() {
    let limits = Limits::default();
    for buf in [
        &b"*2147483647\r\n"[..],
        b"*1\r\n$536870912\r\n",
        b"*2147483647\r\n$3\r\nGET\r\n",
    ] {
        match checked_parse(buf, &limits) {
            Ok(Parsed::Incomplete { .. }) => {}
            other => panic!("{buf:?}: {other:?}"),
        }
    }
    assert_eq!(
        parse_command(b"*2147483648\r\n", &limits),
        Err(ParseError::InvalidMultibulkLength)
    );
}

#[test]
fn split_args_inverts_quoting() {
    let mut r = Rng(0x5eed_5eed);
    for _ in 0..50_000 {
        let n = r.below(5);
        let args: Vec<Vec<u8>> = (0..n).map(|_| rand_arg(&mut r)).collect();
        let line = encode_inline(&args, &mut r);
        // split_args gets the line without its newline.
        let end = line.len() - if line.ends_with(b"\r\n") { 2 } else { 1 };
        assert_eq!(split_args(&line[..end]), Some(args.clone()), "{line:?}");
    }
}
