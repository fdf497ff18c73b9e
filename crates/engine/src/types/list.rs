//! The list type.
//!
//! Redis 7.0 stores every list as a quicklist (a linked list of listpacks),
//! and `OBJECT ENCODING` reports `quicklist` whatever the size, so there is
//! no observable encoding switch to reproduce. We use one ring buffer of
//! [`Blob`]s (`VecDeque`):
//!
//! - O(1) push and pop at both ends (LPUSH/RPOP queues, LMOVE rotation);
//! - O(1) access by index (LINDEX, LSET, LRANGE's start), where a quicklist
//!   walks nodes;
//! - elements of up to 22 bytes (most list payloads: ids, small JSON-less
//!   tokens) live inline in the 24-byte `Blob`, so a typical element costs
//!   24 bytes and no allocation of its own.
//!
//! A chunked (listpack-like) layout would save some bytes per element for
//! tiny payloads but would lose O(1) indexing and cost copying on every
//! middle insert/delete; the ring buffer keeps the code simple and fast.
//!
//! The buffer is boxed so that `ListValue` is one pointer wide and keeps
//! [`crate::Value`] small. Bytes owned on the heap by elements are tracked
//! incrementally so [`ListValue::mem_usage`] is O(1) (eviction and MEMORY
//! USAGE call it often).

use crate::blob::Blob;
use std::collections::VecDeque;

/// Which end of a list an operation works on (`LEFT` = head, `RIGHT` = tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl End {
    /// The opposite end.
    pub fn other(self) -> End {
        match self {
            End::Head => End::Tail,
            End::Tail => End::Head,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Inner {
    items: VecDeque<Blob>,
    /// Sum of `Blob::heap_size` over `items`.
    heap: usize,
}

/// A list value. Never stored empty: the command layer deletes the key when
/// the last element goes, as Redis does.
#[derive(Debug, Clone, Default)]
pub struct ListValue(Box<Inner>);

impl ListValue {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `n` elements.
    pub fn with_capacity(n: usize) -> Self {
        ListValue(Box::new(Inner {
            items: VecDeque::with_capacity(n),
            heap: 0,
        }))
    }

    /// A list holding `items` in order (head first).
    pub fn from_items<I: IntoIterator<Item = Blob>>(items: I) -> Self {
        let items: VecDeque<Blob> = items.into_iter().collect();
        let heap = items.iter().map(Blob::heap_size).sum();
        ListValue(Box::new(Inner { items, heap }))
    }

    pub fn len(&self) -> usize {
        self.0.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.items.is_empty()
    }

    /// Elements from head to tail (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        self.0.items.iter().map(Blob::as_slice)
    }

    /// Elements `start..=end` (clamped to the list), head to tail.
    pub fn range(
        &self,
        start: usize,
        end: usize,
    ) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator + '_ {
        let len = self.len();
        let stop = end.saturating_add(1).min(len);
        let start = start.min(stop);
        self.0.items.range(start..stop).map(Blob::as_slice)
    }

    /// The element at `index` (0 = head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.0.items.get(index).map(Blob::as_slice)
    }

    /// Make room for `n` more elements.
    pub fn reserve(&mut self, n: usize) {
        self.0.items.reserve(n);
    }

    pub fn push_back(&mut self, v: Blob) {
        self.0.heap += v.heap_size();
        self.0.items.push_back(v);
    }

    pub fn push_front(&mut self, v: Blob) {
        self.0.heap += v.heap_size();
        self.0.items.push_front(v);
    }

    /// Push at `end`.
    pub fn push(&mut self, v: Blob, end: End) {
        match end {
            End::Head => self.push_front(v),
            End::Tail => self.push_back(v),
        }
    }

    /// Pop from `end`.
    pub fn pop(&mut self, end: End) -> Option<Blob> {
        let v = match end {
            End::Head => self.0.items.pop_front(),
            End::Tail => self.0.items.pop_back(),
        }?;
        self.0.heap -= v.heap_size();
        Some(v)
    }

    pub fn pop_front(&mut self) -> Option<Blob> {
        self.pop(End::Head)
    }

    pub fn pop_back(&mut self) -> Option<Blob> {
        self.pop(End::Tail)
    }

    /// Replace the element at `index`. False if out of range.
    pub fn set(&mut self, index: usize, v: Blob) -> bool {
        match self.0.items.get_mut(index) {
            Some(slot) => {
                let add = v.heap_size();
                let old = std::mem::replace(slot, v);
                self.0.heap = self.0.heap - old.heap_size() + add;
                true
            }
            None => false,
        }
    }

    /// Insert `v` so that it ends up at `index` (`index == len` appends).
    /// Out-of-range indexes append.
    pub fn insert(&mut self, index: usize, v: Blob) {
        self.0.heap += v.heap_size();
        let i = index.min(self.len());
        self.0.items.insert(i, v);
    }

    /// Index of the first element equal to `elem`, from the head.
    pub fn position(&self, elem: &[u8]) -> Option<usize> {
        self.0.items.iter().position(|b| b.as_slice() == elem)
    }

    /// Remove elements equal to `elem` (LREM): at most `limit` of them
    /// (0 = all), the first ones from the head, or from the tail when
    /// `from_tail`. Returns how many were removed. One O(n) compaction pass,
    /// no allocation.
    pub fn remove_matching(&mut self, elem: &[u8], limit: u64, from_tail: bool) -> usize {
        let inner = &mut *self.0;
        // Removing the last `limit` matches while compacting front to back
        // means skipping the first `total - limit` matches.
        let mut skip = 0u64;
        if from_tail && limit != 0 {
            let total = inner.items.iter().filter(|b| b.as_slice() == elem).count() as u64;
            skip = total.saturating_sub(limit);
        }
        let budget = if limit == 0 { u64::MAX } else { limit };
        let mut removed = 0u64;
        let mut freed = 0usize;
        inner.items.retain(|b| {
            if removed >= budget || b.as_slice() != elem {
                return true;
            }
            if skip > 0 {
                skip -= 1;
                return true;
            }
            removed += 1;
            freed += b.heap_size();
            false
        });
        inner.heap -= freed;
        removed as usize
    }

    /// Keep only elements `start..end` (exclusive end, clamped); drop the
    /// rest (LTRIM).
    pub fn retain_range(&mut self, start: usize, end: usize) {
        let inner = &mut *self.0;
        let end = end.min(inner.items.len());
        let start = start.min(end);
        let mut freed = 0;
        for b in inner.items.range(end..) {
            freed += b.heap_size();
        }
        inner.items.truncate(end);
        for b in inner.items.drain(..start) {
            freed += b.heap_size();
        }
        inner.heap -= freed;
    }

    /// OBJECT ENCODING: Redis 7.0 reports `quicklist` for every list.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate bytes owned by this value: the box, the ring buffer's
    /// slots and the elements' own heap storage. O(1).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Inner>()
            + self.0.items.capacity() * std::mem::size_of::<Blob>()
            + self.0.heap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        ListValue::from_items(items.iter().map(|s| Blob::from(*s)))
    }

    fn items(l: &ListValue) -> Vec<String> {
        l.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    fn heap_of(l: &ListValue) -> usize {
        l.0.items.iter().map(Blob::heap_size).sum()
    }

    #[test]
    fn small() {
        assert!(std::mem::size_of::<ListValue>() <= 24);
        assert_eq!(std::mem::size_of::<ListValue>(), 8);
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = ListValue::new();
        l.push(Blob::from("b"), End::Tail);
        l.push(Blob::from("a"), End::Head);
        l.push_back(Blob::from("c"));
        assert_eq!(items(&l), ["a", "b", "c"]);
        assert_eq!(l.pop(End::Tail).as_deref(), Some(&b"c"[..]));
        assert_eq!(l.pop_front().as_deref(), Some(&b"a"[..]));
        assert_eq!(l.len(), 1);
        assert_eq!(l.pop_back().as_deref(), Some(&b"b"[..]));
        assert!(l.pop_back().is_none());
        assert!(l.is_empty());
        assert_eq!(End::Head.other(), End::Tail);
    }

    #[test]
    fn remove_matching_directions_and_limits() {
        let base = ["x", "a", "x", "b", "x", "c", "x"];
        let mut l = list(&base);
        assert_eq!(l.remove_matching(b"x", 2, false), 2);
        assert_eq!(items(&l), ["a", "b", "x", "c", "x"]);
        let mut l = list(&base);
        assert_eq!(l.remove_matching(b"x", 2, true), 2);
        assert_eq!(items(&l), ["x", "a", "x", "b", "c"]);
        let mut l = list(&base);
        assert_eq!(l.remove_matching(b"x", 0, true), 4);
        assert_eq!(items(&l), ["a", "b", "c"]);
        let mut l = list(&base);
        assert_eq!(l.remove_matching(b"x", 100, true), 4);
        assert_eq!(l.remove_matching(b"zz", 0, false), 0);
        assert_eq!(items(&l), ["a", "b", "c"]);
    }

    #[test]
    fn trim_range_insert_set() {
        let mut l = list(&["0", "1", "2", "3", "4"]);
        assert_eq!(l.range(1, 3).collect::<Vec<_>>(), [b"1", b"2", b"3"]);
        assert_eq!(l.range(3, 100).count(), 2);
        assert_eq!(l.range(9, 100).count(), 0);
        assert_eq!(l.range(4, 2).count(), 0);
        l.retain_range(1, 4);
        assert_eq!(items(&l), ["1", "2", "3"]);
        l.insert(1, Blob::from("i"));
        l.insert(99, Blob::from("end"));
        assert_eq!(items(&l), ["1", "i", "2", "3", "end"]);
        assert!(l.set(0, Blob::from("s")));
        assert!(!l.set(5, Blob::from("s")));
        assert_eq!(l.get(0), Some(&b"s"[..]));
        assert_eq!(l.position(b"3"), Some(3));
        assert_eq!(l.position(b"nope"), None);
        l.retain_range(7, 9);
        assert!(l.is_empty());
    }

    #[test]
    fn heap_accounting_stays_exact() {
        let big = "y".repeat(100);
        let mut l = ListValue::with_capacity(4);
        l.push_back(Blob::from(big.as_str()));
        l.push_front(Blob::from("small"));
        l.push_back(Blob::from(big.as_str()));
        l.insert(1, Blob::from(big.as_str()));
        assert_eq!(l.0.heap, 300);
        l.set(0, Blob::from(big.as_str()));
        assert_eq!(l.0.heap, heap_of(&l));
        l.remove_matching(big.as_bytes(), 1, true);
        assert_eq!(l.0.heap, heap_of(&l));
        l.retain_range(1, 2);
        assert_eq!(l.0.heap, heap_of(&l));
        l.pop_front();
        assert_eq!(l.0.heap, 0);
        assert!(l.mem_usage() >= std::mem::size_of::<Inner>());
        assert_eq!(l.encoding(), "quicklist");
    }
}
