//! (being written) the hash type.

/// A hash value.
#[derive(Debug, Clone, Default)]
pub struct HashValue {}

impl HashValue {
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
    pub fn mem_usage(&self) -> usize {
        0
    }
}
