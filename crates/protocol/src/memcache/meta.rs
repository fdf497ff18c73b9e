//! memcached meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`): flag
//! parsing and base64 keys.
//!
//! A meta request is a text line `<cmd> <key> [<datalen>] <flags>*` where
//! each flag is one character optionally followed by a token (`T30`,
//! `Oopaque`). Parsing is memcached's `_meta_flag_preparse`: duplicate or
//! unknown flags and bad numbers are errors with memcached's exact texts.

use super::text::{strtol, strtoul, strtoull};

/// Flags of one meta request, after [`preparse`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MetaFlags {
    pub no_update: bool,
    pub vivify: bool,
    pub la: bool,
    pub hit: bool,
    pub value: bool,
    pub set_stale: bool,
    pub no_reply: bool,
    pub has_cas: bool,
    pub new_ttl: bool,
    pub key_binary: bool,
    pub mode: u8,
    /// `T`: new TTL (raw seconds, memcached exptime rules).
    pub exptime: i32,
    /// `N`: autovivify TTL.
    pub autoviv_exptime: i32,
    /// `R`: recache threshold.
    pub recache_time: Option<i32>,
    pub client_flags: u32,
    pub req_cas_id: u64,
    pub delta: u64,
    pub initial: u64,
    /// The decoded key when `b` was given.
    pub decoded_key: Option<Vec<u8>>,
}

/// memcached `_meta_flag_preparse` over the flag tokens of a request
/// (`key` is the key token, decoded in place when `b` is present). The
/// error is the complete reply line memcached sends.
pub fn preparse(key: &[u8], flags: &[&[u8]]) -> Result<MetaFlags, &'static str> {
    let mut of = MetaFlags {
        delta: 1,
        ..MetaFlags::default()
    };
    let mut seen = [false; 128];
    let mut err: Option<&'static str> = None;
    for tok in flags {
        let Some(&o) = tok.first() else { continue };
        let arg = tok.get(1..).unwrap_or(&[]);
        match seen.get_mut(usize::from(o)) {
            Some(s) if o < 127 && !*s => *s = true,
            _ => return Err("CLIENT_ERROR duplicate flag"),
        }
        match o {
            b'b' => match b64_decode(key) {
                Some(k) if !k.is_empty() => {
                    of.decoded_key = Some(k);
                    of.key_binary = true;
                }
                _ => {
                    err = Some("CLIENT_ERROR error decoding key");
                    of.key_binary = true;
                }
            },
            b'N' => {
                of.vivify = true;
                match strtol(arg) {
                    Some(v) => of.autoviv_exptime = v,
                    None => err = Some("CLIENT_ERROR bad token in command line format"),
                }
            }
            b'T' => match strtol(arg) {
                Some(v) => {
                    of.exptime = v;
                    of.new_ttl = true;
                }
                None => err = Some("CLIENT_ERROR bad token in command line format"),
            },
            b'R' => match strtol(arg) {
                Some(v) => of.recache_time = Some(v),
                None => err = Some("CLIENT_ERROR bad token in command line format"),
            },
            b'l' => of.la = true,
            b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' => {}
            b'v' => of.value = true,
            b'h' => of.hit = true,
            b'u' => of.no_update = true,
            b'q' => of.no_reply = true,
            b'F' => match strtoul(arg) {
                Some(v) => of.client_flags = v,
                None => err = Some("CLIENT_ERROR bad token in command line format"),
            },
            b'C' => match strtoull(arg) {
                Some(v) => {
                    of.req_cas_id = v;
                    of.has_cas = true;
                }
                None => err = Some("CLIENT_ERROR bad token in command line format"),
            },
            b'M' => {
                if tok.len() != 2 {
                    err = Some("CLIENT_ERROR incorrect length for M token");
                } else {
                    of.mode = arg.first().copied().unwrap_or(0);
                }
            }
            b'J' => match strtoull(arg) {
                Some(v) => of.initial = v,
                None => err = Some("CLIENT_ERROR invalid numeric initial value"),
            },
            b'D' => match strtoull(arg) {
                Some(v) => of.delta = v,
                None => err = Some("CLIENT_ERROR invalid numeric delta value"),
            },
            b'I' => of.set_stale = true,
            _ => return Err("CLIENT_ERROR invalid flag"),
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(of),
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64_encode(data: &[u8], out: &mut Vec<u8>) {
    for c in data.chunks(3) {
        let b = [
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
            c.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= c.len() {
                out.push(B64[((n >> shift) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

fn b64_val(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decode standard base64 (padding required for partial groups, as
/// memcached's decoder). `None` on any invalid input.
pub fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let groups = s.len() / 4;
    for (gi, g) in s.chunks(4).enumerate() {
        let pad = g.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && gi + 1 != groups) {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in g.iter().enumerate() {
            let v = if i >= 4 - pad { 0 } else { b64_val(c)? };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(bytes.get(..3 - pad).unwrap_or(&[]));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        for n in 0..20usize {
            let d: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            let mut e = Vec::new();
            b64_encode(&d, &mut e);
            if n > 0 {
                assert_eq!(b64_decode(&e), Some(d));
            }
        }
        assert_eq!(b64_decode(b"Zm9v"), Some(b"foo".to_vec()));
        assert_eq!(b64_decode(b"Zm9"), None);
        assert_eq!(b64_decode(b"Zm=v"), None);
        assert_eq!(b64_decode(b"Z!9v"), None);
    }

    #[test]
    fn flags() {
        let f = preparse(b"k", &[b"v", b"T30", b"Oab", b"q"]).unwrap_or_default();
        assert!(f.value && f.new_ttl && f.no_reply);
        assert_eq!(f.exptime, 30);
        assert_eq!(
            preparse(b"k", &[b"v", b"v"]),
            Err("CLIENT_ERROR duplicate flag")
        );
        assert_eq!(preparse(b"k", &[b"!"]), Err("CLIENT_ERROR invalid flag"));
        assert_eq!(
            preparse(b"k", &[b"Tx"]),
            Err("CLIENT_ERROR bad token in command line format")
        );
        assert_eq!(
            preparse(b"k", &[b"MEE"]),
            Err("CLIENT_ERROR incorrect length for M token")
        );
        let f = preparse(b"Zm9v", &[b"b"]).unwrap_or_default();
        assert_eq!(f.decoded_key.as_deref(), Some(&b"foo"[..]));
        assert_eq!(preparse(b"k", &[]).map(|f| f.delta), Ok(1));
    }
}
