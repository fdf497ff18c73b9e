//! Wall-clock helpers. Expiry times are absolute Unix milliseconds, as in Redis.
//!
//! Reading the wall clock costs a vDSO call (~20 ns). The request path needs
//! both a monotonic instant (command duration) and Unix time (expiry), so
//! [`unix_ms_at`] derives Unix time from an `Instant` the caller already has,
//! using a base pair (instant, Unix µs) refreshed from the real clock at
//! least every 100 ms, so wall-clock adjustments are followed quickly.

use parking_lot::RwLock;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Current Unix time in microseconds.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn base() -> &'static RwLock<(Instant, u64)> {
    static BASE: OnceLock<RwLock<(Instant, u64)>> = OnceLock::new();
    BASE.get_or_init(|| RwLock::new((Instant::now(), now_us())))
}

/// Re-read the wall clock for [`unix_ms_at`].
pub fn calibrate() {
    let pair = (Instant::now(), now_us());
    *base().write() = pair;
}

/// Unix milliseconds at `at`, derived from the calibrated base.
pub fn unix_ms_at(at: Instant) -> u64 {
    let (mut i, mut us) = *base().read();
    if at > i && at.duration_since(i).as_millis() >= 100 {
        // Follow wall-clock adjustments at least every 100 ms.
        let fresh = (Instant::now(), now_us());
        *base().write() = fresh;
        (i, us) = fresh;
    }
    let t = if at >= i {
        us + at.duration_since(i).as_micros() as u64
    } else {
        us.saturating_sub(i.duration_since(at).as_micros() as u64)
    };
    t / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_time_is_close_to_wall_clock() {
        calibrate();
        let d = unix_ms_at(Instant::now()).abs_diff(now_ms());
        assert!(d <= 2, "drift {d}");
    }
}
