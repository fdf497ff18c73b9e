//! HyperLogLog, stored as a plain string in exactly Redis's format
//! (`hyperloglog.c`), so that `GET`/`SET`/`DUMP` of an HLL interoperate with
//! redis-server byte for byte.
//!
//! # Format
//!
//! A 16-byte header: `HYLL`, one encoding byte (0 dense, 1 sparse), three
//! unused bytes, and the cached cardinality as a little-endian u64 whose
//! top bit set means "stale, recompute". Then the 16,384 6-bit registers:
//!
//! - dense: packed LSB-first, 12,288 bytes;
//! - sparse: run-length opcodes, `00xxxxxx` ZERO (1..=64 zero registers),
//!   `01xxxxxx yyyyyyyy` XZERO (1..=16384 zero registers), `1vvvvvxx` VAL
//!   (1..=4 registers of value 1..=32). A new HLL is sparse and becomes
//!   dense once a register exceeds 32 or the string would grow past
//!   `hll-sparse-max-bytes`.
//!
//! Elements are hashed with MurmurHash64A (seed `0xadc83b19`); the low 14
//! bits pick the register, the position of the first set bit in the other
//! 50 is the value. The estimate is Ertl's improved estimator, computed
//! with the same floating-point operations in the same order as Redis so
//! that the counts agree exactly.
//!
//! The sparse update mirrors `hllSparseSet` step for step, including its
//! opcode-merging pass, because the resulting bytes are visible through
//! GET. Corrupt values give [`Corrupt`] where Redis replies `INVALIDOBJ`;
//! nothing here indexes out of bounds whatever the input. Sparse data is
//! corrupt as soon as one opcode runs past the last register, which is the
//! rule of redis-server builds carrying the CVE-2025-32023 fix (Debian's
//! 7.0.15 included): older builds ignored a trailing VAL opcode.

/// Header size in bytes.
pub const HDR_SIZE: usize = 16;
/// Register-index bits.
pub const P: u32 = 14;
/// Hash bits left for the run of zeros.
pub const Q: u32 = 64 - P;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits per dense register.
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Total size of a dense HLL string.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const MAX_ENCODING: u8 = 1;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;

/// 0.5 / ln(2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const SEED: u64 = 0xadc8_3b19;

/// The value is a HyperLogLog header over corrupt register data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

// ---- opcode helpers (Redis's HLL_SPARSE_* macros) ----------------------

fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}
fn is_xzero(op: u8) -> bool {
    op & 0xc0 == XZERO_BIT
}
fn is_val(op: u8) -> bool {
    op & VAL_BIT != 0
}
fn zero_len(op: u8) -> usize {
    usize::from(op & 0x3f) + 1
}
/// XZERO run length; `next` is the second opcode byte (0 past the end, as
/// the sds terminator reads in Redis).
fn xzero_len(op: u8, next: u8) -> usize {
    ((usize::from(op & 0x3f) << 8) | usize::from(next)) + 1
}
fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}
fn val_len(op: u8) -> usize {
    usize::from(op & 0x3) + 1
}
fn val_op(value: u8, len: usize) -> u8 {
    (((value.wrapping_sub(1)) << 2) | ((len.wrapping_sub(1)) as u8 & 3)) | VAL_BIT
}
fn zero_op(len: usize) -> u8 {
    (len.wrapping_sub(1) as u8) & 0x3f
}
fn xzero_ops(len: usize) -> [u8; 2] {
    let l = len.wrapping_sub(1);
    [((l >> 8) as u8 & 0x3f) | XZERO_BIT, (l & 0xff) as u8]
}

/// Decoded opcode at `p`: (registers covered, opcode bytes, value).
fn opcode_at(s: &[u8], p: usize) -> Option<(usize, usize, u8)> {
    let op = *s.get(p)?;
    Some(if is_zero(op) {
        (zero_len(op), 1, 0)
    } else if is_xzero(op) {
        (xzero_len(op, s.get(p + 1).copied().unwrap_or(0)), 2, 0)
    } else {
        (val_len(op), 1, val_value(op))
    })
}

// ---- hashing -------------------------------------------------------------

/// MurmurHash64A, in Redis's endian-neutral variant.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let mut k = u64::from_le_bytes(w);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Register index and value (length of the `0..01` pattern) for an element
/// (Redis `hllPatLen`).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- header ----------------------------------------------------------------

/// Redis's `isHLLObjectOrReply` checks: long enough, `HYLL` magic, a known
/// encoding, and a dense value of exactly the dense size. (Sparse data is
/// validated lazily, when it is walked.)
pub fn is_valid(s: &[u8]) -> bool {
    if s.len() < HDR_SIZE || !s.starts_with(b"HYLL") {
        return false;
    }
    match s.get(4) {
        Some(&DENSE) => s.len() == DENSE_SIZE,
        Some(&e) => e <= MAX_ENCODING,
        None => false,
    }
}

/// Encoding byte of a valid HLL.
pub fn encoding(s: &[u8]) -> u8 {
    s.get(4).copied().unwrap_or(DENSE)
}

/// The cached cardinality, unless it is marked stale.
pub fn cached_card(s: &[u8]) -> Option<u64> {
    let b: [u8; 8] = s.get(8..16)?.try_into().ok()?;
    if b[7] & 0x80 != 0 {
        return None;
    }
    Some(u64::from_le_bytes(b))
}

/// Store a freshly computed cardinality in the header.
pub fn set_cached_card(s: &mut [u8], card: u64) {
    if let Some(b) = s.get_mut(8..16) {
        b.copy_from_slice(&card.to_le_bytes());
    }
}

/// Mark the cached cardinality stale (`HLL_INVALIDATE_CACHE`).
pub fn invalidate_cache(s: &mut [u8]) {
    if let Some(b) = s.get_mut(15) {
        *b |= 0x80;
    }
}

/// A new, empty HLL: sparse, one XZERO opcode covering every register
/// (Redis `createHLLObject`; the cache field is zero).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR_SIZE + 2);
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(SPARSE_XZERO_MAX_LEN);
        v.extend_from_slice(&xzero_ops(n));
        left -= n;
    }
    v
}

// ---- dense ---------------------------------------------------------------

/// Register `i` of dense register bytes (`HLL_DENSE_GET_REGISTER`).
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u32::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
}

/// Set register `i` of dense register bytes (`HLL_DENSE_SET_REGISTER`).
pub fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u32::from(val);
    let m = u32::from(REGISTER_MAX);
    if let Some(b) = regs.get_mut(byte) {
        *b = ((u32::from(*b) & !(m << fb)) | (v << fb)) as u8;
    }
    // The last register never spills into a next byte: Redis writes an
    // unchanged sds terminator there.
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = ((u32::from(*b) & !(m >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// `hllDenseSet`: raise register `i` to `count`; true if it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// Convert a sparse HLL to dense in place (`hllSparseToDense`); a dense
/// one is left alone.
pub fn sparse_to_dense(v: &mut Vec<u8>) -> Result<(), Corrupt> {
    if encoding(v) == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    if let (Some(d), Some(s)) = (dense.get_mut(..HDR_SIZE), v.get(..HDR_SIZE)) {
        d.copy_from_slice(s);
    }
    if let Some(e) = dense.get_mut(4) {
        *e = DENSE;
    }
    let mut idx = 0usize;
    let mut p = HDR_SIZE;
    {
        let regs = dense.get_mut(HDR_SIZE..).ok_or(Corrupt)?;
        while let Some((run, oplen, val)) = opcode_at(v, p) {
            if run + idx > REGISTERS {
                return Err(Corrupt);
            }
            if val != 0 {
                for r in idx..idx + run {
                    dense_put(regs, r, val);
                }
            }
            idx += run;
            p += oplen;
        }
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *v = dense;
    Ok(())
}

// ---- sparse ----------------------------------------------------------------

/// `hllSparseSet`: raise register `index` to `count` in a sparse HLL,
/// promoting it to dense when the value does not fit a VAL opcode or the
/// string would exceed `sparse_max` bytes. Ok(true) if a register changed.
fn sparse_set(
    v: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = v.len();
    let mut p = HDR_SIZE;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while let Some((run, oplen, _)) = opcode_at(v, p) {
        span = run;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = v.get(p).copied().ok_or(Corrupt)?;
    let next = if is_xzero(op) { p + 2 } else { p + 1 };
    let next = (next < end).then_some(next);
    let (zero, xzero) = (is_zero(op), is_xzero(op));
    let runlen = span;

    // Step 2: the trivial in-place updates (cases A, B, C).
    let mut in_place = false;
    if is_val(op) {
        if val_value(op) >= count {
            return Ok(false);
        }
        if runlen == 1 {
            in_place = true;
        }
    }
    if zero && runlen == 1 {
        in_place = true;
    }
    if in_place {
        if let Some(b) = v.get_mut(p) {
            *b = val_op(count, 1);
        }
    } else {
        // Case D: split the opcode into up to three.
        let mut seq = [0u8; 5];
        let mut n = 0usize;
        let last = first + span - 1;
        let mut push = |bytes: &[u8], n: &mut usize| {
            for &b in bytes {
                if let Some(s) = seq.get_mut(*n) {
                    *s = b;
                }
                *n += 1;
            }
        };
        if zero || xzero {
            if index != first {
                let len = index - first;
                if len > SPARSE_ZERO_MAX_LEN {
                    push(&xzero_ops(len), &mut n);
                } else {
                    push(&[zero_op(len)], &mut n);
                }
            }
            push(&[val_op(count, 1)], &mut n);
            if index != last {
                let len = last - index;
                if len > SPARSE_ZERO_MAX_LEN {
                    push(&xzero_ops(len), &mut n);
                } else {
                    push(&[zero_op(len)], &mut n);
                }
            }
        } else {
            let cur = val_value(op);
            if index != first {
                push(&[val_op(cur, index - first)], &mut n);
            }
            push(&[val_op(count, 1)], &mut n);
            if index != last {
                push(&[val_op(cur, last - index)], &mut n);
            }
        }
        // Step 3: substitute the new sequence for the old opcode, exactly
        // as Redis's memmove + memcpy + sdsIncrLen (which also defines what
        // happens to a truncated XZERO at the very end of a corrupt value).
        let oldlen: usize = if xzero { 2 } else { 1 };
        let delta = n as isize - oldlen as isize;
        if delta > 0 && end + delta as usize > sparse_max {
            return promote(v, index, count);
        }
        let new_len = (end as isize + delta) as usize;
        v.resize(end.max(new_len) + 8, 0);
        if delta != 0 {
            if let Some(nx) = next {
                v.copy_within(nx..end, (nx as isize + delta) as usize);
            }
        }
        if let (Some(dst), Some(src)) = (v.get_mut(p..p + n), seq.get(..n)) {
            dst.copy_from_slice(src);
        }
        v.truncate(new_len);
    }

    // Step 4: merge adjacent VAL opcodes of equal value, scanning up to
    // five opcodes from the previous one.
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let op = v.get(p).copied().unwrap_or(0);
        if is_xzero(op) {
            p += 2;
            continue;
        } else if is_zero(op) {
            p += 1;
            continue;
        }
        if let Some(&nx) = v.get(p + 1) {
            if is_val(nx) && val_value(op) == val_value(nx) {
                let len = val_len(op) + val_len(nx);
                if len <= SPARSE_VAL_MAX_LEN {
                    if let Some(b) = v.get_mut(p + 1) {
                        *b = val_op(val_value(op), len);
                    }
                    v.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(v);
    Ok(true)
}

/// The promotion path of `hllSparseSet`: convert to dense, then set.
fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    sparse_to_dense(v)?;
    let regs = v.get_mut(HDR_SIZE..).ok_or(Corrupt)?;
    dense_set(regs, index, count);
    Ok(true)
}

/// Raise register `index` to `count` in a valid HLL of either encoding
/// (dense `hllDenseSet`, sparse `hllSparseSet`). Ok(true) if it changed.
/// A dense update does not touch the cached cardinality (callers
/// invalidate it once per command, as Redis does).
pub fn set_register(
    v: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    match encoding(v) {
        DENSE => {
            let regs = v.get_mut(HDR_SIZE..).ok_or(Corrupt)?;
            Ok(dense_set(regs, index, count))
        }
        SPARSE => sparse_set(v, index, count, sparse_max),
        _ => Err(Corrupt),
    }
}

/// Add one element (`hllAdd`). Ok(true) if a register changed.
pub fn add(v: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set_register(v, index, count, sparse_max)
}

// ---- counting and merging ------------------------------------------------

/// Register histogram of a valid HLL; `Err` for corrupt sparse data.
fn histogram(s: &[u8], h: &mut [u64; 64]) -> Result<(), Corrupt> {
    let regs = s.get(HDR_SIZE..).ok_or(Corrupt)?;
    if encoding(s) == DENSE {
        // Four registers per three bytes.
        for c in regs.chunks_exact(3) {
            let (a, b, d) = (c[0], c[1], c[2]);
            h[usize::from(a & 63)] += 1;
            h[usize::from((a >> 6 | b << 2) & 63)] += 1;
            h[usize::from((b >> 4 | d << 4) & 63)] += 1;
            h[usize::from((d >> 2) & 63)] += 1;
        }
        return Ok(());
    }
    let mut idx = 0usize;
    let mut p = 0usize;
    while let Some((run, oplen, val)) = opcode_at(regs, p) {
        if run + idx > REGISTERS {
            return Err(Corrupt);
        }
        idx += run;
        h[usize::from(val) & 63] += run as u64;
        p += oplen;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// Ertl's sigma function (Redis `hllSigma`).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            return z;
        }
    }
}

/// Ertl's tau function (Redis `hllTau`).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if zp == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate for a register histogram (`hllCount`, same
/// operations in the same order, so the same doubles as Redis).
fn estimate(h: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - h[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    let e = ALPHA_INF * m * m / z;
    // Redis: `(uint64_t) llroundl(E)`. Out of the long long range (all
    // registers at 63 give +inf) llroundl yields LLONG_MIN on x86, which
    // PFCOUNT then prints as -9223372036854775808: a Rust `as u64` cast
    // would saturate to u64::MAX (-1) instead.
    if e.is_finite() && e.abs() < 9_223_372_036_854_775_808.0 {
        e.round() as i64 as u64
    } else {
        i64::MIN as u64
    }
}

/// Estimated cardinality of a valid HLL (ignores the cache).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut h = [0u64; 64];
    histogram(s, &mut h)?;
    Ok(estimate(&h))
}

/// Estimated cardinality of registers held one per byte (the internal
/// "raw" encoding PFCOUNT uses for several keys).
pub fn count_raw(max: &[u8; REGISTERS]) -> u64 {
    let mut h = [0u64; 64];
    for &r in max.iter() {
        h[usize::from(r & 63)] += 1;
    }
    estimate(&h)
}

/// `max[i] = max(max[i], register i of s)` for a valid HLL (`hllMerge`).
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    let regs = s.get(HDR_SIZE..).ok_or(Corrupt)?;
    if encoding(s) == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            let v = dense_get(regs, i);
            if v > *m {
                *m = v;
            }
        }
        return Ok(());
    }
    let mut i = 0usize;
    let mut p = 0usize;
    while let Some((run, oplen, val)) = opcode_at(regs, p) {
        if run + i > REGISTERS {
            return Err(Corrupt);
        }
        if val != 0 {
            for m in max.iter_mut().skip(i).take(run) {
                if val > *m {
                    *m = val;
                }
            }
        }
        i += run;
        p += oplen;
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// All registers of a dense HLL.
pub fn dense_registers(s: &[u8]) -> Vec<u8> {
    let regs = s.get(HDR_SIZE..).unwrap_or(&[]);
    (0..REGISTERS).map(|i| dense_get(regs, i)).collect()
}

/// PFDEBUG DECODE: the opcodes of a sparse HLL as `z:N`, `Z:N`, `v:V,N`.
pub fn decode(s: &[u8]) -> String {
    let regs = s.get(HDR_SIZE..).unwrap_or(&[]);
    let mut out = String::new();
    let mut p = 0usize;
    while let Some(&op) = regs.get(p) {
        let (run, oplen, val) = opcode_at(regs, p).unwrap_or((0, 1, 0));
        if !out.is_empty() {
            out.push(' ');
        }
        if is_zero(op) {
            out.push_str(&format!("z:{run}"));
        } else if is_xzero(op) {
            out.push_str(&format!("Z:{run}"));
        } else {
            out.push_str(&format!("v:{val},{run}"));
        }
        p += oplen;
    }
    out
}

/// PFSELFTEST: register access and estimate error checks, as Redis runs
/// them. `rand` supplies random numbers.
pub fn selftest(mut rand: impl FnMut() -> u64, sparse_max: usize) -> Result<(), String> {
    // Test 1: every register keeps its value without disturbing neighbours.
    let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (rand() as u8) & REGISTER_MAX;
            *b = r;
            dense_put(&mut regs, i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let v = dense_get(&regs, i);
            if v != b {
                return Err(format!("TESTFAILED Register {i} should be {b} but is {v}"));
            }
        }
    }
    // Test 2: dense and sparse agree and the error stays within bounds.
    let mut dense = new_sparse();
    sparse_to_dense(&mut dense).map_err(|_| "TESTFAILED conversion".to_string())?;
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed = rand();
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_ne_bytes();
        let _ = add(&mut dense, &ele, sparse_max);
        let _ = add(&mut sparse, &ele, sparse_max);
        if j != checkpoint {
            continue;
        }
        if (j as usize) < sparse_max / 2 && encoding(&sparse) != SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let dc = count(&dense).unwrap_or(0);
        if count(&sparse).ok() != Some(dc) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - dc as i64).unsigned_abs();
        let mut maxerr = (relerr * 6.0 * checkpoint as f64).ceil() as u64;
        if j == 10 {
            maxerr = 1;
        }
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_bytes() {
        let v = new_sparse();
        assert_eq!(v.len(), 18);
        assert_eq!(&v[..5], b"HYLL\x01");
        assert_eq!(&v[16..], &[0x7f, 0xff]);
        assert!(is_valid(&v));
        assert_eq!(count(&v), Ok(0));
        assert_eq!(decode(&v), "Z:16384");
    }

    #[test]
    fn hash_matches_redis() {
        // Register and value redis-server 7.0 picks for these elements
        // (PFADD then PFDEBUG DECODE: `Z:12711 v:2,1 Z:3672` for "a").
        assert_eq!(pat_len(b"a"), (12711, 2));
        assert_eq!(pat_len(b"hello"), (9216, 1));
        assert_eq!(pat_len(b""), (5938, 2));
        let mut v = new_sparse();
        assert_eq!(add(&mut v, b"a", 3000), Ok(true));
        assert_eq!(add(&mut v, b"a", 3000), Ok(false));
        assert_eq!(decode(&v), "Z:12711 v:2,1 Z:3672");
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = new_sparse();
        let mut d = new_sparse();
        sparse_to_dense(&mut d).unwrap_or(());
        for i in 0..20_000u32 {
            let e = format!("ele:{i}");
            let a = add(&mut s, e.as_bytes(), 3000);
            let b = add(&mut d, e.as_bytes(), 3000);
            assert_eq!(a, b, "element {i}");
            if i % 997 == 0 {
                assert_eq!(count(&s), count(&d));
            }
        }
        assert_eq!(encoding(&s), DENSE);
        assert_eq!(s[16..], d[16..]);
        let c = count(&d).unwrap_or(0);
        assert!((19_000..21_000).contains(&c), "{c}");
    }

    #[test]
    fn sparse_round_trip_and_merge() {
        let mut s = new_sparse();
        for i in 0..300u32 {
            let _ = add(&mut s, &i.to_le_bytes(), 3000);
        }
        assert_eq!(encoding(&s), SPARSE);
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &s), Ok(()));
        let mut d = s.clone();
        assert_eq!(sparse_to_dense(&mut d), Ok(()));
        assert_eq!(dense_registers(&d), max.to_vec());
        assert_eq!(count_raw(&max), count(&s).unwrap_or(0));
    }

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        let mut v = new_sparse();
        v.truncate(16);
        assert_eq!(count(&v), Err(Corrupt));
        assert_eq!(add(&mut v, b"x", 3000), Err(Corrupt));
        let mut v = new_sparse();
        v.extend_from_slice(b"hello");
        assert_eq!(count(&v), Err(Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &v), Err(Corrupt));
        for bytes in [&b"\x40"[..], b"\xff\xff\xff", b"\x7f\xff\x7f\xff\x40"] {
            let mut v = new_sparse();
            v.truncate(16);
            v.extend_from_slice(bytes);
            for i in 0..50u32 {
                let _ = add(&mut v, &i.to_le_bytes(), 3000);
            }
            let _ = count(&v);
            let _ = sparse_to_dense(&mut v);
        }
        assert!(!is_valid(b"HYLL\x00"));
        assert!(!is_valid(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0"));
        assert!(!is_valid(b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0"));
    }

    #[test]
    fn cache_field() {
        let mut v = new_sparse();
        assert_eq!(cached_card(&v), Some(0));
        invalidate_cache(&mut v);
        assert_eq!(cached_card(&v), None);
        set_cached_card(&mut v, 42);
        assert_eq!(cached_card(&v), Some(42));
    }
}
