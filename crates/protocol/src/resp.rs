//! Request parsing: RESP multibulk (`*N\r\n$len\r\n...`) and inline
//! (telnet-style) commands, with the exact error strings and limits of
//! redis-server 7 (`networking.c`: `processMultibulkBuffer`,
//! `processInlineBuffer`).
//!
//! The parser is stateless: it is handed the unconsumed part of a connection's
//! query buffer and either returns one complete command, says how many bytes it
//! needs at least, or returns a protocol error. Multibulk arguments are returned
//! as ranges into the buffer, so no argument is copied.

use smallvec::SmallVec;
use std::ops::Range;

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest line (inline command, or
/// `*`/`$` header) accepted before the newline arrives.
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Limits the parser enforces; mirrors the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// True while the client has not authenticated and a password is set:
    /// Redis then refuses big multibulk counts and bulk lengths.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// A protocol error. The `Display` text is exactly what Redis puts after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

impl ParseError {
    /// The error reply's text (after `-`), byte-exact: Redis prints the
    /// offending byte raw (`%c`), not as UTF-8.
    pub fn reply_bytes(&self) -> Vec<u8> {
        match self {
            ParseError::ExpectedDollar(b) => {
                let mut v = b"ERR Protocol error: expected '$', got '".to_vec();
                v.push(*b);
                v.push(b'\'');
                v
            }
            other => format!("ERR {other}").into_bytes(),
        }
    }
}

/// Arguments of one parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// Ranges into the buffer handed to [`parse_command`].
    Ranges(SmallVec<[Range<usize>; 8]>),
    /// Inline commands are unquoted, so their arguments are owned.
    Owned(Vec<Vec<u8>>),
}

impl Args {
    pub fn len(&self) -> usize {
        match self {
            Args::Ranges(r) => r.len(),
            Args::Owned(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolve the arguments against the buffer they were parsed from.
    pub fn resolve<'a>(&'a self, buf: &'a [u8]) -> SmallVec<[&'a [u8]; 8]> {
        match self {
            Args::Ranges(r) => r.iter().map(|r| &buf[r.clone()]).collect(),
            Args::Owned(v) => v.iter().map(|a| a.as_slice()).collect(),
        }
    }
}

/// Outcome of one parse attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A complete command (possibly with zero arguments: an empty line or
    /// `*0`, which Redis silently skips) that used `consumed` bytes.
    Command { args: Args, consumed: usize },
    /// More input is needed; at least `min_len` bytes in total before the
    /// next attempt can make progress.
    Incomplete { min_len: usize },
}

/// Parse one command from the start of `buf`.
pub fn parse_command(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete { min_len: 1 });
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits)
    } else {
        parse_inline(buf)
    }
}

/// Redis looks for line ends with `strchr` on a NUL-terminated buffer, so
/// the search stops at the first NUL byte: a line with a NUL before its end
/// is never complete (and eventually too big). Mirrors that.
fn find_line_end(hay: &[u8], b: u8) -> Option<usize> {
    for (i, &c) in hay.iter().enumerate() {
        if c == b {
            return Some(i);
        }
        if c == 0 {
            return None;
        }
    }
    None
}

/// Redis's `string2ll`: strict decimal, optional '-', no '+', no spaces,
/// no leading zeros (except "0"), fits in i64.
pub fn parse_ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

fn parse_multibulk(buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
    // Header: *<count>\r\n. Redis searches for '\r' and only requires that one
    // more byte (the '\n') is present.
    let cr = match find_line_end(buf, b'\r') {
        Some(p) => p,
        None => {
            if buf.len() > INLINE_MAX_SIZE {
                return Err(ParseError::TooBigMbulkCount);
            }
            return Ok(Parsed::Incomplete {
                min_len: buf.len() + 1,
            });
        }
    };
    if cr > INLINE_MAX_SIZE {
        return Err(ParseError::TooBigMbulkCount);
    }
    if cr + 2 > buf.len() {
        return Ok(Parsed::Incomplete { min_len: cr + 2 });
    }
    let count = match parse_ll(&buf[1..cr]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Err(ParseError::InvalidMultibulkLength),
    };
    if count > 10 && limits.unauthenticated {
        return Err(ParseError::UnauthenticatedMultibulkLength);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Ok(Parsed::Command {
            args: Args::Ranges(SmallVec::new()),
            consumed: pos,
        });
    }
    // Do not trust the count for preallocation: a client may claim millions.
    let mut ranges: SmallVec<[Range<usize>; 8]> =
        SmallVec::with_capacity((count as usize).min(1024));
    for _ in 0..count {
        let rest = &buf[pos..];
        let cr = match find_line_end(rest, b'\r') {
            Some(p) => p,
            None => {
                if rest.len() > INLINE_MAX_SIZE {
                    return Err(ParseError::TooBigBulkCount);
                }
                return Ok(Parsed::Incomplete {
                    min_len: buf.len() + 1,
                });
            }
        };
        if cr > INLINE_MAX_SIZE {
            return Err(ParseError::TooBigBulkCount);
        }
        if cr + 2 > rest.len() {
            return Ok(Parsed::Incomplete {
                min_len: pos + cr + 2,
            });
        }
        if rest[0] != b'$' {
            return Err(ParseError::ExpectedDollar(rest[0]));
        }
        let len = match parse_ll(&rest[1..cr]) {
            Some(n) if n >= 0 && n <= limits.max_bulk_len => n,
            _ => return Err(ParseError::InvalidBulkLength),
        };
        if len > 16384 && limits.unauthenticated {
            return Err(ParseError::UnauthenticatedBulkLength);
        }
        let start = pos + cr + 2;
        let len = len as usize;
        // The bulk is followed by two bytes (CRLF) that Redis skips unchecked.
        let end = start + len + 2;
        if end > buf.len() {
            return Ok(Parsed::Incomplete { min_len: end });
        }
        ranges.push(start..start + len);
        pos = end;
    }
    Ok(Parsed::Command {
        args: Args::Ranges(ranges),
        consumed: pos,
    })
}

fn parse_inline(buf: &[u8]) -> Result<Parsed, ParseError> {
    let nl = match find_line_end(buf, b'\n') {
        Some(p) => p,
        None => {
            if buf.len() > INLINE_MAX_SIZE {
                return Err(ParseError::TooBigInline);
            }
            return Ok(Parsed::Incomplete {
                min_len: buf.len() + 1,
            });
        }
    };
    let mut line = &buf[..nl];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let args = split_args(line).ok_or(ParseError::UnbalancedQuotes)?;
    Ok(Parsed::Command {
        args: Args::Owned(args),
        consumed: nl + 1,
    })
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`: split a line into arguments, honouring "double
/// quotes" (with \n \r \t \b \a \\ \" and \xHH escapes) and 'single quotes'
/// (only \' escaped). A closing quote must be followed by a space or the end.
/// Returns `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // The C original works on a NUL-terminated string: stop at the first NUL
    // (which also guarantees the loops below always advance).
    let line = &line[..line.iter().position(|&c| c == 0).unwrap_or(line.len())];
    let mut out = Vec::new();
    let mut p = 0;
    let n = line.len();
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            if inq {
                if p >= n {
                    return None;
                }
                let c = line[p];
                if c == b'\\'
                    && p + 3 < n
                    && line[p + 1] == b'x'
                    && hex_val(line[p + 2]).is_some()
                    && hex_val(line[p + 3]).is_some()
                {
                    let hi = hex_val(line[p + 2]).unwrap_or(0);
                    let lo = hex_val(line[p + 3]).unwrap_or(0);
                    cur.push(hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && p + 1 < n {
                    p += 1;
                    cur.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // Closing quote must be followed by a space or nothing.
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if p >= n {
                    return None;
                }
                let c = line[p];
                if c == b'\\' && p + 1 < n && line[p + 1] == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return None;
                    }
                    p += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if p >= n {
                    break;
                }
                match line[p] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            p += 1;
        }
        out.push(cur);
    }
}

fn is_space(c: u8) -> bool {
    // C isspace(): space, \t, \n, \v, \f, \r
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(buf: &[u8]) -> Vec<Vec<u8>> {
        match parse_command(buf, &Limits::default()) {
            Ok(Parsed::Command { args, .. }) => {
                args.resolve(buf).iter().map(|a| a.to_vec()).collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn multibulk() {
        assert_eq!(
            cmd(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
            vec![b"GET".to_vec(), b"k".to_vec()]
        );
    }

    #[test]
    fn incomplete_everywhere() {
        let full = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
        for i in 0..full.len() {
            match parse_command(&full[..i], &Limits::default()) {
                Ok(Parsed::Incomplete { min_len }) => assert!(min_len > i),
                other => panic!("at {i}: {other:?}"),
            }
        }
        assert!(matches!(
            parse_command(full, &Limits::default()),
            Ok(Parsed::Command { consumed, .. }) if consumed == full.len()
        ));
    }

    #[test]
    fn errors() {
        let l = Limits::default();
        assert_eq!(
            parse_command(b"*x\r\n", &l),
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_command(b"*3000000000\r\n", &l),
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_command(b"*1\r\n+a\r\n", &l),
            Err(ParseError::ExpectedDollar(b'+'))
        );
        assert_eq!(
            parse_command(b"*1\r\n$-2\r\n", &l),
            Err(ParseError::InvalidBulkLength)
        );
        assert_eq!(
            parse_command(b"*1\r\n$536870913\r\n", &l),
            Err(ParseError::InvalidBulkLength)
        );
        assert_eq!(
            parse_command(b"set \"a\"b c\r\n", &l),
            Err(ParseError::UnbalancedQuotes)
        );
        let big = vec![b'a'; INLINE_MAX_SIZE + 1];
        assert_eq!(parse_command(&big, &l), Err(ParseError::TooBigInline));
    }

    #[test]
    fn nul_bytes_never_complete_a_line() {
        let l = Limits::default();
        assert!(matches!(
            parse_command(b"PING\x00\r\n", &l),
            Ok(Parsed::Incomplete { .. })
        ));
        let mut big = b"PING\x00\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'a', 70_000));
        assert_eq!(parse_command(&big, &l), Err(ParseError::TooBigInline));
        assert_eq!(split_args(b"a\x00 b"), Some(vec![b"a".to_vec()]));
        assert_eq!(
            ParseError::ExpectedDollar(0xff).reply_bytes(),
            b"ERR Protocol error: expected '$', got '\xff'".to_vec()
        );
    }

    #[test]
    fn inline_quotes() {
        assert_eq!(
            cmd(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n"),
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]
        );
        assert_eq!(cmd(b"\r\n"), Vec::<Vec<u8>>::new());
        assert_eq!(cmd(b"*0\r\n"), Vec::<Vec<u8>>::new());
        assert_eq!(cmd(b"*-1\r\n"), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn parse_ll_matches_redis() {
        assert_eq!(parse_ll(b"0"), Some(0));
        assert_eq!(parse_ll(b"-0"), None);
        assert_eq!(parse_ll(b"01"), None);
        assert_eq!(parse_ll(b"+1"), None);
        assert_eq!(parse_ll(b" 1"), None);
        assert_eq!(parse_ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_ll(b"9223372036854775808"), None);
    }
}
