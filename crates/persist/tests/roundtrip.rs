//! In-process round trips and hostile-input tests of the RDB reader and
//! writer: every type and encoding, every truncation offset, bit flips,
//! random garbage. The reader must return an error, never panic.

use ferrocache_engine::keyspace::Tunables;
use ferrocache_engine::types::hash::HashValue;
use ferrocache_engine::types::list::ListValue;
use ferrocache_engine::types::set::SetValue;
use ferrocache_engine::types::stream::{ConsumerGroup, PendingEntry, StreamId, StreamValue};
use ferrocache_engine::types::zset::{ZLimits, ZSetValue};
use ferrocache_engine::{Blob, Keyspace, Shard, Value};
use ferrocache_persist::{dump_payload, read_rdb, write_rdb, Item, RdbError, SaveOptions};
use std::collections::BTreeMap;
use std::sync::Arc;

fn dataset() -> Keyspace {
    let t = Arc::new(Tunables::default());
    let ks = Keyspace::new(3, 16, t.clone());
    let now = ferrocache_engine::clock::now_ms();
    let mut l = ks.lock_all(now);
    let mut put = |db: usize, k: &str, v: Value, ttl: Option<u64>| {
        let d = l.db(db, k.as_bytes());
        d.set(k.as_bytes(), v);
        if let Some(ms) = ttl {
            d.set_expire(k.as_bytes(), now + ms);
        }
    };
    put(0, "s", Value::Str(Blob::new(b"hello")), None);
    put(0, "int", Value::Str(Blob::new(b"-123456")), Some(100_000));
    put(0, "bigint", Value::Str(Blob::new(b"12345678901234")), None);
    put(
        0,
        "bin",
        Value::Str(Blob::new(&[0, 1, 2, 255, 254, b'\r', b'\n'])),
        None,
    );
    put(
        0,
        "lzf",
        Value::Str(Blob::from_vec(b"abc".repeat(500))),
        None,
    );
    put(
        0,
        "list",
        Value::List(ListValue::from_items(
            (0..2000).map(|i| Blob::from_vec(format!("e{i}").into_bytes())),
        )),
        None,
    );
    put(
        0,
        "nums",
        Value::List(ListValue::from_items(
            [b"1".as_slice(), b"-70000", b"9223372036854775807", b"x"]
                .iter()
                .map(|b| Blob::new(b)),
        )),
        None,
    );
    put(
        1,
        "iset",
        Value::Set(SetValue::from_members(
            [b"1".as_slice(), b"-5", b"100000"],
            &t,
        )),
        None,
    );
    let members: Vec<Vec<u8>> = (0..700).map(|i| format!("m{i}").into_bytes()).collect();
    put(
        1,
        "set",
        Value::Set(SetValue::from_members(
            members.iter().map(|m| m.as_slice()),
            &t,
        )),
        Some(5_000_000),
    );
    put(
        1,
        "zs",
        Value::ZSet(ZSetValue::from_entries(
            vec![
                (1.5, Blob::new(b"a")),
                (f64::NEG_INFINITY, Blob::new(b"b")),
                (-0.0, Blob::new(b"c")),
                (1e300, Blob::new(b"d")),
            ],
            ZLimits::default(),
        )),
        None,
    );
    put(
        1,
        "zbig",
        Value::ZSet(ZSetValue::from_entries(
            (0..500)
                .map(|i| (i as f64 / 3.0, Blob::from_vec(format!("z{i}").into_bytes())))
                .collect(),
            ZLimits::default(),
        )),
        None,
    );
    put(
        2,
        "h",
        Value::Hash(HashValue::from_pairs(
            [(b"f".as_slice(), b"1".as_slice()), (b"g", b"two")],
            &t,
        )),
        None,
    );
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..1000)
        .map(|i| {
            (
                format!("f{i}").into_bytes(),
                "v".repeat(i % 90).into_bytes(),
            )
        })
        .collect();
    put(
        2,
        "hbig",
        Value::Hash(HashValue::from_pairs(
            pairs.iter().map(|(a, b)| (a.as_slice(), b.as_slice())),
            &t,
        )),
        None,
    );
    let mut s = StreamValue::new();
    for i in 1..=250u64 {
        let fields: Vec<Blob> = if i % 7 == 0 {
            vec![Blob::new(b"other"), Blob::from_i64(i as i64)]
        } else {
            vec![
                Blob::new(b"f"),
                Blob::from_i64(i as i64),
                Blob::new(b"g"),
                Blob::new(b"x"),
            ]
        };
        s.append(
            StreamId::new(1000 + i / 3, i % 3),
            fields.into_boxed_slice(),
            100,
        );
    }
    let mut g = ConsumerGroup::new(StreamId::new(1010, 0), Some(30));
    g.create_consumer(b"alice", now);
    g.pel.insert(
        StreamId::new(1001, 1),
        PendingEntry {
            delivery_time: now - 5,
            delivery_count: 3,
            consumer: Blob::new(b"alice"),
        },
    );
    if let Some(c) = g.consumers.get_mut(b"alice".as_slice()) {
        c.pel.insert(StreamId::new(1001, 1));
    }
    s.groups.insert(Blob::new(b"grp"), g);
    s.groups
        .insert(Blob::new(b"empty"), ConsumerGroup::new(StreamId::MIN, None));
    put(5, "stream", Value::Stream(Box::new(s)), None);
    drop(l);
    ks
}

fn save(ks: &Keyspace, opts: &SaveOptions) -> Vec<u8> {
    let mut l = ks.lock_all(0);
    let shards: Vec<&Shard> = l.shards().map(|(_, s)| &*s).collect();
    let mut out = Vec::new();
    write_rdb(&mut out, &shards, opts).expect("write");
    out
}

/// Every key as (db, key) → (DUMP payload, expiry).
type Contents = BTreeMap<(usize, Vec<u8>), (Vec<u8>, Option<u64>)>;

fn load(bytes: &[u8], verify: bool) -> Result<Contents, RdbError> {
    let t = Tunables::default();
    let mut m = BTreeMap::new();
    read_rdb(bytes, &t, verify, |i| {
        if let Item::Key(k) = i {
            m.insert(
                (k.db, k.key),
                (dump_payload(&k.value, 10, false), k.expire_ms),
            );
        }
        Ok(())
    })?;
    Ok(m)
}

#[test]
fn round_trip_every_type() {
    let ks = dataset();
    for (version, compress) in [(10, true), (10, false), (11, true)] {
        let opts = SaveOptions {
            version,
            compress,
            ..Default::default()
        };
        let a = save(&ks, &opts);
        let m = load(&a, true).expect("loads");
        assert_eq!(m.len(), 14);
        // Saving what was loaded gives the same contents.
        let t = Arc::new(Tunables::default());
        let ks2 = Keyspace::new(2, 16, t);
        {
            let mut l = ks2.lock_all(0);
            read_rdb(a.as_slice(), &Tunables::default(), true, |i| {
                if let Item::Key(k) = i {
                    let e = ferrocache_engine::Entry::new(k.value);
                    l.db(k.db, &k.key).insert_entry(&k.key, e, k.expire_ms);
                }
                Ok(())
            })
            .expect("load");
        }
        let b = save(&ks2, &opts);
        assert_eq!(load(&b, true).expect("reloads"), m);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let ks = dataset();
    let a = save(&ks, &SaveOptions::default());
    for cut in (0..a.len()).filter(|c| *c < 4096 || c % 5 == 0) {
        let e = load(&a[..cut], true).expect_err("truncated must fail");
        assert!(
            e.offset() <= cut as u64,
            "offset {} past cut {cut}",
            e.offset()
        );
    }
}

#[test]
fn bit_flips_are_errors_or_checksum_failures() {
    let ks = dataset();
    let a = save(&ks, &SaveOptions::default());
    let mut x = 0x1234_5678_9abc_def1u64;
    for _ in 0..4000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = (x % a.len() as u64) as usize;
        let mut b = a.clone();
        b[at] ^= 1 << (x >> 60 & 7);
        // With the checksum every flip is caught…
        assert!(load(&b, true).is_err(), "flip at {at} not detected");
        // …and without it the reader still never panics.
        let _ = load(&b, false);
    }
}

#[test]
fn garbage_never_panics() {
    let mut x = 99u64;
    for n in 0..3000usize {
        let mut v = b"REDIS0010".to_vec();
        for _ in 0..(n % 200) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        let _ = load(&v, false);
    }
}

#[test]
fn version_11_is_written_on_request() {
    let ks = dataset();
    for version in [10u32, 11] {
        let opts = SaveOptions {
            version,
            ..Default::default()
        };
        let a = save(&ks, &opts);
        assert_eq!(&a[..9], format!("REDIS{version:04}").as_bytes());
        let s = read_rdb(a.as_slice(), &Tunables::default(), true, |_| Ok(())).expect("loads");
        assert_eq!(s.version, version);
        // Streams use the type of their version (19 in v10, 21 in v11).
        let stream_type = if version >= 11 { 21u8 } else { 19 };
        let mut found = false;
        let needle = [&[stream_type, 6][..], b"stream"].concat();
        if a.windows(needle.len()).any(|w| w == needle.as_slice()) {
            found = true;
        }
        assert!(found, "v{version}: stream type {stream_type}");
        // DUMP payloads carry the version in their footer.
        let p = dump_payload(&Value::Str(Blob::new(b"x")), version, false);
        assert_eq!(
            &p[p.len() - 10..p.len() - 8],
            &(version as u16).to_le_bytes()
        );
    }
}

/// Keys with known access fields, saved under each policy: IDLE under
/// LRU, FREQ under LFU, neither otherwise (Redis `rdbSaveKeyValuePair`).
#[test]
fn idle_and_freq_opcodes() {
    use ferrocache_engine::keyspace::{lru_ticks_at, EvictionPolicy};
    use ferrocache_persist::AccessInfo;
    let now = ferrocache_engine::clock::now_ms();
    let t = Arc::new(Tunables::default());
    let ks = Keyspace::new(1, 1, t.clone());
    {
        let mut l = ks.lock_all(now);
        let d = l.db(0, b"a");
        // LRU view: idle 1000 s; LFU view: counter 77, touched now.
        let mut e = ferrocache_engine::Entry::new(Value::Str(Blob::new(b"v")));
        e.set_access(lru_ticks_at(now - 1_000_000));
        d.insert_entry(b"lru", e, Some(now + 100_000));
        let mut e = ferrocache_engine::Entry::new(Value::Str(Blob::new(b"v")));
        e.set_access((((now / 60_000) & 0xffff) as u32) << 8 | 77);
        d.insert_entry(b"lfu", e, None);
    }
    let read = |bytes: &[u8]| {
        let mut m = BTreeMap::new();
        read_rdb(bytes, &Tunables::default(), true, |i| {
            if let Item::Key(k) = i {
                m.insert(k.key, (k.idle_secs, k.freq, k.expire_ms.is_some()));
            }
            Ok(())
        })
        .expect("loads");
        m
    };
    t.set_policy(EvictionPolicy::AllkeysLru);
    let a = save(
        &ks,
        &SaveOptions {
            access: AccessInfo::Lru(t.clone()),
            ..Default::default()
        },
    );
    let m = read(&a);
    let (idle, freq, exp) = m[b"lru".as_slice()];
    assert!(exp && freq.is_none());
    assert!((1000..=1002).contains(&idle.expect("idle")), "{idle:?}");
    t.set_policy(EvictionPolicy::AllkeysLfu);
    t.lfu_decay_time
        .store(0, std::sync::atomic::Ordering::Relaxed);
    let a = save(
        &ks,
        &SaveOptions {
            access: AccessInfo::Lfu(t.clone()),
            ..Default::default()
        },
    );
    let m = read(&a);
    assert_eq!(m[b"lfu".as_slice()], (None, Some(77), false));
    let a = save(&ks, &SaveOptions::default());
    let m = read(&a);
    assert_eq!(m[b"lfu".as_slice()], (None, None, false));
    assert_eq!(m[b"lru".as_slice()], (None, None, true));
}

/// `rdb-key-save-delay` and the progress callback.
#[test]
fn progress_is_reported() {
    let ks = dataset();
    let mut l = ks.lock_all(0);
    let shards: Vec<&Shard> = l.shards().map(|(_, s)| &*s).collect();
    let mut calls = Vec::new();
    let opts = SaveOptions {
        key_save_delay: -1000,
        ..Default::default()
    };
    let s = ferrocache_persist::write_rdb_progress(std::io::sink(), &shards, &opts, &mut |n| {
        calls.push(n)
    })
    .expect("write");
    assert_eq!(calls.last().copied(), Some(s.keys));
    assert_eq!(s.keys, 14);
}
