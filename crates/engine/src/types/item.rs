//! [`Item`]: a memcached item (client flags, CAS unique, data).
//!
//! Memory per item is what a memcached replacement is judged by, so an item
//! is one `u64` and one exactly-sized heap allocation: the 32-bit client
//! flags are stored in front of the data in that allocation instead of in a
//! field of their own (a separate `u32` would push `Item` from 24 to 32
//! bytes and `Value` past one cache-line quarter). The key lives in the
//! `Db` slot, the expiry in the `Db`'s TTL records, so an item costs its
//! slot (key + entry) plus `4 + len` heap bytes.

/// A memcached item. 24 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The CAS unique of the last modification (memcached's `ITEM_get_cas`)
    /// in the low 61 bits; the top 3 bits are the meta protocol's item
    /// flags ([`Item::STALE`], [`Item::TOKEN_SENT`], [`Item::FETCHED`]),
    /// kept here because a CAS counter never reaches 2^61 and a separate
    /// byte would cost 8 bytes per item after padding.
    cas: u64,
    /// Client flags (little-endian `u32`) followed by the data.
    buf: Box<[u8]>,
}

const FLAGS: usize = 4;
const CAS_MASK: u64 = (1 << 61) - 1;

impl Item {
    /// Marked stale by a meta delete with `I` (invalidate).
    pub const STALE: u64 = 1 << 63;
    /// A recache/win token was handed out for this item.
    pub const TOKEN_SENT: u64 = 1 << 62;
    /// Fetched at least once since stored.
    pub const FETCHED: u64 = 1 << 61;

    /// The CAS unique.
    pub fn cas(&self) -> u64 {
        self.cas & CAS_MASK
    }

    /// Set the CAS unique, keeping the item flags.
    pub fn set_cas(&mut self, cas: u64) {
        self.cas = (self.cas & !CAS_MASK) | (cas & CAS_MASK);
    }

    /// Is meta item flag `f` set?
    pub fn has(&self, f: u64) -> bool {
        self.cas & f & !CAS_MASK != 0
    }

    /// Set or clear meta item flag `f`.
    pub fn set_flag(&mut self, f: u64, on: bool) {
        let f = f & !CAS_MASK;
        if on {
            self.cas |= f;
        } else {
            self.cas &= !f;
        }
    }

    /// A new item with `flags`, `data` and CAS unique `cas`.
    pub fn new(flags: u32, data: &[u8], cas: u64) -> Self {
        let mut v = Vec::with_capacity(FLAGS + data.len());
        v.extend_from_slice(&flags.to_le_bytes());
        v.extend_from_slice(data);
        Item {
            cas: cas & CAS_MASK,
            buf: v.into_boxed_slice(),
        }
    }

    /// A new item whose data is `a` followed by `b` (append / prepend build
    /// the result in one allocation).
    pub fn concat(flags: u32, a: &[u8], b: &[u8], cas: u64) -> Self {
        let mut v = Vec::with_capacity(FLAGS + a.len() + b.len());
        v.extend_from_slice(&flags.to_le_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        Item {
            cas: cas & CAS_MASK,
            buf: v.into_boxed_slice(),
        }
    }

    /// The client flags.
    pub fn flags(&self) -> u32 {
        let mut f = [0u8; FLAGS];
        if let Some(h) = self.buf.get(..FLAGS) {
            f.copy_from_slice(h);
        }
        u32::from_le_bytes(f)
    }

    /// The data.
    pub fn data(&self) -> &[u8] {
        self.buf.get(FLAGS..).unwrap_or(&[])
    }

    /// Heap bytes owned (memory accounting).
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_size() {
        assert_eq!(std::mem::size_of::<Item>(), 24);
        let i = Item::new(0xdead_beef, b"hello", 7);
        assert_eq!(i.flags(), 0xdead_beef);
        assert_eq!(i.data(), b"hello");
        assert_eq!(i.cas(), 7);
        let mut i = i;
        i.set_flag(Item::STALE, true);
        i.set_cas(9);
        assert!(i.has(Item::STALE) && !i.has(Item::FETCHED));
        assert_eq!(i.cas(), 9);
        i.set_flag(Item::STALE, false);
        assert!(!i.has(Item::STALE));
        let j = Item::concat(1, b"ab", b"cd", 8);
        assert_eq!(j.data(), b"abcd");
        assert_eq!(j.flags(), 1);
        assert_eq!(Item::new(0, b"", 0).data(), b"");
    }
}
