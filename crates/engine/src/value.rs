//! The value stored under a key.

use crate::blob::Blob;
use crate::types::{
    hash::HashValue, item::Item, list::ListValue, set::SetValue, stream::StreamValue,
    zset::ZSetValue,
};

/// A Redis value. Each collection type owns its compact and large encodings.
#[derive(Debug, Clone)]
pub enum Value {
    Str(Blob),
    List(ListValue),
    Hash(HashValue),
    Set(SetValue),
    ZSet(ZSetValue),
    /// Boxed: a stream carries groups and bookkeeping that would otherwise
    /// grow every key's slot.
    Stream(Box<StreamValue>),
    /// A memcached item. Only the memcached engine creates these; on a
    /// Redis node they never exist, but every match handles them.
    Item(Item),
}

/// Returned when a command meets a key of another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
pub struct WrongType;

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
            Value::Item(_) => "string",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => crate::types::string::encoding(s),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
            Value::Item(_) => "raw",
        }
    }

    /// Approximate bytes this value costs (MEMORY USAGE, eviction stats).
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => l.mem_usage(),
            Value::Hash(h) => h.mem_usage(),
            Value::Set(s) => s.mem_usage(),
            Value::ZSet(z) => z.mem_usage(),
            Value::Stream(s) => s.mem_usage(),
            Value::Item(i) => i.heap_size(),
        }
    }

    /// Address of the value's data when it lives in its own heap
    /// allocation (memcached items, long strings): what a batched read
    /// prefetches ([`crate::Db::prefetch_value`]).
    pub fn heap_ptr(&self) -> Option<*const u8> {
        match self {
            Value::Item(i) => Some(i.data().as_ptr()),
            Value::Str(s) if s.heap_size() > 0 => Some(s.as_slice().as_ptr()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Result<&Blob, WrongType> {
        match self {
            Value::Str(s) => Ok(s),
            _ => Err(WrongType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stays_small() {
        // An Item must not grow Value (every key's slot holds one).
        assert!(std::mem::size_of::<Value>() <= 32);
    }
}
