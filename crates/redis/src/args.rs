//! Argument parsing with Redis's exact error replies.

use crate::error::{CmdError, NOT_FLOAT, NOT_INTEGER};
use ferrocache_engine::types::string::parse_i64;

/// Parse an integer argument (`ERR value is not an integer or out of range`).
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or_else(|| CmdError::msg(NOT_INTEGER))
}

/// Parse an integer with a custom error message.
pub fn int_or(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or_else(|| CmdError::msg(msg))
}

/// Parse a non-negative integer (`ERR value is out of range, must be positive`).
pub fn positive(arg: &[u8]) -> Result<i64, CmdError> {
    let n = int(arg)?;
    if n < 0 {
        return Err(CmdError::msg("ERR value is out of range, must be positive"));
    }
    Ok(n)
}

/// Parse a float as Redis's `getDoubleFromObject`/`string2d`: `inf`, `-inf`,
/// `+inf` accepted, no spaces, NaN refused.
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or_else(|| CmdError::msg(NOT_FLOAT))
}

/// `strtod`-compatible parse used by Redis for doubles.
pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || arg.len() > 5000 {
        return None;
    }
    let s = std::str::from_utf8(arg).ok()?;
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust's parser accepts "nan", "inf" spellings handled above;
            // reject NaN and hex floats are not produced by clients anyway.
            if lower.contains("nan") {
                return None;
            }
            s.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Case-insensitive ASCII comparison of an argument with a keyword.
pub fn eq(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// Lossy UTF-8 view of an argument for messages.
pub fn show(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}
