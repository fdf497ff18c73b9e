//! (being written) the zset type.

/// A zset value.
#[derive(Debug, Clone, Default)]
pub struct ZSetValue {}

impl ZSetValue {
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
    pub fn mem_usage(&self) -> usize {
        0
    }
}
