//! Command errors. A handler returns `Err(CmdError)`; the dispatcher writes it
//! as an error reply (the text carries its own code, e.g. `ERR`, `WRONGTYPE`).

use ferrocache_engine::WrongType;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// A complete error text, code included (`ERR syntax error`).
    #[error("{0}")]
    Msg(Cow<'static, str>),
    /// An error text containing client bytes, kept raw as Redis's `%s`
    /// formatting keeps them (no UTF-8 replacement).
    #[error("{}", String::from_utf8_lossy(.0))]
    Raw(Vec<u8>),
}

impl CmdError {
    pub fn msg(s: impl Into<Cow<'static, str>>) -> Self {
        CmdError::Msg(s.into())
    }

    /// The text, for messages that are known to be UTF-8 (lossy for `Raw`).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            CmdError::Msg(m) => Cow::Borrowed(m),
            CmdError::Raw(b) => String::from_utf8_lossy(b),
        }
    }

    /// The exact bytes of the error reply.
    pub fn bytes(&self) -> &[u8] {
        match self {
            CmdError::Msg(m) => m.as_bytes(),
            CmdError::Raw(b) => b,
        }
    }
}

impl From<WrongType> for CmdError {
    fn from(_: WrongType) -> Self {
        CmdError::Msg(Cow::Borrowed(WRONGTYPE))
    }
}

pub type CmdResult = Result<(), CmdError>;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";

/// Shorthand: `return err(SYNTAX)`.
pub fn err<T>(s: &'static str) -> Result<T, CmdError> {
    Err(CmdError::Msg(Cow::Borrowed(s)))
}

/// An error `prefix` + `arg` formatted as C's `%s` would (raw bytes up to the
/// first NUL, at most `max` bytes) + `suffix`: how Redis quotes client input
/// in error messages. Like `addReplyErrorFormat`, CR/LF at the end of the
/// whole text are trimmed (inner ones become spaces when the reply is
/// written), so `"x\r\n"` quoted last leaves no trailing spaces.
pub fn err_arg<T>(prefix: &str, arg: &[u8], max: usize, suffix: &str) -> Result<T, CmdError> {
    let mut v = prefix.as_bytes().to_vec();
    v.extend_from_slice(c_str(arg, max));
    v.extend_from_slice(suffix.as_bytes());
    while v.last().is_some_and(|&c| c == b'\r' || c == b'\n') {
        v.pop();
    }
    Err(CmdError::Raw(v))
}

/// `arg` as C's `%.<max>s` sees it: up to the first NUL, at most `max` bytes.
pub fn c_str(arg: &[u8], max: usize) -> &[u8] {
    let end = arg
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(arg.len())
        .min(max);
    &arg[..end]
}

/// Shorthand for a formatted error.
pub fn errf<T>(s: String) -> Result<T, CmdError> {
    Err(CmdError::Msg(Cow::Owned(s)))
}
