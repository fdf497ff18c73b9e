//! One module per data type. Each collection type hides its encodings
//! (listpack/intset-like compact forms for small values, hash tables and
//! ordered trees for large ones) behind one API, and converts between them
//! using the thresholds in [`crate::keyspace::Tunables`].

pub mod bitmap;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod item;
pub mod list;
pub mod set;
pub mod stream;
pub mod string;
pub mod zset;
