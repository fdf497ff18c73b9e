//! (being written) the list type.

/// A list value.
#[derive(Debug, Clone, Default)]
pub struct ListValue {}

impl ListValue {
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
    pub fn mem_usage(&self) -> usize {
        0
    }
}
