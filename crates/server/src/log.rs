//! Redis-style logging: `loglevel` (debug, verbose, notice, warning, nothing)
//! and `logfile` ("" = standard output), with redis-server's line format
//! `pid:M 26 Nov 2026 14:00:00.123 * message`, so log scrapers keep working.

use parking_lot::Mutex;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
    Nothing = 4,
}

impl Level {
    pub fn from_name(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "notice" => Level::Notice,
            "warning" => Level::Warning,
            "nothing" => Level::Nothing,
            _ => return None,
        })
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning | Level::Nothing => '#',
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static SINK: OnceLock<Mutex<Option<std::fs::File>>> = OnceLock::new();

/// Configure the logger. `logfile` empty means standard output.
pub fn init(level: &str, logfile: &str) -> std::io::Result<()> {
    if let Some(l) = Level::from_name(level) {
        LEVEL.store(l as u8, Ordering::Relaxed);
    }
    let file = if logfile.is_empty() {
        None
    } else {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logfile)?,
        )
    };
    let sink = SINK.get_or_init(|| Mutex::new(None));
    *sink.lock() = file;
    Ok(())
}

/// Change the level at run time (CONFIG SET loglevel).
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed) && level != Level::Nothing
}

/// Write one log line if `level` is enabled.
pub fn log(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let line = format!(
        "{}:M {} {} {}\n",
        std::process::id(),
        format_time(now.as_secs() as i64, now.subsec_millis()),
        level.mark(),
        msg
    );
    let sink = SINK.get_or_init(|| Mutex::new(None));
    let mut guard = sink.lock();
    match guard.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().write_all(line.as_bytes());
        }
    }
}

/// `26 Nov 2026 14:00:00.123` (UTC).
fn format_time(secs: i64, millis: u32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize % 12],
        y,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        millis
    )
}

/// Howard Hinnant's days → civil date.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        assert_eq!(format_time(0, 5), "01 Jan 1970 00:00:00.005");
        assert_eq!(format_time(1_795_651_200, 0), "26 Nov 2026 00:00:00.000");
    }
}
