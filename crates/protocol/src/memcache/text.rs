//! The memcached text protocol: request lines, tokens and numbers.
//!
//! A request is one line ending in `\n` (an `\r` before it is dropped);
//! storage commands are followed by a data block of exactly the announced
//! length plus `\r\n`. memcached tokenizes on single spaces only, stops at
//! the first NUL (it treats the line as a C string), and splits at most
//! [`MAX_TOKENS`]` - 1` tokens, leaving the rest of the line to multi-key
//! `get`, which continues tokenizing it. We keep exactly those rules so that
//! odd inputs get the same replies.

use smallvec::SmallVec;

/// memcached's `MAX_TOKENS` (the count includes its terminal token).
pub const MAX_TOKENS: usize = 24;
/// memcached's `KEY_MAX_LENGTH`.
pub const KEY_MAX_LENGTH: usize = 250;
/// A pending line without `\n` longer than this is only tolerated for
/// `get`/`gets` (memcached closes the connection otherwise).
pub const MAX_PARTIAL_LINE: usize = 2048;

/// What [`next_line`] found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line (without `\r\n`, cut at the first NUL) and the bytes
    /// it used up, terminator included.
    Complete { line: &'a [u8], consumed: usize },
    /// No newline yet; wait for more input.
    Incomplete,
    /// No newline within [`MAX_PARTIAL_LINE`] bytes and not a multi-get:
    /// memcached closes the connection.
    TooLong,
}

/// Split the next request line off `buf`.
pub fn next_line(buf: &[u8]) -> Line<'_> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let mut end = nl;
            if end > 1 && buf.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
            let line = buf.get(..end).unwrap_or(&[]);
            let line = match line.iter().position(|&b| b == 0) {
                Some(z) => line.get(..z).unwrap_or(&[]),
                None => line,
            };
            Line::Complete {
                line,
                consumed: nl + 1,
            }
        }
        None if buf.len() > MAX_PARTIAL_LINE => {
            let lead = buf.iter().take_while(|&&b| b == b' ').count();
            let rest = buf.get(lead..).unwrap_or(&[]);
            if lead > 100 || !(rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
                Line::TooLong
            } else {
                Line::Incomplete
            }
        }
        None => Line::Incomplete,
    }
}

/// Tokens of a line: at most `MAX_TOKENS - 1` (see the module docs), and
/// the unsplit remainder if the limit was hit.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tokens<'a> {
    pub tokens: SmallVec<[&'a [u8]; MAX_TOKENS]>,
    pub rest: Option<&'a [u8]>,
}

impl<'a> Tokens<'a> {
    /// memcached's `ntokens`: the tokens plus its terminal token.
    pub fn ntokens(&self) -> usize {
        self.tokens.len() + 1
    }

    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.tokens.get(i).copied()
    }
}

/// memcached's `tokenize_command`.
pub fn tokenize(line: &[u8]) -> Tokens<'_> {
    let mut t = Tokens::default();
    let mut s = 0usize;
    let mut i = 0usize;
    while i < line.len() {
        if line.get(i) == Some(&b' ') {
            if s != i {
                t.tokens.push(line.get(s..i).unwrap_or(&[]));
                if t.tokens.len() == MAX_TOKENS - 1 {
                    let rest = line.get(i + 1..).unwrap_or(&[]);
                    // memcached leaves a non-null terminal pointer whenever
                    // it stopped early, even if only spaces follow.
                    t.rest = Some(rest);
                    return t;
                }
            }
            s = i + 1;
        }
        i += 1;
    }
    if s != i {
        t.tokens.push(line.get(s..i).unwrap_or(&[]));
    }
    t
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C `strtoull` in base 10 on a token: (value, negative sign seen, digits
/// consumed up to, overflowed). `None` if no digits.
fn c_strtoull(s: &[u8]) -> Option<(u64, bool, usize, bool)> {
    let mut i = s.iter().take_while(|&&b| is_space(b)).count();
    let mut neg = false;
    match s.get(i) {
        Some(b'-') => {
            neg = true;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while let Some(&d) = s.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(d - b'0')))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((if neg { v.wrapping_neg() } else { v }, neg, i, overflow))
}

/// After the number: end of token or whitespace (memcached's check).
fn clean_end(s: &[u8], end: usize) -> bool {
    match s.get(end) {
        None => end > 0,
        Some(&b) => is_space(b),
    }
}

/// memcached `safe_strtoull`.
pub fn strtoull(s: &[u8]) -> Option<u64> {
    let (v, _neg, end, overflow) = c_strtoull(s)?;
    if overflow || !clean_end(s, end) {
        return None;
    }
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v)
}

/// memcached `safe_strtoul` (64-bit `unsigned long`, stored into a `u32`).
pub fn strtoul(s: &[u8]) -> Option<u32> {
    strtoull(s).map(|v| v as u32)
}

/// C `strtol` (64-bit `long`) with ERANGE.
fn c_strtol(s: &[u8]) -> Option<(i64, usize)> {
    let (v, neg, end, overflow) = c_strtoull(s)?;
    let mag = if neg { v.wrapping_neg() } else { v };
    if overflow {
        return None;
    }
    let r = if neg {
        if mag > i64::MAX as u64 + 1 {
            return None;
        }
        (mag as i64).wrapping_neg()
    } else {
        if mag > i64::MAX as u64 {
            return None;
        }
        mag as i64
    };
    Some((r, end))
}

/// memcached `safe_strtol` (64-bit `long`, stored into an `i32`).
pub fn strtol(s: &[u8]) -> Option<i32> {
    let (v, end) = c_strtol(s)?;
    clean_end(s, end).then_some(v as i32)
}

/// memcached `safe_strtoll`.
pub fn strtoll(s: &[u8]) -> Option<i64> {
    let (v, end) = c_strtol(s)?;
    clean_end(s, end).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            next_line(b"get a\r\nx"),
            Line::Complete {
                line: b"get a",
                consumed: 7
            }
        );
        assert_eq!(
            next_line(b"\r\n"),
            Line::Complete {
                line: b"\r",
                consumed: 2
            }
        );
        assert_eq!(
            next_line(b"ab\0cd\n"),
            Line::Complete {
                line: b"ab",
                consumed: 6
            }
        );
        assert_eq!(next_line(b"get a"), Line::Incomplete);
        assert_eq!(next_line(&[b'x'; 3000]), Line::TooLong);
        let mut g = b"get ".to_vec();
        g.extend_from_slice(&[b'k'; 3000]);
        assert_eq!(next_line(&g), Line::Incomplete);
    }

    #[test]
    fn tokens() {
        let t = tokenize(b"  set  a 0 ");
        assert_eq!(t.tokens.as_slice(), &[&b"set"[..], b"a", b"0"]);
        assert_eq!(t.ntokens(), 4);
        assert!(t.rest.is_none());
        let line: Vec<u8> = (0..30)
            .flat_map(|i| format!("k{i} ").into_bytes())
            .collect();
        let t = tokenize(&line);
        assert_eq!(t.tokens.len(), MAX_TOKENS - 1);
        assert!(t.rest.is_some_and(|r| r.starts_with(b"k23")));
    }

    #[test]
    fn numbers() {
        assert_eq!(strtoul(b"12"), Some(12));
        assert_eq!(strtoul(b"+12"), Some(12));
        assert_eq!(strtoul(b"-1"), None);
        assert_eq!(strtoul(b"4294967296"), Some(0));
        assert_eq!(strtoul(b"12a"), None);
        assert_eq!(strtoul(b""), None);
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        assert_eq!(strtoull(b"-0"), Some(0));
        assert_eq!(strtol(b"-5"), Some(-5));
        assert_eq!(strtol(b"4294967297"), Some(1));
        assert_eq!(strtol(b"9223372036854775808"), None);
        assert_eq!(strtol(b"-9223372036854775808"), Some(0));
        assert_eq!(strtoll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(strtoull(b"12\r"), Some(12));
        assert_eq!(strtoull(b" 7"), Some(7));
    }
}
