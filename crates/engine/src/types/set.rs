//! (being written) the set type.

/// A set value.
#[derive(Debug, Clone, Default)]
pub struct SetValue {}

impl SetValue {
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
    pub fn mem_usage(&self) -> usize {
        0
    }
}
