//! The RDB reader: every object type and encoding Redis wrote in RDB
//! versions 1–12 (Redis 2.x … 7.4, Valkey 7.2/8), streamed from any
//! `Read` so that a multi-GB file never has to sit in memory whole.
//!
//! Every length read from the file is treated as hostile: nothing is
//! preallocated from it beyond a small cap, strings are read in bounded
//! pieces, and any inconsistency is a [`RdbError`] carrying the byte offset
//! where it was detected. Nothing here panics on malformed input.

use crate::crc64::crc64;
use crate::encoding::{intset_decode, listpack_decode, ziplist_decode, zipmap_decode, Elem};
use crate::lzf;
use crate::rdb::*;
use ferrocache_engine::keyspace::Tunables;
use ferrocache_engine::types::hash::HashValue;
use ferrocache_engine::types::list::ListValue;
use ferrocache_engine::types::set::SetValue;
use ferrocache_engine::types::stream::{
    Consumer, ConsumerGroup, PendingEntry, StreamId, StreamValue,
};
use ferrocache_engine::types::zset::{ZLimits, ZSetValue};
use ferrocache_engine::{Blob, Value};
use std::io::Read;

/// Why a snapshot or payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    #[error("unexpected end of file at offset {0} (truncated snapshot)")]
    Truncated(u64),
    #[error("{msg} at offset {offset}")]
    Corrupt { offset: u64, msg: String },
    #[error(
        "checksum mismatch at offset {offset}: file says {stored:016x}, data gives {computed:016x}"
    )]
    Checksum {
        offset: u64,
        stored: u64,
        computed: u64,
    },
    #[error("i/o error at offset {offset}: {source}")]
    Io { offset: u64, source: std::io::Error },
}

impl RdbError {
    /// Byte offset where the problem was found.
    pub fn offset(&self) -> u64 {
        match self {
            RdbError::Truncated(o) => *o,
            RdbError::Corrupt { offset, .. }
            | RdbError::Checksum { offset, .. }
            | RdbError::Io { offset, .. } => *offset,
        }
    }
}

pub type Result<T> = std::result::Result<T, RdbError>;

/// One item of a snapshot, in file order.
#[derive(Debug)]
pub enum Item {
    Aux(Vec<u8>, Vec<u8>),
    /// A function library's source code (FUNCTION2 opcode).
    Function(Vec<u8>),
    Key(LoadedKey),
}

/// A key read from a snapshot.
#[derive(Debug)]
pub struct LoadedKey {
    pub db: usize,
    pub key: Vec<u8>,
    pub value: Value,
    /// Absolute expiry, Unix ms.
    pub expire_ms: Option<u64>,
    /// LRU idle seconds (IDLE opcode), if the file had one.
    pub idle_secs: Option<u64>,
    /// LFU counter (FREQ opcode), if the file had one.
    pub freq: Option<u8>,
}

/// Summary of a whole-file read.
#[derive(Debug, Default, Clone)]
pub struct LoadSummary {
    pub version: u32,
    pub keys: u64,
    pub functions: u64,
    /// True when a non-zero checksum was verified.
    pub checksum_verified: bool,
    pub bytes: u64,
}

/// Largest single preallocation made from a length read in the file.
const PREALLOC_CAP: usize = 1 << 16;
/// Strings are read in pieces of this size, so a forged length can only
/// cost as much memory as the file really holds.
const READ_PIECE: usize = 1 << 20;

/// Low-level reader: counts the offset and the running CRC.
pub struct Reader<R: Read> {
    r: R,
    offset: u64,
    crc: u64,
    /// Maintain the CRC (off for RESTORE payloads, checked separately).
    track_crc: bool,
    pub version: u32,
}

impl<R: Read> Reader<R> {
    pub fn new(r: R, track_crc: bool) -> Self {
        Reader {
            r,
            offset: 0,
            crc: 0,
            track_crc,
            version: DEFAULT_VERSION,
        }
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn corrupt<T>(&self, msg: impl Into<String>) -> Result<T> {
        Err(RdbError::Corrupt {
            offset: self.offset,
            msg: msg.into(),
        })
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.r.read(&mut buf[done..]) {
                Ok(0) => return Err(RdbError::Truncated(self.offset + done as u64)),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(RdbError::Io {
                        offset: self.offset + done as u64,
                        source: e,
                    })
                }
            }
        }
        if self.track_crc {
            self.crc = crc64(self.crc, buf);
        }
        self.offset += buf.len() as u64;
        Ok(())
    }

    pub fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }

    /// `n` bytes, read in bounded pieces.
    pub fn vec(&mut self, n: u64) -> Result<Vec<u8>> {
        let Ok(n) = usize::try_from(n) else {
            return self.corrupt("length too large");
        };
        let mut v = Vec::with_capacity(n.min(READ_PIECE));
        while v.len() < n {
            let start = v.len();
            let piece = (n - start).min(READ_PIECE);
            v.resize(start + piece, 0);
            self.fill(&mut v[start..])?;
        }
        Ok(v)
    }

    /// A length, or `Err(special)` for the `11xxxxxx` string encodings.
    pub fn len_or_enc(&mut self) -> Result<std::result::Result<u64, u8>> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Ok(u64::from(b & 0x3f)),
            1 => Ok((u64::from(b & 0x3f) << 8) | u64::from(self.u8()?)),
            2 => match b {
                0x80 => Ok(u64::from(u32::from_be_bytes(self.bytes()?))),
                0x81 => Ok(u64::from_be_bytes(self.bytes()?)),
                _ => return self.corrupt(format!("unknown length encoding 0x{b:02x}")),
            },
            _ => Err(b & 0x3f),
        })
    }

    #[allow(clippy::len_without_is_empty)] // reads an RDB length; not a container
    pub fn len(&mut self) -> Result<u64> {
        match self.len_or_enc()? {
            Ok(n) => Ok(n),
            Err(_) => self.corrupt("string encoding where a length was expected"),
        }
    }

    /// A length used as an element count: bounded by what a file can hold.
    pub fn count(&mut self) -> Result<u64> {
        let n = self.len()?;
        if n > (1u64 << 40) {
            return self.corrupt(format!("implausible element count {n}"));
        }
        Ok(n)
    }

    /// A string (raw, integer-encoded or LZF-compressed).
    pub fn string(&mut self) -> Result<Vec<u8>> {
        match self.len_or_enc()? {
            Ok(n) => self.vec(n),
            Err(ENC_INT8) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Err(ENC_INT16) => Ok(i16::from_le_bytes(self.bytes()?).to_string().into_bytes()),
            Err(ENC_INT32) => Ok(i32::from_le_bytes(self.bytes()?).to_string().into_bytes()),
            Err(ENC_LZF) => {
                let clen = self.len()?;
                let len = self.len()?;
                // LZF expands at most ~88× (3 bytes → 264); refuse lies
                // before allocating for them.
                if len > clen.saturating_mul(100).saturating_add(64) {
                    return self.corrupt("LZF length inconsistent with compressed length");
                }
                let c = self.vec(clen)?;
                match lzf::decompress(&c, len as usize) {
                    Some(v) => Ok(v),
                    None => self.corrupt("invalid LZF data"),
                }
            }
            Err(e) => self.corrupt(format!("unknown string encoding {e}")),
        }
    }

    /// Old-style (type 3) score: length-prefixed decimal text.
    fn double_text(&mut self) -> Result<f64> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let b = self.vec(u64::from(n))?;
                match std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok()) {
                    Some(v) => Ok(v),
                    None => self.corrupt("invalid double"),
                }
            }
        }
    }

    fn double_bin(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.bytes()?))
    }

    fn ms_time(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    fn stream_id(&mut self) -> Result<StreamId> {
        let ms = self.len()?;
        let seq = self.len()?;
        Ok(StreamId::new(ms, seq))
    }

    fn raw_id(&mut self) -> Result<StreamId> {
        let b: [u8; 16] = self.bytes()?;
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        Ok(StreamId::new(
            u64::from_be_bytes(ms),
            u64::from_be_bytes(seq),
        ))
    }

    fn decode_lp(&self, b: &[u8]) -> Result<Vec<Elem>> {
        match listpack_decode(b) {
            Some(v) => Ok(v),
            None => self.corrupt("invalid listpack"),
        }
    }

    fn decode_zl(&self, b: &[u8]) -> Result<Vec<Elem>> {
        match ziplist_decode(b) {
            Some(v) => Ok(v),
            None => self.corrupt("invalid ziplist"),
        }
    }

    /// Read one object of type `t`.
    pub fn object(&mut self, t: u8, tun: &Tunables) -> Result<Value> {
        Ok(match t {
            T_STRING => Value::Str(Blob::from_vec(self.string()?)),
            T_LIST => {
                let n = self.count()?;
                let mut items = Vec::with_capacity((n as usize).min(PREALLOC_CAP));
                for _ in 0..n {
                    items.push(Blob::from_vec(self.string()?));
                }
                self.nonempty(n)?;
                Value::List(ListValue::from_items(items))
            }
            T_LIST_ZIPLIST => {
                let b = self.string()?;
                let items = self.decode_zl(&b)?;
                self.nonempty(items.len() as u64)?;
                Value::List(ListValue::from_items(
                    items.into_iter().map(|e| Blob::from_vec(e.into_bytes())),
                ))
            }
            T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    let container = if t == T_LIST_QUICKLIST_2 {
                        self.len()?
                    } else {
                        QL_PACKED
                    };
                    let b = self.string()?;
                    match container {
                        QL_PLAIN => items.push(Blob::from_vec(b)),
                        QL_PACKED => {
                            let els = if t == T_LIST_QUICKLIST_2 {
                                self.decode_lp(&b)?
                            } else {
                                self.decode_zl(&b)?
                            };
                            items.extend(els.into_iter().map(|e| Blob::from_vec(e.into_bytes())));
                        }
                        _ => return self.corrupt("unknown quicklist container"),
                    }
                }
                self.nonempty(items.len() as u64)?;
                Value::List(ListValue::from_items(items))
            }
            T_SET => {
                let n = self.count()?;
                let mut members = Vec::with_capacity((n as usize).min(PREALLOC_CAP));
                for _ in 0..n {
                    members.push(self.string()?);
                }
                self.nonempty(n)?;
                Value::Set(SetValue::from_members(
                    members.iter().map(|m| m.as_slice()),
                    tun,
                ))
            }
            T_SET_INTSET => {
                let b = self.string()?;
                let Some(v) = intset_decode(&b) else {
                    return self.corrupt("invalid intset");
                };
                self.nonempty(v.len() as u64)?;
                let members: Vec<Vec<u8>> = v.iter().map(|n| n.to_string().into_bytes()).collect();
                Value::Set(SetValue::from_members(
                    members.iter().map(|m| m.as_slice()),
                    tun,
                ))
            }
            T_SET_LISTPACK => {
                let b = self.string()?;
                let els = self.decode_lp(&b)?;
                self.nonempty(els.len() as u64)?;
                let members: Vec<Vec<u8>> = els.into_iter().map(Elem::into_bytes).collect();
                Value::Set(SetValue::from_members(
                    members.iter().map(|m| m.as_slice()),
                    tun,
                ))
            }
            T_ZSET | T_ZSET_2 => {
                let n = self.count()?;
                let mut entries = Vec::with_capacity((n as usize).min(PREALLOC_CAP));
                for _ in 0..n {
                    let m = self.string()?;
                    let s = if t == T_ZSET_2 {
                        self.double_bin()?
                    } else {
                        self.double_text()?
                    };
                    entries.push((s, Blob::from_vec(m)));
                }
                self.zset(entries, tun)?
            }
            T_ZSET_ZIPLIST | T_ZSET_LISTPACK => {
                let b = self.string()?;
                let els = if t == T_ZSET_LISTPACK {
                    self.decode_lp(&b)?
                } else {
                    self.decode_zl(&b)?
                };
                if els.len() % 2 != 0 {
                    return self.corrupt("odd number of sorted set elements");
                }
                let mut entries = Vec::with_capacity(els.len() / 2);
                let mut it = els.into_iter();
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    let score = match s {
                        Elem::Int(n) => n as f64,
                        Elem::Str(b) => {
                            match std::str::from_utf8(&b).ok().and_then(|x| x.parse().ok()) {
                                Some(v) => v,
                                None => return self.corrupt("invalid sorted set score"),
                            }
                        }
                    };
                    entries.push((score, Blob::from_vec(m.into_bytes())));
                }
                self.zset(entries, tun)?
            }
            T_HASH => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity((n as usize).min(PREALLOC_CAP));
                for _ in 0..n {
                    let f = self.string()?;
                    let v = self.string()?;
                    pairs.push((f, v));
                }
                self.hash(pairs, tun)?
            }
            T_HASH_ZIPMAP => {
                let b = self.string()?;
                let Some(pairs) = zipmap_decode(&b) else {
                    return self.corrupt("invalid zipmap");
                };
                self.hash(pairs, tun)?
            }
            T_HASH_ZIPLIST | T_HASH_LISTPACK => {
                let b = self.string()?;
                let els = if t == T_HASH_LISTPACK {
                    self.decode_lp(&b)?
                } else {
                    self.decode_zl(&b)?
                };
                if els.len() % 2 != 0 {
                    return self.corrupt("odd number of hash elements");
                }
                let mut pairs = Vec::with_capacity(els.len() / 2);
                let mut it = els.into_iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    pairs.push((f.into_bytes(), v.into_bytes()));
                }
                self.hash(pairs, tun)?
            }
            T_HASH_METADATA | T_HASH_METADATA_PRE_GA => {
                // Redis 7.4 hashes with field TTLs. The engine has no field
                // expiry: fields already expired are dropped, the others
                // are kept without their TTL (documented limitation).
                let min_expire = if t == T_HASH_METADATA {
                    Some(self.ms_time()?)
                } else {
                    None
                };
                let now = ferrocache_engine::clock::now_ms();
                let n = self.count()?;
                let mut pairs = Vec::with_capacity((n as usize).min(PREALLOC_CAP));
                for _ in 0..n {
                    let ttl = self.len()?;
                    let f = self.string()?;
                    let v = self.string()?;
                    let at = match (ttl, min_expire) {
                        (0, _) => None,
                        (x, Some(base)) => Some(x.saturating_add(base).saturating_sub(1)),
                        (x, None) => Some(x),
                    };
                    if at.is_none_or(|a| a > now) {
                        pairs.push((f, v));
                    }
                }
                if pairs.is_empty() {
                    return Ok(Value::Hash(HashValue::new()));
                }
                self.hash(pairs, tun)?
            }
            T_HASH_LISTPACK_EX | T_HASH_LISTPACK_EX_PRE_GA => {
                if t == T_HASH_LISTPACK_EX {
                    self.ms_time()?;
                }
                let b = self.string()?;
                let els = self.decode_lp(&b)?;
                if els.len() % 3 != 0 {
                    return self.corrupt("listpack-ex hash is not made of triplets");
                }
                let now = ferrocache_engine::clock::now_ms() as i64;
                let mut pairs = Vec::with_capacity(els.len() / 3);
                let mut it = els.into_iter();
                while let (Some(f), Some(v), Some(ttl)) = (it.next(), it.next(), it.next()) {
                    let at = ttl.as_int().unwrap_or(0);
                    if at == 0 || at > now {
                        pairs.push((f.into_bytes(), v.into_bytes()));
                    }
                }
                if pairs.is_empty() {
                    return Ok(Value::Hash(HashValue::new()));
                }
                self.hash(pairs, tun)?
            }
            T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 | T_STREAM_LISTPACKS_3 => {
                Value::Stream(Box::new(self.stream(t)?))
            }
            T_MODULE_PRE_GA | T_MODULE_2 => {
                return self
                    .corrupt("module data type found: ferrocache does not support Redis modules")
            }
            _ => return self.corrupt(format!("unknown object type {t}")),
        })
    }

    fn nonempty(&self, n: u64) -> Result<()> {
        if n == 0 {
            return self.corrupt("empty collection");
        }
        Ok(())
    }

    fn zset(&self, entries: Vec<(f64, Blob)>, tun: &Tunables) -> Result<Value> {
        self.nonempty(entries.len() as u64)?;
        if entries.iter().any(|e| e.0.is_nan()) {
            return self.corrupt("sorted set score is NaN");
        }
        let mut names: Vec<&[u8]> = entries.iter().map(|e| e.1.as_slice()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return self.corrupt("duplicate sorted set member");
        }
        Ok(Value::ZSet(ZSetValue::from_entries(
            entries,
            ZLimits::from_tunables(tun),
        )))
    }

    fn hash(&self, pairs: Vec<(Vec<u8>, Vec<u8>)>, tun: &Tunables) -> Result<Value> {
        self.nonempty(pairs.len() as u64)?;
        let h = HashValue::from_pairs(pairs.iter().map(|(f, v)| (f.as_slice(), v.as_slice())), tun);
        if h.len() != pairs.len() {
            return self.corrupt("duplicate hash field");
        }
        Ok(Value::Hash(h))
    }

    fn stream(&mut self, t: u8) -> Result<StreamValue> {
        let mut s = StreamValue::new();
        let nodes = self.count()?;
        let mut prev: Option<StreamId> = None;
        for _ in 0..nodes {
            let key = self.string()?;
            let Ok(kb) = <[u8; 16]>::try_from(key.as_slice()) else {
                return self.corrupt("stream node key is not 16 bytes");
            };
            let master = StreamId::new(
                u64::from_be_bytes(kb[..8].try_into().unwrap_or_default()),
                u64::from_be_bytes(kb[8..].try_into().unwrap_or_default()),
            );
            let lp = self.string()?;
            let els = self.decode_lp(&lp)?;
            if els.is_empty() {
                return self.corrupt("empty stream listpack");
            }
            self.stream_node(&mut s, master, els, &mut prev)?;
        }
        let length = self.len()?;
        let last = self.stream_id()?;
        let (first, max_del, added) = if t >= T_STREAM_LISTPACKS_2 {
            let f = self.stream_id()?;
            let m = self.stream_id()?;
            let a = self.len()?;
            (Some(f), m, a)
        } else {
            (None, StreamId::MIN, length)
        };
        if length != s.len() as u64 {
            return self.corrupt("stream length does not match its entries");
        }
        s.last_id = last;
        s.first_id = first.unwrap_or_else(|| s.first_entry().map(|e| e.0).unwrap_or_default());
        s.max_deleted_id = max_del;
        s.entries_added = added;
        let groups = self.count()?;
        for _ in 0..groups {
            let name = self.string()?;
            let last_id = self.stream_id()?;
            let entries_read = if t >= T_STREAM_LISTPACKS_2 {
                let v = self.len()?;
                (v != u64::MAX).then_some(v)
            } else {
                None
            };
            let mut g = ConsumerGroup::new(last_id, entries_read);
            let npel = self.count()?;
            for _ in 0..npel {
                let id = self.raw_id()?;
                let delivery_time = self.ms_time()?;
                let delivery_count = self.len()?;
                g.pel.insert(
                    id,
                    PendingEntry {
                        delivery_time,
                        delivery_count,
                        consumer: Blob::default(),
                    },
                );
            }
            let nconsumers = self.count()?;
            for _ in 0..nconsumers {
                let cname = self.string()?;
                let seen_time = self.ms_time()?;
                if t >= T_STREAM_LISTPACKS_3 {
                    self.ms_time()?; // active time: not tracked by the engine
                }
                let mut c = Consumer {
                    seen_time,
                    pel: Default::default(),
                };
                let n = self.count()?;
                for _ in 0..n {
                    let id = self.raw_id()?;
                    match g.pel.get_mut(&id) {
                        Some(p) => {
                            p.consumer = Blob::new(&cname);
                            c.pel.insert(id);
                        }
                        None => return self.corrupt("consumer PEL entry missing from group PEL"),
                    }
                }
                g.consumers.insert(Blob::from_vec(cname), c);
            }
            if g.pel.values().any(|p| p.consumer.is_empty()) {
                return self.corrupt("group PEL entry without an owner");
            }
            s.groups.insert(Blob::from_vec(name), g);
        }
        Ok(s)
    }

    /// Decode one stream listpack node (Redis `t_stream.c` layout).
    fn stream_node(
        &self,
        s: &mut StreamValue,
        master: StreamId,
        els: Vec<Elem>,
        prev: &mut Option<StreamId>,
    ) -> Result<()> {
        let mut it = els.into_iter();
        let int = |it: &mut std::vec::IntoIter<Elem>| -> Result<i64> {
            match it.next().and_then(|e| e.as_int()) {
                Some(v) => Ok(v),
                None => self.corrupt("malformed stream listpack"),
            }
        };
        let count = int(&mut it)?;
        let deleted = int(&mut it)?;
        let nmaster = int(&mut it)?;
        if count < 0 || deleted < 0 || !(0..=1 << 20).contains(&nmaster) {
            return self.corrupt("malformed stream master entry");
        }
        let mut master_fields = Vec::with_capacity(nmaster as usize);
        for _ in 0..nmaster {
            match it.next() {
                Some(e) => master_fields.push(Blob::from_vec(e.into_bytes())),
                None => return self.corrupt("malformed stream master fields"),
            }
        }
        if int(&mut it)? != 0 {
            return self.corrupt("missing stream master terminator");
        }
        let total = count + deleted;
        for _ in 0..total {
            let flags = int(&mut it)?;
            let ms = master.ms.wrapping_add(int(&mut it)? as u64);
            let seq = master.seq.wrapping_add(int(&mut it)? as u64);
            let id = StreamId::new(ms, seq);
            let fields: Box<[Blob]> = if flags & STREAM_SAMEFIELDS != 0 {
                let mut f = Vec::with_capacity(master_fields.len() * 2);
                for mf in &master_fields {
                    match it.next() {
                        Some(v) => {
                            f.push(mf.clone());
                            f.push(Blob::from_vec(v.into_bytes()));
                        }
                        None => return self.corrupt("truncated stream entry"),
                    }
                }
                f.into_boxed_slice()
            } else {
                let n = int(&mut it)?;
                if !(0..=1 << 20).contains(&n) {
                    return self.corrupt("bad stream entry field count");
                }
                let mut f = Vec::with_capacity(n as usize * 2);
                for _ in 0..n * 2 {
                    match it.next() {
                        Some(v) => f.push(Blob::from_vec(v.into_bytes())),
                        None => return self.corrupt("truncated stream entry"),
                    }
                }
                f.into_boxed_slice()
            };
            int(&mut it)?; // lp-count
            if flags & STREAM_DELETED != 0 {
                continue;
            }
            if prev.is_some_and(|p| p >= id) {
                return self.corrupt("stream IDs not increasing");
            }
            *prev = Some(id);
            s.append(id, fields, 0);
        }
        if it.next().is_some() {
            return self.corrupt("trailing data in stream listpack");
        }
        Ok(())
    }
}

/// Read a whole snapshot, handing each item to `sink` in file order.
/// `verify_checksum` is `rdbchecksum`: a stored checksum of 0 means the
/// writer had it off and is never checked.
pub fn read_rdb<R: Read>(
    input: R,
    tun: &Tunables,
    verify_checksum: bool,
    mut sink: impl FnMut(Item) -> Result<()>,
) -> Result<LoadSummary> {
    let mut r = Reader::new(input, true);
    let magic: [u8; 9] = r.bytes()?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError::Corrupt {
            offset: 0,
            msg: "not an RDB file (bad magic)".into(),
        });
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(RdbError::Corrupt {
            offset: 5,
            msg: format!(
                "unsupported RDB version {:?}",
                String::from_utf8_lossy(&magic[5..])
            ),
        });
    }
    r.version = version;
    let mut summary = LoadSummary {
        version,
        ..Default::default()
    };
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    let mut idle: Option<u64> = None;
    let mut freq: Option<u8> = None;
    loop {
        let t = r.u8()?;
        match t {
            OP_EXPIRETIME => {
                expire = Some(u64::from(u32::from_le_bytes(r.bytes()?)) * 1000);
            }
            OP_EXPIRETIME_MS => expire = Some(r.ms_time()?),
            OP_IDLE => idle = Some(r.len()?),
            OP_FREQ => freq = Some(r.u8()?),
            OP_SELECTDB => {
                let n = r.len()?;
                db = match usize::try_from(n) {
                    Ok(n) if n < 1 << 20 => n,
                    _ => return r.corrupt(format!("bad database number {n}")),
                };
            }
            OP_RESIZEDB => {
                r.len()?;
                r.len()?;
            }
            OP_SLOT_INFO => {
                r.len()?;
                r.len()?;
                r.len()?;
            }
            OP_AUX => {
                let k = r.string()?;
                let v = r.string()?;
                sink(Item::Aux(k, v))?;
            }
            OP_MODULE_AUX => {
                return r.corrupt(
                    "module auxiliary data found: ferrocache does not support Redis modules",
                )
            }
            OP_FUNCTION_PRE_GA => {
                return r.corrupt("pre-release (7.0 rc) function format is not supported")
            }
            OP_FUNCTION2 => {
                let code = r.string()?;
                summary.functions += 1;
                sink(Item::Function(code))?;
            }
            OP_EOF => break,
            _ => {
                let key = r.string()?;
                let value = r.object(t, tun)?;
                summary.keys += 1;
                // Hashes whose every field had expired load as nothing.
                let empty_hash = matches!(&value, Value::Hash(h) if h.is_empty());
                if !empty_hash {
                    sink(Item::Key(LoadedKey {
                        db,
                        key,
                        value,
                        expire_ms: expire,
                        idle_secs: idle,
                        freq,
                    }))?;
                }
                expire = None;
                idle = None;
                freq = None;
            }
        }
    }
    let computed = r.crc;
    if version >= 5 {
        r.track_crc = false;
        let at = r.offset();
        let stored = u64::from_le_bytes(r.bytes()?);
        if stored != 0 && verify_checksum {
            if stored != computed {
                return Err(RdbError::Checksum {
                    offset: at,
                    stored,
                    computed,
                });
            }
            summary.checksum_verified = true;
        }
    }
    summary.bytes = r.offset();
    Ok(summary)
}

/// Check a DUMP payload's footer: returns the object bytes and RDB version.
pub fn verify_dump_payload(p: &[u8], max_version: u32) -> Option<(&[u8], u16)> {
    if p.len() < 10 {
        return None;
    }
    let (body, crc) = p.split_at(p.len() - 8);
    let mut c = [0u8; 8];
    c.copy_from_slice(crc);
    if crc64(0, body) != u64::from_le_bytes(c) {
        return None;
    }
    let (obj, ver) = body.split_at(body.len() - 2);
    let v = u16::from_le_bytes([ver[0], ver[1]]);
    (u32::from(v) <= max_version).then_some((obj, v))
}

/// Decode a DUMP payload's object (type byte + serialized value).
pub fn read_dump_object(obj: &[u8], tun: &Tunables) -> Result<Value> {
    let mut r = Reader::new(obj, false);
    let t = r.u8()?;
    let v = r.object(t, tun)?;
    if r.offset() != obj.len() as u64 {
        return r.corrupt("trailing bytes after object");
    }
    if matches!(&v, Value::Hash(h) if h.is_empty()) {
        return r.corrupt("empty hash");
    }
    Ok(v)
}
