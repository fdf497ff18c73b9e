//! Small helpers with no dependencies: wall-clock time in AWS's ISO 8601
//! form, XML escaping, form/URI encoding as SigV4 defines it, random ids.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (wall clock: resources carry creation
/// times and usage records that must survive restarts).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Days since the epoch → (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since the epoch.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-05-01T12:00:00.123Z`, the timestamp form of AWS's XML responses.
pub fn iso8601(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

/// `20240501T120000Z` → ms (the X-Amz-Date form).
pub fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, se) = (n(9..11)?, n(11..13)?, n(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// Accepts ISO 8601 timestamps as the AWS CLI sends them
/// (`2024-05-01T12:00:00Z`, with optional fraction, or a date alone).
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let s = s.trim();
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    if s.get(4..5) != Some("-") || s.get(7..8) != Some("-") || !(1..=12).contains(&mo) {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    let (mut h, mut mi, mut se, mut frac) = (0, 0, 0, 0u64);
    if s.len() > 10 {
        h = n(11..13)?;
        mi = n(14..16)?;
        se = n(17..19).unwrap_or(0);
        if s.get(19..20) == Some(".") {
            let digits: String = s
                .get(20..)
                .unwrap_or("")
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .take(3)
                .collect();
            frac = format!("{digits:0<3}").parse().unwrap_or(0);
        }
    }
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    u64::try_from(secs).ok().map(|s| s * 1000 + frac)
}

/// XML text escaping for element content.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space).
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k, true), pct_decode(v, true))
        })
        .collect()
}

/// Percent-decoding; `plus` turns `+` into a space (forms, not paths).
pub fn pct_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if plus && c == b'+' { b' ' } else { c });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SigV4's URI encoding: every byte but `A-Za-z0-9-_.~` as `%XX`
/// (uppercase hex); `/` kept when encoding a path.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && c == b'/')
        {
            o.push(c as char);
        } else {
            o.push_str(&format!("%{c:02X}"));
        }
    }
    o
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random string over `alphabet`.
pub fn random_string(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut r = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[r.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// A request id in AWS's UUID form.
pub fn request_id() -> String {
    let h = random_string(b"0123456789abcdef", 32);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        let ms = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(iso8601(ms), "2024-02-29T23:59:59.000Z");
        assert_eq!(parse_iso8601("2024-02-29T23:59:59.5Z"), Some(ms + 500));
        assert_eq!(parse_iso8601("2024-03-01"), Some(ms + 1000));
        assert!(parse_amz_date("2024022T235959Z").is_none());
    }

    #[test]
    fn encodings() {
        assert_eq!(uri_encode("a b/~*", false), "a%20b%2F~%2A");
        assert_eq!(pct_decode("a+b%2Fc%", true), "a b/c%");
        assert_eq!(
            form_decode("A=1&B=x%3Dy&C"),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), "".into())
            ]
        );
    }
}
