//! Redis's compact blob encodings found inside RDB strings: listpack,
//! ziplist, intset and zipmap. Decoders are total: malformed input gives
//! `None`, never a panic or an out-of-bounds read. The listpack encoder
//! produces exactly what Redis's `lpAppend` would (integers for canonical
//! integer strings), so redis-server accepts and re-encodes nothing.

/// One decoded element: bytes, or an integer Redis stored as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem {
    Str(Vec<u8>),
    Int(i64),
}

impl Elem {
    /// The element as Redis returns it to clients.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s,
            Elem::Int(n) => n.to_string().into_bytes(),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Elem::Int(n) => Some(*n),
            Elem::Str(s) => parse_canonical_i64(s),
        }
    }
}

/// Redis `string2ll` in strict mode: the canonical decimal form only
/// (no "+", no leading zeros, no "-0"), which is what listpacks, intsets
/// and the RDB integer string encoding may store as integers.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = i64::from(c - b'0');
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

// ---- listpack -----------------------------------------------------------

/// Decode a listpack (`lp` header: total bytes u32, count u16; entries;
/// 0xFF).
pub fn listpack_decode(lp: &[u8]) -> Option<Vec<Elem>> {
    if lp.len() < 7 || le(lp.get(0..4)?) as usize != lp.len() || *lp.last()? != 0xFF {
        return None;
    }
    let declared = le(lp.get(4..6)?) as usize;
    let mut out = Vec::with_capacity(declared.min(4096));
    let mut p = 6usize;
    loop {
        let b = *lp.get(p)?;
        if b == 0xFF {
            break;
        }
        let (elem, enc_len) = if b & 0x80 == 0 {
            (Elem::Int(i64::from(b & 0x7f)), 1)
        } else if b & 0xC0 == 0x80 {
            let n = usize::from(b & 0x3f);
            (Elem::Str(lp.get(p + 1..p + 1 + n)?.to_vec()), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let v = (u64::from(b & 0x1f) << 8) | u64::from(*lp.get(p + 1)?);
            (Elem::Int(sign_extend(v, 13)), 2)
        } else if b & 0xF0 == 0xE0 {
            let n = (usize::from(b & 0x0f) << 8) | usize::from(*lp.get(p + 1)?);
            (Elem::Str(lp.get(p + 2..p + 2 + n)?.to_vec()), 2 + n)
        } else {
            match b {
                0xF0 => {
                    let n = le(lp.get(p + 1..p + 5)?) as usize;
                    (
                        Elem::Str(lp.get(p + 5..p.checked_add(5 + n)?)?.to_vec()),
                        5 + n,
                    )
                }
                0xF1 => (Elem::Int(sign_extend(le(lp.get(p + 1..p + 3)?), 16)), 3),
                0xF2 => (Elem::Int(sign_extend(le(lp.get(p + 1..p + 4)?), 24)), 4),
                0xF3 => (Elem::Int(sign_extend(le(lp.get(p + 1..p + 5)?), 32)), 5),
                0xF4 => (Elem::Int(le(lp.get(p + 1..p + 9)?) as i64), 9),
                _ => return None,
            }
        };
        p = p.checked_add(enc_len + backlen_size(enc_len))?;
        if p >= lp.len() {
            return None;
        }
        out.push(elem);
    }
    if p != lp.len() - 1 || (declared != 65535 && declared != out.len()) {
        return None;
    }
    Some(out)
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Builds a listpack exactly as Redis's `lpAppend` does.
#[derive(Debug)]
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackBuilder {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 6]);
        ListpackBuilder { buf, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes so far (without the terminator).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    fn backlen(&mut self, l: usize) {
        let l = l as u64;
        match backlen_size(l as usize) {
            1 => self.buf.push(l as u8),
            2 => self
                .buf
                .extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]),
            3 => self.buf.extend_from_slice(&[
                (l >> 14) as u8,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]),
            4 => self.buf.extend_from_slice(&[
                (l >> 21) as u8,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]),
            _ => self.buf.extend_from_slice(&[
                (l >> 28) as u8,
                ((l >> 21) & 127) as u8 | 128,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            self.buf
                .extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        } else if i64::from(i16::MIN) <= v && v <= i64::from(i16::MAX) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if i64::from(i32::MIN) <= v && v <= i64::from(i32::MAX) {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let l = self.buf.len() - start;
        self.backlen(l);
        self.count += 1;
    }

    /// Append bytes, as an integer when they are a canonical integer.
    pub fn push(&mut self, s: &[u8]) {
        if let Some(v) = parse_canonical_i64(s) {
            return self.push_int(v);
        }
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf
                .extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let l = self.buf.len() - start;
        self.backlen(l);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let c = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&c.to_le_bytes());
        self.buf
    }
}

// ---- ziplist (RDB ≤ 9) ----------------------------------------------------

/// Decode a ziplist (zlbytes u32, zltail u32, zllen u16; entries; 0xFF).
pub fn ziplist_decode(zl: &[u8]) -> Option<Vec<Elem>> {
    if zl.len() < 11 || le(zl.get(0..4)?) as usize != zl.len() || *zl.last()? != 0xFF {
        return None;
    }
    let mut out = Vec::new();
    let mut p = 10usize;
    loop {
        let b = *zl.get(p)?;
        if b == 0xFF {
            break;
        }
        p += if b < 254 { 1 } else { 5 };
        let e = *zl.get(p)?;
        let (elem, len) = match e >> 6 {
            0 => {
                let n = usize::from(e & 0x3f);
                (Elem::Str(zl.get(p + 1..p + 1 + n)?.to_vec()), 1 + n)
            }
            1 => {
                let n = (usize::from(e & 0x3f) << 8) | usize::from(*zl.get(p + 1)?);
                (Elem::Str(zl.get(p + 2..p + 2 + n)?.to_vec()), 2 + n)
            }
            2 => {
                let b4 = zl.get(p + 1..p + 5)?;
                let n = u32::from_be_bytes([b4[0], b4[1], b4[2], b4[3]]) as usize;
                (
                    Elem::Str(zl.get(p + 5..p.checked_add(5 + n)?)?.to_vec()),
                    5 + n,
                )
            }
            _ => match e {
                0xC0 => (Elem::Int(sign_extend(le(zl.get(p + 1..p + 3)?), 16)), 3),
                0xD0 => (Elem::Int(sign_extend(le(zl.get(p + 1..p + 5)?), 32)), 5),
                0xE0 => (Elem::Int(le(zl.get(p + 1..p + 9)?) as i64), 9),
                0xF0 => (Elem::Int(sign_extend(le(zl.get(p + 1..p + 4)?), 24)), 4),
                0xFE => (Elem::Int(i64::from(*zl.get(p + 1)? as i8)), 2),
                0xF1..=0xFD => (Elem::Int(i64::from(e & 0x0f) - 1), 1),
                _ => return None,
            },
        };
        p = p.checked_add(len)?;
        out.push(elem);
    }
    (p == zl.len() - 1).then_some(out)
}

// ---- intset -------------------------------------------------------------

pub fn intset_decode(is: &[u8]) -> Option<Vec<i64>> {
    let enc = le(is.get(0..4)?) as usize;
    let n = le(is.get(4..8)?) as usize;
    if !matches!(enc, 2 | 4 | 8) || is.len() != 8usize.checked_add(n.checked_mul(enc)?)? {
        return None;
    }
    Some(
        is[8..]
            .chunks_exact(enc)
            .map(|c| sign_extend(le(c), enc as u32 * 8))
            .collect(),
    )
}

/// Encode sorted integers as an intset.
pub fn intset_encode(v: &[i64]) -> Vec<u8> {
    let enc: usize = if v
        .iter()
        .all(|&x| i64::from(i16::MIN) <= x && x <= i64::from(i16::MAX))
    {
        2
    } else if v
        .iter()
        .all(|&x| i64::from(i32::MIN) <= x && x <= i64::from(i32::MAX))
    {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + v.len() * enc);
    out.extend_from_slice(&(enc as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for &x in v {
        out.extend_from_slice(&x.to_le_bytes()[..enc]);
    }
    out
}

// ---- zipmap (RDB ≤ 3 era hashes, still loadable) ------------------------

pub fn zipmap_decode(zm: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut p = 1usize;
    let mut out = Vec::new();
    let read_len = |p: &mut usize| -> Option<usize> {
        let b = *zm.get(*p)?;
        match b {
            0..=253 => {
                *p += 1;
                Some(usize::from(b))
            }
            254 => {
                let v = le(zm.get(*p + 1..*p + 5)?) as usize;
                *p += 5;
                Some(v)
            }
            _ => None,
        }
    };
    loop {
        if *zm.get(p)? == 0xFF {
            break;
        }
        let kl = read_len(&mut p)?;
        let k = zm.get(p..p.checked_add(kl)?)?.to_vec();
        p += kl;
        let vl = read_len(&mut p)?;
        let free = usize::from(*zm.get(p)?);
        p += 1;
        let v = zm.get(p..p.checked_add(vl)?)?.to_vec();
        p = p.checked_add(vl + free)?;
        out.push((k, v));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trip() {
        let items: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-1".to_vec(),
            b"-4096".to_vec(),
            b"4095".to_vec(),
            b"-32768".to_vec(),
            b"8388607".to_vec(),
            b"-2147483648".to_vec(),
            b"9223372036854775807".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"007".to_vec(),
            b"".to_vec(),
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 5000],
            vec![b'q'; 200_000],
        ];
        let mut b = ListpackBuilder::new();
        for i in &items {
            b.push(i);
        }
        let lp = b.finish();
        let d = listpack_decode(&lp).expect("decodes");
        let back: Vec<Vec<u8>> = d.into_iter().map(Elem::into_bytes).collect();
        assert_eq!(back, items);
    }

    #[test]
    fn canonical_ints() {
        assert_eq!(parse_canonical_i64(b"-0"), None);
        assert_eq!(parse_canonical_i64(b"01"), None);
        assert_eq!(parse_canonical_i64(b"+1"), None);
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
    }

    #[test]
    fn intset_round_trip() {
        for v in [
            vec![1i64, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            assert_eq!(intset_decode(&intset_encode(&v)), Some(v));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 88172645463325252u64;
        for n in 0..2000usize {
            let data: Vec<u8> = (0..(n % 80))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = listpack_decode(&data);
            let _ = ziplist_decode(&data);
            let _ = intset_decode(&data);
            let _ = zipmap_decode(&data);
        }
    }
}
