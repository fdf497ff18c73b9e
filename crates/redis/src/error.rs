//! Command errors. A handler returns `Err(CmdError)`; the dispatcher writes it
//! as an error reply (the text carries its own code, e.g. `ERR`, `WRONGTYPE`).

use ferrocache_engine::WrongType;
use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// A complete error text, code included (`ERR syntax error`).
    #[error("{0}")]
    Msg(Cow<'static, str>),
}

impl CmdError {
    pub fn msg(s: impl Into<Cow<'static, str>>) -> Self {
        CmdError::Msg(s.into())
    }

    pub fn text(&self) -> &str {
        match self {
            CmdError::Msg(m) => m,
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

/// Shorthand for a formatted error.
pub fn errf<T>(s: String) -> Result<T, CmdError> {
    Err(CmdError::Msg(Cow::Owned(s)))
}
