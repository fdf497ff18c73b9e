//! Process-wide memory accounting.
//!
//! `used_memory` in INFO must track what the data costs, like Redis's
//! `zmalloc_used_memory()`. The binary installs [`CountingAlloc`] as the global
//! allocator, wrapping jemalloc (or the system allocator) and counting bytes
//! handed out. The counter is one relaxed atomic: cheap enough on the hot path
//! and exact, which is what `maxmemory` enforcement needs.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Bytes currently allocated through the counting allocator (0 if it is not
/// the global allocator).
pub fn used_memory() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// True when [`CountingAlloc`] is the process's global allocator.
pub fn accounting_enabled() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Highest `used_memory` seen. Not updated on every allocation (that would
/// put a compare-and-swap loop on the allocator's hot path) but, as in Redis,
/// by the cron at `hz` and whenever INFO / MEMORY STATS / eviction look.
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Fold the current `used_memory` into the peak and return the peak
/// (`used_memory_peak`).
pub fn update_peak() -> usize {
    let now = used_memory();
    PEAK.fetch_max(now, Ordering::Relaxed).max(now)
}

/// Reset the peak to the current usage (CONFIG RESETSTAT / MEMORY
/// MALLOC-STATS style resets).
pub fn reset_peak() {
    PEAK.store(used_memory(), Ordering::Relaxed);
}

/// Resident set size of this process in bytes (`used_memory_rss`), from
/// `/proc/self/status` (VmRSS is in kB, so no page-size guess is needed).
/// None where procfs is unavailable.
pub fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A global allocator that counts live bytes and delegates to `A`.
pub struct CountingAlloc<A>(pub A);

// SAFETY: every method delegates to the wrapped allocator `A` with exactly the
// pointer and layout it was given, so all of `GlobalAlloc`'s contracts hold iff
// they hold for `A`. The only extra work is updating an atomic counter, which
// never allocates and cannot unwind. Exercised by every test binary that
// installs it (see `src/main.rs` and `tests/`), and by `counting_alloc_counts`.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract, see the impl comment.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            INSTALLED.store(true, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract, see the impl comment.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            INSTALLED.store(true, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract, see the impl comment.
        unsafe { self.0.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract, see the impl comment.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                ALLOCATED.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            } else {
                ALLOCATED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static GLOBAL: CountingAlloc<std::alloc::System> = CountingAlloc(std::alloc::System);

    #[test]
    fn counting_alloc_counts() {
        let v: Vec<u8> = Vec::with_capacity(1 << 20);
        assert!(accounting_enabled());
        assert!(used_memory() >= 1 << 20);
        assert!(update_peak() >= 1 << 20);
        drop(v);
        assert!(update_peak() >= 1 << 20);
        reset_peak();
        assert!(rss_bytes().is_some_and(|r| r > 0));
    }
}
