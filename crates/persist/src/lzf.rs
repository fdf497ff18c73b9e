//! LZF, byte-compatible with liblzf as Redis uses it for RDB strings.
//!
//! Format: a control byte `c`; `c < 32` starts a literal run of `c + 1`
//! bytes; otherwise `len = c >> 5` (7 means one more length byte follows)
//! and the back-reference offset is `((c & 31) << 8 | next) + 1`, copying
//! `len + 2` bytes (overlapping copies allowed).

const HLOG: u32 = 14;
const MAX_LIT: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

#[inline]
fn hash(a: u8, b: u8, c: u8) -> usize {
    let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HLOG)) as usize
}

thread_local! {
    /// The hash table, reused across calls: zeroing 64 KiB for every
    /// 1 KB value would cost more than compressing it. Entries hold
    /// `base + pos + 1`; only entries above the current call's `base` are
    /// valid, which keeps the output deterministic without clearing.
    static HTAB: std::cell::RefCell<(Vec<u32>, u32)> =
        std::cell::RefCell::new((vec![0u32; 1 << HLOG], 0));
}

/// Compress `input`; `None` when the result would exceed `max_out` bytes
/// (the caller then stores the string uncompressed, as Redis does).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    if input.len() >= (u32::MAX / 2) as usize {
        return None;
    }
    HTAB.with(|t| {
        let mut t = t.borrow_mut();
        let (tab, base) = &mut *t;
        let n = input.len() as u32 + 1;
        if base.checked_add(n).is_none_or(|b| b >= u32::MAX / 2) {
            tab.iter_mut().for_each(|e| *e = 0);
            *base = 0;
        }
        let b = *base;
        *base += n;
        compress_with(input, max_out, tab, b)
    })
}

fn compress_with(input: &[u8], max_out: usize, htab: &mut [u32], base: u32) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out: Vec<u8> = Vec::with_capacity(max_out.min(n + n / 16 + 8));
    let mut lit = 0usize;
    let mut lit_at = out.len();
    out.push(0);
    let mut ip = 0usize;
    while ip + 2 < n {
        let h = hash(input[ip], input[ip + 1], input[ip + 2]);
        let r = htab[h];
        htab[h] = base + (ip + 1) as u32;
        if r > base {
            let rf = (r - base - 1) as usize;
            let off = ip - rf - 1;
            if off < MAX_OFF && input[rf..rf + 3] == input[ip..ip + 3] {
                let maxlen = MAX_REF.min(n - ip);
                let mut len = 3;
                while len < maxlen && input[rf + len] == input[ip + len] {
                    len += 1;
                }
                // Close the literal run (drop its header if it is empty).
                if lit == 0 {
                    out.pop();
                } else {
                    out[lit_at] = (lit - 1) as u8;
                }
                let l = len - 2;
                if l < 7 {
                    out.push(((off >> 8) as u8) | ((l as u8) << 5));
                } else {
                    out.push(((off >> 8) as u8) | (7 << 5));
                    out.push((l - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                if out.len() > max_out {
                    return None;
                }
                // Index the last two positions of the match as liblzf does,
                // so runs chain.
                let end = ip + len;
                for p in (end.saturating_sub(2)).max(ip + 1)..end {
                    if p + 2 < n {
                        htab[hash(input[p], input[p + 1], input[p + 2])] = base + (p + 1) as u32;
                    }
                }
                ip = end;
                lit = 0;
                lit_at = out.len();
                out.push(0);
                continue;
            }
        }
        out.push(input[ip]);
        lit += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[lit_at] = (MAX_LIT - 1) as u8;
            lit = 0;
            lit_at = out.len();
            out.push(0);
        }
        if out.len() > max_out {
            return None;
        }
    }
    while ip < n {
        out.push(input[ip]);
        lit += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[lit_at] = (MAX_LIT - 1) as u8;
            lit = 0;
            lit_at = out.len();
            out.push(0);
        }
    }
    if lit == 0 {
        out.pop();
    } else {
        out[lit_at] = (lit - 1) as u8;
    }
    (out.len() <= max_out && !out.is_empty()).then_some(out)
}

/// Decompress into exactly `expect` bytes; `None` on any malformation.
pub fn decompress(input: &[u8], expect: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(expect);
    let mut ip = 0usize;
    while ip < input.len() {
        let c = usize::from(input[ip]);
        ip += 1;
        if c < 32 {
            let run = c + 1;
            let lit = input.get(ip..ip + run)?;
            if out.len() + run > expect {
                return None;
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = c >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let lo = usize::from(*input.get(ip)?);
            ip += 1;
            let back = ((c & 0x1f) << 8) + lo + 1;
            let start = out.len().checked_sub(back)?;
            let len = len + 2;
            if out.len() + len > expect {
                return None;
            }
            for k in 0..len {
                let b = *out.get(start + k)?;
                out.push(b);
            }
        }
    }
    (out.len() == expect).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello hello hello hello world world world world".to_vec(),
            (0..10_000u32).map(|i| (i % 251) as u8).collect(),
            (0..5000u32).map(|i| (i * 7 % 13) as u8).collect(),
        ];
        let mut x = 12345u64;
        inputs.push(
            (0..3000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 4) as u8 + b'a'
                })
                .collect(),
        );
        for i in &inputs {
            let c = compress(i, i.len()).expect("compressible");
            assert!(c.len() < i.len());
            assert_eq!(decompress(&c, i.len()).as_deref(), Some(&i[..]));
        }
        assert!(compress(b"abcdefghijklmnopqrstuvwxyz", 20).is_none());
    }

    #[test]
    fn decompresses_redis_output() {
        // Two literals, then one back-reference of 27 bytes at distance 1.
        let c = [0x01, b'a', b'a', 0xe0, 0x12, 0x00];
        let d = decompress(&c, 29).expect("ok");
        assert_eq!(d, vec![b'a'; 29]);
    }

    #[test]
    fn garbage_never_panics() {
        for seed in 0..500u64 {
            let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
            let data: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decompress(&data, 100);
        }
    }
}
