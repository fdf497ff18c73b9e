//! Strings seen as bitmaps: the bit-level work behind SETBIT, GETBIT,
//! BITCOUNT, BITPOS, BITOP and BITFIELD.
//!
//! Bit numbering follows Redis (`bitops.c`): bit 0 is the most significant
//! bit of the first byte, so a bitmap reads left to right like its string.
//! Everything past the end of a string reads as zero, which is how Redis
//! treats a missing key or a short value; nothing here ever indexes out of
//! bounds.

/// Number of set bits in `b`. Counting 8 bytes at a time lets the compiler
/// use `popcnt` (or a SWAR sequence) instead of one table lookup per byte.
pub fn popcount(b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|&x| u64::from(x.count_ones()))
        .sum::<u64>()
}

/// Bit `offset` of `s` (0 past the end).
pub fn get_bit(s: &[u8], offset: u64) -> bool {
    let byte = offset >> 3;
    let bit = 7 - (offset & 7) as u32;
    usize::try_from(byte)
        .ok()
        .and_then(|i| s.get(i))
        .is_some_and(|&b| (b >> bit) & 1 == 1)
}

/// Set bit `offset` of `s` to `on`; returns the previous value. The caller
/// has made `s` long enough (an offset past the end is ignored).
pub fn set_bit(s: &mut [u8], offset: u64, on: bool) -> bool {
    let bit = 7 - (offset & 7) as u32;
    let Some(b) = usize::try_from(offset >> 3).ok().and_then(|i| s.get_mut(i)) else {
        return false;
    };
    let old = (*b >> bit) & 1 == 1;
    *b = (*b & !(1 << bit)) | (u8::from(on) << bit);
    old
}

/// Number of set bits between bit positions `start..=end` (inclusive, both
/// inside `s`; an empty or out-of-range span counts 0).
pub fn count_range(s: &[u8], start: u64, end: u64) -> u64 {
    if start > end {
        return 0;
    }
    let (Ok(fb), Ok(lb)) = (usize::try_from(start >> 3), usize::try_from(end >> 3)) else {
        return 0;
    };
    let Some(bytes) = s.get(fb..=lb) else {
        return 0;
    };
    let mut n = popcount(bytes);
    // Bits of the first and last bytes that lie outside the range.
    let head = !(0xffu8 >> (start & 7));
    let tail = (0xffu32 >> ((end & 7) + 1)) as u8;
    if let Some(&b) = bytes.first() {
        n -= u64::from((b & head).count_ones());
    }
    if let Some(&b) = bytes.last() {
        n -= u64::from((b & tail).count_ones());
    }
    n
}

/// Position of the first bit equal to `bit` between bit positions
/// `start..=end` (inclusive, inside `s`), if any.
pub fn find_bit(s: &[u8], bit: bool, start: u64, end: u64) -> Option<u64> {
    if start > end {
        return None;
    }
    let fb = usize::try_from(start >> 3).ok()?;
    let lb = usize::try_from(end >> 3).ok()?;
    let bytes = s.get(fb..=lb)?;
    let last = bytes.len() - 1;
    // A byte "matches" when, after flipping for bit 0 and masking to the
    // range, any bit is left; whole bytes equal to `skip` never match.
    let skip = if bit { 0u8 } else { 0xff };
    for (i, &b) in bytes.iter().enumerate() {
        let mut mask = 0xffu8;
        if i == 0 {
            mask &= 0xff >> (start & 7);
        }
        if i == last {
            mask &= !((0xffu32 >> ((end & 7) + 1)) as u8);
        }
        if mask == 0xff && b == skip {
            continue;
        }
        let v = if bit { b } else { !b } & mask;
        if v != 0 {
            return Some(((fb + i) as u64) * 8 + u64::from(v.leading_zeros()));
        }
    }
    None
}

/// BITOP operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Fold one more source string into a BITOP result. Sources are folded in
/// order; `first` marks the first one, which initialises the result. A
/// source shorter than the result reads as zero-padded, and the result
/// grows to the longest source, exactly as Redis computes it over all
/// sources at once.
pub fn bitop_fold(res: &mut Vec<u8>, src: &[u8], op: BitOp, first: bool) {
    if first {
        res.clear();
        res.extend_from_slice(src);
        if op == BitOp::Not {
            for b in res.iter_mut() {
                *b = !*b;
            }
        }
        return;
    }
    if res.len() < src.len() {
        // Bytes past the end of earlier sources were zero in all of them.
        res.resize(src.len(), 0);
    }
    let (head, rest) = res.split_at_mut(src.len());
    match op {
        BitOp::And => {
            for (r, s) in head.iter_mut().zip(src) {
                *r &= s;
            }
            rest.fill(0);
        }
        BitOp::Or => {
            for (r, s) in head.iter_mut().zip(src) {
                *r |= s;
            }
        }
        BitOp::Xor => {
            for (r, s) in head.iter_mut().zip(src) {
                *r ^= s;
            }
        }
        // NOT takes exactly one source (checked by the command).
        BitOp::Not => {}
    }
}

/// Read a `bits`-wide (1..=64) unsigned integer at bit `offset` of `s`,
/// reading zeros past the end (Redis `getUnsignedBitfield` on a
/// zero-padded copy).
pub fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v: u64 = 0;
    for j in 0..u64::from(bits) {
        v = (v << 1) | u64::from(get_bit(s, offset.saturating_add(j)));
    }
    v
}

/// Read a `bits`-wide two's complement integer (Redis `getSignedBitfield`).
pub fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(s, offset, bits);
    if bits < 64 && bits > 0 && u & (1u64 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Write the low `bits` bits of `value` at bit `offset` (Redis
/// `setUnsignedBitfield`); the caller has made `s` long enough.
pub fn set_unsigned(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let on = value & (1u64 << (bits - 1 - j)) != 0;
        set_bit(s, offset.saturating_add(u64::from(j)), on);
    }
}

/// BITFIELD overflow behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Redis's `checkUnsignedBitfieldOverflow`: would `value + incr` leave the
/// range of a `bits`-wide unsigned integer (1 = overflow, -1 = underflow,
/// 0 = fits)? With WRAP or SAT, also the value to store instead.
pub fn check_unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || {
        let mask = if bits >= 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if incr < 0 && incr < minincr {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

/// Redis's `checkSignedBitfieldOverflow`, the signed counterpart.
pub fn check_signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let bits = bits.clamp(1, 64);
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    // These may wrap, but are only used once `value` is known in range (as
    // the C code notes).
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => min,
            Overflow::Fail => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_counts() {
        let mut s = vec![0u8; 3];
        assert!(!set_bit(&mut s, 7, true));
        assert!(set_bit(&mut s, 7, true));
        assert_eq!(s, [1, 0, 0]);
        set_bit(&mut s, 8, true);
        assert_eq!(s, [1, 0x80, 0]);
        assert!(get_bit(&s, 8));
        assert!(!get_bit(&s, 1000));
        assert_eq!(popcount(b"foobar"), 26);
        assert_eq!(count_range(b"foobar", 0, 47), 26);
        assert_eq!(count_range(b"foobar", 8, 15), 6);
        assert_eq!(count_range(b"foobar", 5, 30), 17);
        assert_eq!(count_range(b"foobar", 9, 9), 1);
        assert_eq!(count_range(b"foobar", 9, 8), 0);
        // Cross-check count_range against a bit-by-bit count.
        let data: Vec<u8> = (0..40u32).map(|i| (i * 37 + 11) as u8).collect();
        for a in 0..(data.len() as u64 * 8) {
            for b in a..(data.len() as u64 * 8).min(a + 80) {
                let slow = (a..=b).filter(|&i| get_bit(&data, i)).count() as u64;
                assert_eq!(count_range(&data, a, b), slow, "{a}..={b}");
            }
        }
    }

    #[test]
    fn find_bits() {
        let s = [0xffu8, 0xf0, 0x00];
        assert_eq!(find_bit(&s, false, 0, 23), Some(12));
        assert_eq!(find_bit(&s, true, 0, 23), Some(0));
        assert_eq!(find_bit(&s, true, 12, 23), None);
        assert_eq!(find_bit(&s, true, 7, 7), Some(7));
        assert_eq!(find_bit(&s, false, 0, 11), None);
        assert_eq!(find_bit(&s, true, 9, 11), Some(9));
        let data: Vec<u8> = (0..30u32).map(|i| (i * 91 + 3) as u8).collect();
        for bit in [false, true] {
            for a in 0..(data.len() as u64 * 8) {
                for b in a..(data.len() as u64 * 8).min(a + 70) {
                    let slow = (a..=b).find(|&i| get_bit(&data, i) == bit);
                    assert_eq!(find_bit(&data, bit, a, b), slow);
                }
            }
        }
    }

    #[test]
    fn bitop_folds() {
        let mut r = Vec::new();
        bitop_fold(&mut r, b"\xff\x0f", BitOp::And, true);
        bitop_fold(&mut r, b"\x0f", BitOp::And, false);
        assert_eq!(r, [0x0f, 0]);
        bitop_fold(&mut r, b"\x01\x02\x03", BitOp::Or, false);
        assert_eq!(r, [0x0f, 2, 3]);
        bitop_fold(&mut r, b"\x01", BitOp::Not, true);
        assert_eq!(r, [0xfe]);
    }

    #[test]
    fn bitfields() {
        let mut s = vec![0u8; 2];
        set_unsigned(&mut s, 7, 5, 23);
        assert_eq!(s, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_unsigned(&s, 7, 5), 23);
        assert_eq!(get_signed(&s, 7, 5), 23 - 32);
        assert_eq!(get_unsigned(&s, 60, 64), 0);
        assert_eq!(check_unsigned_overflow(250, 10, 8, Overflow::Wrap), (1, 4));
        assert_eq!(check_unsigned_overflow(250, 10, 8, Overflow::Sat), (1, 255));
        assert_eq!(check_unsigned_overflow(5, -10, 8, Overflow::Sat), (-1, 0));
        assert_eq!(
            check_unsigned_overflow(5, -10, 8, Overflow::Wrap),
            (-1, 251)
        );
        assert_eq!(check_signed_overflow(120, 10, 8, Overflow::Wrap), (1, -126));
        assert_eq!(
            check_signed_overflow(-120, -10, 8, Overflow::Sat),
            (-1, -128)
        );
        assert_eq!(
            check_signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            (1, i64::MIN)
        );
        assert_eq!(check_signed_overflow(3, 4, 64, Overflow::Fail), (0, 0));
    }
}
