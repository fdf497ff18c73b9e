//! The RDB writer: version 10 (what redis-server 7.0 writes and reads) by
//! default, 11 on request. Compact encodings are written when the value is
//! compact in memory (listpack hashes and sorted sets, intsets, quicklists
//! of listpacks), so redis-server loads them with the same OBJECT ENCODING.

use crate::crc64::crc64;
use crate::encoding::{intset_encode, parse_canonical_i64, ListpackBuilder};
use crate::lzf;
use crate::rdb::*;
use ferrocache_engine::db::SnapshotStep;
use ferrocache_engine::keyspace::Tunables;
use ferrocache_engine::types::stream::{StreamId, StreamValue};
use ferrocache_engine::{Entry, Keyspace, Shard, Value};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Which eviction metadata each key carries in the file (Redis
/// `rdbSaveKeyValuePair`): the idle time under an LRU policy
/// (`volatile-lru`, `allkeys-lru`: opcode IDLE, seconds), the decayed LFU
/// counter under an LFU policy (opcode FREQ), nothing otherwise.
#[derive(Debug, Clone, Default)]
pub enum AccessInfo {
    #[default]
    None,
    Lru(Arc<Tunables>),
    Lfu(Arc<Tunables>),
}

/// How to write a snapshot.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// RDB version: 10 (default) or 11.
    pub version: u32,
    /// `rdbcompression`: LZF for strings longer than 20 bytes.
    pub compress: bool,
    /// `rdbchecksum`: when off, the footer is 0 (as Redis).
    pub checksum: bool,
    /// Keys that expire at or before this (Unix ms) are not written.
    pub now_ms: u64,
    /// Function library sources (FUNCTION2 opcodes).
    pub functions: Vec<Vec<u8>>,
    /// `used-mem` aux field.
    pub used_mem: u64,
    /// IDLE / FREQ opcodes (from `maxmemory-policy`).
    pub access: AccessInfo,
    /// `rdb-key-save-delay` (µs slept after each key; negative `-N`:
    /// 1 µs once every N keys), Redis's testing knob.
    pub key_save_delay: i64,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            version: DEFAULT_VERSION,
            compress: true,
            checksum: true,
            now_ms: ferrocache_engine::clock::now_ms(),
            functions: Vec::new(),
            used_mem: 0,
            access: AccessInfo::None,
            key_save_delay: 0,
        }
    }
}

/// Figures from one save.
#[derive(Debug, Default, Clone, Copy)]
pub struct SaveStats {
    pub keys: u64,
    pub bytes: u64,
}

/// Target list node size (`list-max-listpack-size -2`: 8 KiB).
const LIST_NODE_BYTES: usize = 8192;
/// Stream node limits (`stream-node-max-entries`/`-bytes` defaults).
const STREAM_NODE_ENTRIES: usize = 100;
const STREAM_NODE_BYTES: usize = 4096;

/// Low-level writer: tracks the CRC and the byte count.
pub struct Writer<W: Write> {
    w: W,
    crc: u64,
    bytes: u64,
    compress: bool,
    pub version: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(w: W, compress: bool, version: u32) -> Self {
        Writer {
            w,
            crc: 0,
            bytes: 0,
            compress,
            version,
        }
    }

    pub fn into_inner(self) -> W {
        self.w
    }

    pub fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc = crc64(self.crc, b);
        self.bytes += b.len() as u64;
        self.w.write_all(b)
    }

    pub fn u8(&mut self, b: u8) -> io::Result<()> {
        self.raw(&[b])
    }

    pub fn len(&mut self, n: u64) -> io::Result<()> {
        if n < 64 {
            self.u8(n as u8)
        } else if n < 16384 {
            self.raw(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u64::from(u32::MAX) {
            let mut b = [0x80u8; 5];
            b[1..].copy_from_slice(&(n as u32).to_be_bytes());
            self.raw(&b)
        } else {
            let mut b = [0x81u8; 9];
            b[1..].copy_from_slice(&n.to_be_bytes());
            self.raw(&b)
        }
    }

    /// A string as Redis's `rdbSaveRawString`: small canonical integers
    /// int-encoded, long strings LZF-compressed when that saves space.
    pub fn string(&mut self, s: &[u8]) -> io::Result<()> {
        if s.len() <= 11 {
            if let Some(v) = parse_canonical_i64(s) {
                if let Ok(b) = i8::try_from(v) {
                    return self.raw(&[0xC0 | ENC_INT8, b as u8]);
                }
                if let Ok(b) = i16::try_from(v) {
                    let x = b.to_le_bytes();
                    return self.raw(&[0xC0 | ENC_INT16, x[0], x[1]]);
                }
                if let Ok(b) = i32::try_from(v) {
                    let x = b.to_le_bytes();
                    return self.raw(&[0xC0 | ENC_INT32, x[0], x[1], x[2], x[3]]);
                }
            }
        }
        if self.compress && s.len() > 20 {
            if let Some(c) = lzf::compress(s, s.len() - 4) {
                self.u8(0xC0 | ENC_LZF)?;
                self.len(c.len() as u64)?;
                self.len(s.len() as u64)?;
                return self.raw(&c);
            }
        }
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    fn ms_time(&mut self, t: u64) -> io::Result<()> {
        self.raw(&t.to_le_bytes())
    }

    fn stream_id(&mut self, id: StreamId) -> io::Result<()> {
        self.len(id.ms)?;
        self.len(id.seq)
    }

    /// The RDB type byte for `v`.
    pub fn type_of(&self, v: &Value) -> u8 {
        match v {
            Value::Str(_) | Value::Item(_) => T_STRING,
            Value::List(_) => T_LIST_QUICKLIST_2,
            Value::Set(s) => {
                if s.is_intset() {
                    T_SET_INTSET
                } else {
                    T_SET
                }
            }
            Value::ZSet(z) => {
                if z.encoding() == "listpack" {
                    T_ZSET_LISTPACK
                } else {
                    T_ZSET_2
                }
            }
            Value::Hash(h) => {
                if h.is_compact() {
                    T_HASH_LISTPACK
                } else {
                    T_HASH
                }
            }
            Value::Stream(_) => {
                if self.version >= 11 {
                    T_STREAM_LISTPACKS_3
                } else {
                    T_STREAM_LISTPACKS_2
                }
            }
        }
    }

    /// Serialize the value (without its type byte).
    pub fn object(&mut self, v: &Value) -> io::Result<()> {
        match v {
            Value::Str(s) => self.string(s),
            Value::Item(i) => self.string(i.data()),
            Value::List(l) => {
                let mut nodes: Vec<Vec<u8>> = Vec::new();
                let mut lp = ListpackBuilder::new();
                for e in l.iter() {
                    if !lp.is_empty() && lp.bytes() + e.len() + 11 > LIST_NODE_BYTES {
                        nodes.push(std::mem::take(&mut lp).finish());
                    }
                    lp.push(e);
                }
                if !lp.is_empty() {
                    nodes.push(lp.finish());
                }
                self.len(nodes.len() as u64)?;
                for n in &nodes {
                    self.len(QL_PACKED)?;
                    self.string(n)?;
                }
                Ok(())
            }
            Value::Set(s) => {
                if s.is_intset() {
                    let mut ints: Vec<i64> =
                        s.iter().filter_map(|m| parse_canonical_i64(&m)).collect();
                    ints.sort_unstable();
                    self.string(&intset_encode(&ints))
                } else {
                    self.len(s.len() as u64)?;
                    for m in s.iter() {
                        self.string(&m)?;
                    }
                    Ok(())
                }
            }
            Value::ZSet(z) => {
                if z.encoding() == "listpack" {
                    let mut lp = ListpackBuilder::new();
                    for (m, sc) in z.iter() {
                        lp.push(m);
                        lp.push(score_text(sc).as_bytes());
                    }
                    self.string(&lp.finish())
                } else {
                    self.len(z.len() as u64)?;
                    // Redis writes skiplists from the tail so that loading
                    // inserts at the head (cheap); any order loads.
                    let items: Vec<(&[u8], f64)> = z.iter().collect();
                    for (m, sc) in items.iter().rev() {
                        self.string(m)?;
                        self.raw(&sc.to_le_bytes())?;
                    }
                    Ok(())
                }
            }
            Value::Hash(h) => {
                if h.is_compact() {
                    let mut lp = ListpackBuilder::new();
                    for (f, x) in h.iter() {
                        lp.push(f);
                        lp.push(x);
                    }
                    self.string(&lp.finish())
                } else {
                    self.len(h.len() as u64)?;
                    for (f, x) in h.iter() {
                        self.string(f)?;
                        self.string(x)?;
                    }
                    Ok(())
                }
            }
            Value::Stream(s) => self.stream(s),
        }
    }

    fn stream(&mut self, s: &StreamValue) -> io::Result<()> {
        // Nodes: runs of up to 100 entries / ~4 KiB, each with the first
        // entry's field names as master fields (SAMEFIELDS when equal).
        let mut nodes: Vec<(StreamId, Vec<u8>)> = Vec::new();
        let all: Vec<(StreamId, &[ferrocache_engine::Blob])> =
            s.range(StreamId::MIN, StreamId::MAX, false).collect();
        let mut i = 0;
        while i < all.len() {
            let (master, mfields) = all[i];
            let master_names: Vec<&[u8]> =
                mfields.iter().step_by(2).map(|b| b.as_slice()).collect();
            let mut j = i;
            let mut size = 0usize;
            while j < all.len()
                && j - i < STREAM_NODE_ENTRIES
                && (j == i || size < STREAM_NODE_BYTES)
            {
                size += all[j].1.iter().map(|b| b.len() + 2).sum::<usize>() + 8;
                j += 1;
            }
            let mut lp = ListpackBuilder::new();
            lp.push_int((j - i) as i64);
            lp.push_int(0);
            lp.push_int(master_names.len() as i64);
            for n in &master_names {
                lp.push(n);
            }
            lp.push_int(0);
            for &(id, fields) in &all[i..j] {
                let same = fields.len() == master_names.len() * 2
                    && fields
                        .iter()
                        .step_by(2)
                        .zip(&master_names)
                        .all(|(a, b)| a.as_slice() == *b);
                let nf = fields.len() / 2;
                lp.push_int(if same { STREAM_SAMEFIELDS } else { 0 });
                lp.push_int(id.ms.wrapping_sub(master.ms) as i64);
                lp.push_int(id.seq.wrapping_sub(master.seq) as i64);
                if same {
                    for v in fields.iter().skip(1).step_by(2) {
                        lp.push(v);
                    }
                    lp.push_int(nf as i64 + 3);
                } else {
                    lp.push_int(nf as i64);
                    for f in fields.iter() {
                        lp.push(f);
                    }
                    lp.push_int(nf as i64 * 2 + 4);
                }
            }
            nodes.push((master, lp.finish()));
            i = j;
        }
        self.len(nodes.len() as u64)?;
        for (m, lp) in &nodes {
            self.string(&m.to_be_bytes())?;
            self.string(lp)?;
        }
        self.len(s.len() as u64)?;
        self.stream_id(s.last_id)?;
        self.stream_id(s.first_id)?;
        self.stream_id(s.max_deleted_id)?;
        self.len(s.entries_added)?;
        self.len(s.groups.len() as u64)?;
        for (name, g) in &s.groups {
            self.string(name)?;
            self.stream_id(g.last_id)?;
            self.len(g.entries_read.unwrap_or(u64::MAX))?;
            self.len(g.pel.len() as u64)?;
            for (id, p) in &g.pel {
                self.raw(&id.to_be_bytes())?;
                self.ms_time(p.delivery_time)?;
                self.len(p.delivery_count)?;
            }
            self.len(g.consumers.len() as u64)?;
            for (cname, c) in &g.consumers {
                self.string(cname)?;
                self.ms_time(c.seen_time)?;
                if self.version >= 11 {
                    self.ms_time(c.seen_time)?;
                }
                self.len(c.pel.len() as u64)?;
                for id in &c.pel {
                    self.raw(&id.to_be_bytes())?;
                }
            }
        }
        Ok(())
    }

    fn aux(&mut self, k: &str, v: &[u8]) -> io::Result<()> {
        self.u8(OP_AUX)?;
        self.string(k.as_bytes())?;
        self.string(v)
    }
}

/// A score as text that `strtod` reads back to the same double.
fn score_text(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        return (x as i64).to_string();
    }
    let s = format!("{x:?}");
    if s.len() <= 24 {
        s
    } else {
        format!("{x:e}")
    }
}

/// Write a whole snapshot of the given shards (all of them, locked or
/// inherited by a forked child) to `out`.
pub fn write_rdb<W: Write>(out: W, shards: &[&Shard], opts: &SaveOptions) -> io::Result<SaveStats> {
    write_rdb_progress(out, shards, opts, &mut |_| {})
}

/// Keys between two calls of the progress callback.
pub const PROGRESS_EVERY: u64 = 1024;

/// The IDLE / FREQ opcode of one key, as `rdbSaveKeyValuePair`.
fn write_access<W: Write>(w: &mut Writer<W>, a: &AccessInfo, e: &Entry) -> io::Result<()> {
    match a {
        AccessInfo::None => Ok(()),
        AccessInfo::Lru(t) => {
            w.u8(OP_IDLE)?;
            w.len(t.idle_seconds(e.access()))
        }
        AccessInfo::Lfu(t) => {
            w.u8(OP_FREQ)?;
            w.u8(t.lfu_counter(e.access()).min(255) as u8)
        }
    }
}

/// `debugDelay`: sleep `usec` µs, or for `-N`, 1 µs once every N keys.
fn key_delay(usec: i64, key_no: u64) {
    let us = if usec < 0 {
        u64::from(key_no.is_multiple_of(usec.unsigned_abs()))
    } else {
        usec as u64
    };
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

/// [`write_rdb`], calling `progress(keys written so far)` every
/// [`PROGRESS_EVERY`] keys and once at the end (INFO's
/// `current_save_keys_processed` in the forked child).
pub fn write_rdb_progress<W: Write>(
    out: W,
    shards: &[&Shard],
    opts: &SaveOptions,
    progress: &mut dyn FnMut(u64),
) -> io::Result<SaveStats> {
    let mut w = Writer::new(out, opts.compress, opts.version);
    write_header(&mut w, opts)?;
    let ndb = shards.iter().map(|s| s.dbs.len()).max().unwrap_or(0);
    let mut keys = 0u64;
    for db in 0..ndb {
        let (size, expires) = shards
            .iter()
            .filter_map(|s| s.dbs.get(db))
            .fold((0, 0), |(a, b), d| (a + d.len(), b + d.expires_len()));
        if size == 0 {
            continue;
        }
        write_select(&mut w, db, size, expires)?;
        for d in shards.iter().filter_map(|s| s.dbs.get(db)) {
            for (k, e, exp) in d.iter_with_expiry() {
                write_key(&mut w, opts, k, e, exp, &mut keys, progress)?;
            }
        }
    }
    write_footer(w, opts, keys, progress)
}

/// Magic, version, aux fields and function libraries.
fn write_header<W: Write>(w: &mut Writer<W>, opts: &SaveOptions) -> io::Result<()> {
    w.raw(format!("REDIS{:04}", opts.version).as_bytes())?;
    w.aux("redis-ver", b"7.0.15")?;
    w.aux("redis-bits", b"64")?;
    w.aux("ctime", (opts.now_ms / 1000).to_string().as_bytes())?;
    w.aux("used-mem", opts.used_mem.to_string().as_bytes())?;
    w.aux("aof-base", b"0")?;
    for f in &opts.functions {
        w.u8(OP_FUNCTION2)?;
        w.string(f)?;
    }
    Ok(())
}

/// SELECTDB and the RESIZEDB hint of one database.
fn write_select<W: Write>(
    w: &mut Writer<W>,
    db: usize,
    size: usize,
    expires: usize,
) -> io::Result<()> {
    w.u8(OP_SELECTDB)?;
    w.len(db as u64)?;
    w.u8(OP_RESIZEDB)?;
    w.len(size as u64)?;
    w.len(expires as u64)
}

/// One key (skipped when it expired at or before the snapshot's time),
/// counting it in `keys`.
fn write_key<W: Write>(
    w: &mut Writer<W>,
    opts: &SaveOptions,
    k: &[u8],
    e: &Entry,
    exp: Option<u64>,
    keys: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> io::Result<()> {
    if let Some(at) = exp {
        if at <= opts.now_ms {
            return Ok(());
        }
        w.u8(OP_EXPIRETIME_MS)?;
        w.ms_time(at)?;
    }
    write_access(w, &opts.access, e)?;
    let t = w.type_of(&e.value);
    w.u8(t)?;
    w.string(k)?;
    w.object(&e.value)?;
    *keys += 1;
    if keys.is_multiple_of(PROGRESS_EVERY) {
        progress(*keys);
    }
    if opts.key_save_delay != 0 {
        key_delay(opts.key_save_delay, *keys);
    }
    Ok(())
}

/// EOF opcode and checksum; flushes.
fn write_footer<W: Write>(
    mut w: Writer<W>,
    opts: &SaveOptions,
    keys: u64,
    progress: &mut dyn FnMut(u64),
) -> io::Result<SaveStats> {
    w.u8(OP_EOF)?;
    let crc = if opts.checksum { w.crc } else { 0 };
    w.raw(&crc.to_le_bytes())?;
    let bytes = w.bytes;
    w.into_inner().flush()?;
    progress(keys);
    Ok(SaveStats { keys, bytes })
}

/// Keys copied per lock hold by the incremental snapshot (and at most
/// about this many bytes of values): a batch costs a few microseconds
/// of lock time, so a command waiting behind it barely notices.
const SNAPSHOT_BATCH_KEYS: usize = 64;
const SNAPSHOT_BATCH_BYTES: usize = 64 * 1024;

/// Write the incremental snapshot `id` of `ks` (started with
/// [`ferrocache_engine::Db::snapshot_begin`] on every database while all
/// shards were locked): the image of that instant, read one short
/// critical section at a time while the node keeps serving (see
/// `ferrocache_engine::db::snapshot`). `abort` is checked between
/// batches, and `on_batch` called after each. The snapshot state of
/// every database is gone when this returns (or unwinds), whatever the
/// outcome.
pub fn write_rdb_incremental<W: Write>(
    out: W,
    ks: &Keyspace,
    id: u64,
    opts: &SaveOptions,
    abort: &AtomicBool,
    progress: &mut dyn FnMut(u64),
    on_batch: &mut dyn FnMut(),
) -> io::Result<SaveStats> {
    // On success every state is already gone; on an error, an abort or
    // a panic, drop what is left so writers stop copying keys aside.
    struct EndStates<'a>(&'a Keyspace, u64);
    impl Drop for EndStates<'_> {
        fn drop(&mut self) {
            for s in 0..self.0.shard_count() {
                if let Some(mut g) = self.0.lock_shard(s) {
                    for d in &mut g.dbs {
                        d.snapshot_end(self.1);
                    }
                }
            }
        }
    }
    let _end = EndStates(ks, id);
    let aborted = || io::Error::new(io::ErrorKind::Interrupted, "snapshot aborted");
    let mut w = Writer::new(out, opts.compress, opts.version);
    write_header(&mut w, opts)?;
    // Sizes at the start, per original database number (SWAPDB may move
    // a database's data to another number meanwhile; the state remembers
    // the number it had).
    let ndb = ks.databases();
    let mut sizes = vec![(0usize, 0usize); ndb];
    for s in 0..ks.shard_count() {
        if let Some(g) = ks.lock_shard(s) {
            for info in g.dbs.iter().filter_map(|d| d.snapshot_info()) {
                if info.id == id {
                    if let Some(e) = sizes.get_mut(info.db_index) {
                        e.0 += info.keys;
                        e.1 += info.expires;
                    }
                }
            }
        }
    }
    let mut keys = 0u64;
    let mut batch = ferrocache_engine::db::SnapshotDrained::default();
    for (db, &(size, expires)) in sizes.iter().enumerate() {
        if size == 0 {
            continue;
        }
        write_select(&mut w, db, size, expires)?;
        for s in 0..ks.shard_count() {
            loop {
                if abort.load(Ordering::Relaxed) {
                    return Err(aborted());
                }
                let step = {
                    let Some(mut g) = ks.lock_shard(s) else {
                        break;
                    };
                    let found = g.dbs.iter_mut().find(|d| {
                        d.snapshot_info()
                            .is_some_and(|i| i.id == id && i.db_index == db)
                    });
                    match found {
                        Some(d) => d.snapshot_step(
                            id,
                            SNAPSHOT_BATCH_KEYS,
                            SNAPSHOT_BATCH_BYTES,
                            &mut batch,
                        ),
                        None => SnapshotStep::Done,
                    }
                };
                for c in &batch.keys {
                    write_key(
                        &mut w,
                        opts,
                        &c.key,
                        &c.entry,
                        c.expire_at,
                        &mut keys,
                        progress,
                    )?;
                }
                // Written: the copies are freed and stop counting as
                // pending only now (an error returns early and the drop
                // releases them).
                batch.release();
                on_batch();
                if step == SnapshotStep::Done {
                    break;
                }
            }
        }
    }
    if abort.load(Ordering::Relaxed) {
        return Err(aborted());
    }
    write_footer(w, opts, keys, progress)
}

/// Bytes the value takes in a snapshot, without key and type byte (Redis
/// `rdbSavedObjectLen`, DEBUG OBJECT's `serializedlength`).
pub fn serialized_len(v: &Value, version: u32, compress: bool) -> u64 {
    let mut w = Writer::new(io::sink(), compress, version);
    // Writing into a sink cannot fail.
    let _ = w.object(v);
    w.bytes
}

/// A DUMP payload: type byte, object, RDB version (2 bytes LE), CRC64.
pub fn dump_payload(v: &Value, version: u32, compress: bool) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), compress, version);
    let t = w.type_of(v);
    // Writing into a Vec cannot fail.
    let _ = w.u8(t);
    let _ = w.object(v);
    let mut buf = w.into_inner();
    buf.extend_from_slice(&(version as u16).to_le_bytes());
    let crc = crc64(0, &buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_as_text() {
        for x in [
            0.5,
            -0.0,
            1.0,
            -3.0,
            1e300,
            1e-300,
            0.1,
            2.5e15,
            1.0e17,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            123456.789,
        ] {
            let t = score_text(x);
            let back: f64 = t.parse().expect("parses");
            assert_eq!(back.to_bits(), x.to_bits(), "{x} -> {t}");
            assert!(t.len() <= 128);
        }
    }
}
