//! The RDB reader (and the DUMP payload decoder behind RESTORE) on
//! arbitrary bytes: it must return an error or a value, never panic,
//! never allocate far beyond the input's size, never loop forever.
//!
//! Input byte 0 chooses the mode: even = whole snapshot (prefixed with a
//! valid `REDIS00NN` header half of the time so the fuzzer reaches the
//! object decoders quickly), odd = a RESTORE object body.
#![no_main]

use ferrocache_engine::keyspace::Tunables;
use ferrocache_persist::reader::{read_dump_object, read_rdb};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let t = Tunables::default();
    if mode & 1 == 1 {
        let _ = read_dump_object(rest, &t);
        return;
    }
    let mut buf = Vec::with_capacity(rest.len() + 9);
    if mode & 2 == 0 {
        buf.extend_from_slice(format!("REDIS{:04}", 6 + (mode >> 2) % 7).as_bytes());
    }
    buf.extend_from_slice(rest);
    let _ = read_rdb(buf.as_slice(), &t, mode & 4 == 0, |_| Ok(()));
});
