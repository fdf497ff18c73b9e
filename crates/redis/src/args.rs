//! Argument parsing with Redis's exact error replies.

use crate::error::{CmdError, NOT_FLOAT, NOT_INTEGER};
use ferrocache_engine::types::string::parse_i64;

/// Parse an integer argument (`ERR value is not an integer or out of range`).
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or_else(|| CmdError::msg(NOT_INTEGER))
}

/// Parse an integer with a custom error message.
pub fn int_or(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or_else(|| CmdError::msg(msg))
}

/// Parse a non-negative integer (`ERR value is out of range, must be positive`).
pub fn positive(arg: &[u8]) -> Result<i64, CmdError> {
    let n = int(arg)?;
    if n < 0 {
        return Err(CmdError::msg("ERR value is out of range, must be positive"));
    }
    Ok(n)
}

/// Parse a float as Redis's `getDoubleFromObject`/`string2d`: `inf`, `-inf`,
/// `+inf` accepted, no spaces, NaN refused.
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or_else(|| CmdError::msg(NOT_FLOAT))
}

/// Parse a double as Redis 7.0's `getDoubleFromObject` does with `strtod`:
/// no leading white space, the whole argument consumed, C99 hex floats and
/// `inf`/`infinity` accepted, NaN refused, and a result that overflows to
/// ±inf or underflows to 0 (`ERANGE`) refused.
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || is_c_space(arg[0]) {
        return None;
    }
    let r = strtod(arg);
    if r.consumed != arg.len()
        || r.value.is_nan()
        || (r.erange && (r.value == 0.0 || r.value.is_infinite()))
    {
        return None;
    }
    Some(r.value)
}

/// C `isspace`.
pub fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What C's `strtod` returns for a byte string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    pub value: f64,
    /// Bytes consumed (0 when nothing could be parsed: `endptr == nptr`).
    pub consumed: usize,
    /// `errno == ERANGE`: overflow to ±inf, or a non-zero number rounding to 0.
    pub erange: bool,
}

fn starts_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p)
}

/// C `strtod` on a byte string (the string ends at the first NUL, as in C):
/// skips leading white space, then parses the longest valid prefix: decimal
/// with exponent, C99 hex floats (`0x1.8p3`), `inf`, `infinity`, `nan`.
pub fn strtod(s: &[u8]) -> Strtod {
    let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
    let none = Strtod {
        value: 0.0,
        consumed: 0,
        erange: false,
    };
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    if starts_with_ci(rest, b"inf") {
        let n = if starts_with_ci(rest, b"infinity") {
            8
        } else {
            3
        };
        return Strtod {
            value: sign(f64::INFINITY),
            consumed: i + n,
            erange: false,
        };
    }
    if starts_with_ci(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            if let Some(close) = rest[4..].iter().position(|&c| c == b')') {
                if rest[4..4 + close]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    n = 4 + close + 1;
                }
            }
        }
        return Strtod {
            value: sign(f64::NAN),
            consumed: i + n,
            erange: false,
        };
    }
    if starts_with_ci(rest, b"0x") {
        if let Some((v, n, erange)) = parse_hex_float(&rest[2..]) {
            return Strtod {
                value: sign(v),
                consumed: i + 2 + n,
                erange,
            };
        }
        // "0x" with no hex digits: strtod parses the "0".
        return Strtod {
            value: sign(0.0),
            consumed: i + 1,
            erange: false,
        };
    }
    // Decimal.
    let mut j = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while j < rest.len() && rest[j].is_ascii_digit() {
        nonzero |= rest[j] != b'0';
        j += 1;
        digits += 1;
    }
    if j < rest.len() && rest[j] == b'.' {
        j += 1;
        while j < rest.len() && rest[j].is_ascii_digit() {
            nonzero |= rest[j] != b'0';
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return none;
    }
    if j < rest.len() && (rest[j] == b'e' || rest[j] == b'E') {
        let mut k = j + 1;
        if k < rest.len() && (rest[k] == b'+' || rest[k] == b'-') {
            k += 1;
        }
        if k < rest.len() && rest[k].is_ascii_digit() {
            while k < rest.len() && rest[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = std::str::from_utf8(&rest[..j]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Strtod {
        value: sign(v),
        consumed: i + j,
        erange,
    }
}

/// Hex float after "0x": hex digits, optional '.', hex digits, optional
/// `p[+-]dec`. Returns (value, bytes consumed, erange).
fn parse_hex_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut j = 0;
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    let mut sticky = false;
    let mut frac = false;
    loop {
        match s.get(j) {
            Some(&b'.') if !frac => frac = true,
            Some(&c) if hex(c).is_some() => {
                let d = u64::from(hex(c).unwrap_or(0));
                digits += 1;
                if mant >> 56 == 0 {
                    mant = mant * 16 + d;
                    if frac {
                        exp -= 4;
                    }
                } else {
                    sticky |= d != 0;
                    if !frac {
                        exp += 4;
                    }
                }
            }
            _ => break,
        }
        j += 1;
    }
    if digits == 0 {
        return None;
    }
    if matches!(s.get(j), Some(b'p') | Some(b'P')) {
        let mut k = j + 1;
        let mut eneg = false;
        if matches!(s.get(k), Some(b'+') | Some(b'-')) {
            eneg = s[k] == b'-';
            k += 1;
        }
        if s.get(k).is_some_and(|c| c.is_ascii_digit()) {
            let mut e: i64 = 0;
            while let Some(c) = s.get(k).filter(|c| c.is_ascii_digit()) {
                e = (e * 10 + i64::from(c - b'0')).min(1 << 20);
                k += 1;
            }
            exp += if eneg { -e } else { e };
            j = k;
        }
    }
    if sticky {
        mant |= 1;
    }
    let mut v = mant as f64;
    // Scale by 2^exp in steps that cannot overflow the multiplier.
    let mut e = exp;
    while e > 0 {
        let step = e.min(1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    while e < 0 {
        let step = (-e).min(1000);
        v /= 2f64.powi(step as i32);
        e += step;
    }
    let erange = v.is_infinite() || (v == 0.0 && mant != 0);
    Some((v, j, erange))
}

/// Case-insensitive ASCII comparison of an argument with a keyword.
pub fn eq(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// Lossy UTF-8 view of an argument for messages.
pub fn show(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

#[cfg(test)]
mod strtod_tests {
    use super::*;

    #[test]
    fn matches_getdoublefromobject() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"0x1p3"), Some(8.0));
        assert_eq!(parse_f64(b"-0X1.8P1"), Some(-3.0));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b"1e-400"), None);
        assert!(parse_f64(b"1e-310").is_some_and(|v| v > 0.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"+.5"), Some(0.5));
        assert_eq!(parse_f64(b"1e"), None);
        assert_eq!(parse_f64(b"0x"), None);
        assert_eq!(strtod(b"12\x00junk").consumed, 2);
        assert_eq!(strtod(b"  3abc").consumed, 3);
        assert_eq!(strtod(b"abc").consumed, 0);
    }
}
