//! [`Blob`]: an immutable byte string that stores up to 22 bytes inline and
//! longer contents in one exactly-sized heap allocation.
//!
//! Keys and string values are mostly short (`user:1234`, counters, tokens), so
//! keeping them inline saves an allocation and ~32 bytes per key compared with
//! `Vec<u8>`. `Blob` hashes and compares as `[u8]`, which lets maps keyed by
//! `Blob` be queried with a plain `&[u8]`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
}

/// A byte string with small-string optimisation. 24 bytes on 64-bit targets.
#[derive(Clone)]
pub struct Blob(Repr);

impl Blob {
    pub const fn empty() -> Self {
        Blob(Repr::Inline {
            len: 0,
            data: [0; INLINE],
        })
    }

    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..bytes.len()].copy_from_slice(bytes);
            Blob(Repr::Inline {
                len: bytes.len() as u8,
                data,
            })
        } else {
            Blob(Repr::Heap(bytes.into()))
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            Self::new(&v)
        } else {
            Blob(Repr::Heap(v.into_boxed_slice()))
        }
    }

    pub fn from_i64(n: i64) -> Self {
        let mut b = itoa::Buffer::new();
        Self::new(b.format(n).as_bytes())
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { .. } => self.as_slice().to_vec(),
            Repr::Heap(b) => b.into_vec(),
        }
    }

    /// Bytes this blob owns on the heap (0 when inline), for memory accounting.
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The bytes, writable in place (the length cannot change). SETBIT,
    /// BITFIELD and PFADD on a dense HyperLogLog flip bits inside values of
    /// up to hundreds of megabytes; going through `into_vec`/`from_vec` for
    /// each would be free for heap blobs but needless churn for inline ones.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline { len, data } => &mut data[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }
}

impl Default for Blob {
    fn default() -> Self {
        Self::empty()
    }
}

impl Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Blob {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Blob {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for Blob {}

impl PartialOrd for Blob {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Blob {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for Blob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like `[u8]` for `Borrow<[u8]>` lookups.
        self.as_slice().hash(state)
    }
}

impl From<&[u8]> for Blob {
    fn from(b: &[u8]) -> Self {
        Blob::new(b)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Self {
        Blob::from_vec(v)
    }
}

impl From<&str> for Blob {
    fn from(s: &str) -> Self {
        Blob::new(s.as_bytes())
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_roundtrip() {
        assert_eq!(std::mem::size_of::<Blob>(), 24);
        for n in [0usize, 1, 22, 23, 100] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let b = Blob::new(&v);
            assert_eq!(&*b, &v[..]);
            assert_eq!(b.is_inline(), n <= 22);
            assert_eq!(Blob::from_vec(v.clone()), b);
        }
    }

    #[test]
    fn mutate_in_place() {
        for n in [1usize, 22, 23, 100] {
            let mut b = Blob::new(&vec![0u8; n]);
            if let Some(last) = b.as_mut_slice().last_mut() {
                *last = 7;
            }
            assert_eq!(b.len(), n);
            assert_eq!(b.last(), Some(&7));
        }
    }
}
