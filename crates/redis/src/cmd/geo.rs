//! Geospatial commands, following Redis 7.0's `geo.c`.
//!
//! A geo index is an ordinary sorted set whose scores are 52-bit geohashes
//! (see [`ferrocache_engine::types::geo`] for the maths). GEOADD is ZADD
//! with computed scores; searches scan the score ranges of up to 9 geohash
//! cells around the centre and keep the members inside the shape.
//!
//! Replies must be byte-identical to redis-server's, including the order of
//! members at equal distance. Redis sorts with glibc's `qsort` (a stable
//! top-down merge sort in the glibc this targets) when all results are
//! returned and with its own partial quicksort `pqsort` (not stable) when
//! COUNT cuts the result short; both are reproduced here comparison for
//! comparison, so ties come out in the same order.

use crate::args::{self, eq};
use crate::ctx::Ctx;
use crate::error::{err, err_arg, CmdError, CmdResult, NOT_FLOAT, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::types::geo::{self, Shape, ShapeKind};
use ferrocache_engine::types::zset::{ZLimits, ZSetValue};
use ferrocache_engine::{Blob, Db, Value, WrongType};
use ferrocache_protocol::ReplyWriter;

const G: &str = "geo";
const RADIUS_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.";
const SEARCH_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), geoadd)
        .acl(acl::GEO)
        .doc(G, "3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set", "O(log(N)) for each item added, where N is the number of elements in the sorted set."),
    CommandSpec::new("geodist", -4, READONLY, (1, 1, 1), geodist)
        .acl(acl::GEO)
        .doc(G, "3.2.0", "Returns the distance between two members of a geospatial index", "O(log(N))"),
    CommandSpec::new("geohash", -2, READONLY, (1, 1, 1), geohash)
        .acl(acl::GEO)
        .doc(G, "3.2.0", "Returns members of a geospatial index as standard geohash strings", "O(log(N)) for each member requested, where N is the number of elements in the sorted set."),
    CommandSpec::new("geopos", -2, READONLY, (1, 1, 1), geopos)
        .acl(acl::GEO)
        .doc(G, "3.2.0", "Returns longitude and latitude of members of a geospatial index", "O(N) where N is the number of members requested."),
    CommandSpec::new("georadius", -6, WRITE | DENYOOM, (1, 1, 1), georadius)
        .keys_fn(keys_georadius)
        .acl(acl::GEO)
        .doc(G, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", RADIUS_COMPLEXITY),
    CommandSpec::new("georadius_ro", -6, READONLY, (1, 1, 1), georadius_ro)
        .acl(acl::GEO)
        .doc(G, "3.2.10", "A read-only variant for GEORADIUS", RADIUS_COMPLEXITY),
    CommandSpec::new("georadiusbymember", -5, WRITE | DENYOOM, (1, 1, 1), georadiusbymember)
        .keys_fn(keys_georadiusbymember)
        .acl(acl::GEO)
        .doc(G, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", RADIUS_COMPLEXITY),
    CommandSpec::new("georadiusbymember_ro", -5, READONLY, (1, 1, 1), georadiusbymember_ro)
        .acl(acl::GEO)
        .doc(G, "3.2.10", "A read-only variant for GEORADIUSBYMEMBER", RADIUS_COMPLEXITY),
    CommandSpec::new("geosearch", -7, READONLY, (1, 1, 1), geosearch)
        .acl(acl::GEO)
        .doc(G, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", SEARCH_COMPLEXITY),
    CommandSpec::new("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), geosearchstore)
        .acl(acl::GEO)
        .doc(G, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", SEARCH_COMPLEXITY),
];

// ---------------------------------------------------------------------------
// Key finders
// ---------------------------------------------------------------------------

/// GEORADIUS keys: the source, then the key after the first `STORE` and the
/// key after the first `STOREDIST` at or after `start` (Redis 7.0's keyword
/// key specs, so COMMAND GETKEYS agrees), then any later STORE/STOREDIST
/// key: the handler uses the *last* one given, and every key a handler
/// touches must be locked up front.
fn store_keys(argv: &[&[u8]], start: usize) -> Vec<usize> {
    let mut keys = vec![1];
    let argc = argv.len();
    for kw in ["store", "storedist"] {
        // The keyword search stops before the last argument.
        if let Some(i) = (start..argc.saturating_sub(1)).find(|&i| eq(argv[i], kw)) {
            keys.push(i + 1);
        }
    }
    let mut i = start;
    while i + 1 < argc {
        if eq(argv[i], "store") || eq(argv[i], "storedist") {
            if !keys.contains(&(i + 1)) {
                keys.push(i + 1);
            }
            i += 1;
        }
        i += 1;
    }
    keys
}

fn keys_georadius(argv: &[&[u8]]) -> Vec<usize> {
    store_keys(argv, 6)
}

fn keys_georadiusbymember(argv: &[&[u8]]) -> Vec<usize> {
    store_keys(argv, 5)
}

// ---------------------------------------------------------------------------
// Argument helpers
// ---------------------------------------------------------------------------

/// `getDoubleFromObjectOrReply` with a custom message.
fn double_arg(arg: &[u8], msg: &'static str) -> Result<f64, CmdError> {
    args::parse_f64(arg).ok_or_else(|| CmdError::msg(msg))
}

/// `extractLongLatOrReply`: both numbers are parsed before the range check.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let x = double_arg(lon, NOT_FLOAT)?;
    let y = double_arg(lat, NOT_FLOAT)?;
    if !(geo::LONG_MIN..=geo::LONG_MAX).contains(&x) || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&y)
    {
        return Err(CmdError::msg(format!(
            "ERR invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

/// `extractUnitOrReply`: meters per unit.
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    if eq(arg, "m") {
        Ok(1.0)
    } else if eq(arg, "km") {
        Ok(1000.0)
    } else if eq(arg, "ft") {
        Ok(0.3048)
    } else if eq(arg, "mi") {
        Ok(1609.34)
    } else {
        err("ERR unsupported unit provided. please use M, KM, FT, MI")
    }
}

/// `extractDistanceOrReply`: `<radius> <unit>` → (radius, meters per unit).
fn radius_arg(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let d = double_arg(r, "ERR need numeric radius")?;
    if d < 0.0 {
        return err("ERR radius cannot be negative");
    }
    Ok((d, unit(u)?))
}

/// `extractBoxOrReply`: `<width> <height> <unit>`.
fn box_arg(w: &[u8], h: &[u8], u: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = double_arg(w, "ERR need numeric width")?;
    let h = double_arg(h, "ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return err("ERR height or width cannot be negative");
    }
    Ok((w, h, unit(u)?))
}

/// The sorted set at `key` for reading (lazy expiry, hit/miss stats).
fn zread<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a ZSetValue>, WrongType> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(WrongType),
        },
    }
}

/// The sorted set at `key` after it was looked up once: no second hit/miss
/// count, as Redis keeps the object pointer.
fn zpeek<'a>(db: &'a Db, key: &[u8]) -> Option<&'a ZSetValue> {
    match db.peek(key).map(|e| &e.value) {
        Some(Value::ZSet(z)) => Some(z),
        _ => None,
    }
}

/// Format into a stack buffer (these run once per returned member), with
/// a heap fallback that cannot be needed for the values formatted here.
fn with_formatted(args: std::fmt::Arguments<'_>, f: impl FnOnce(&[u8])) {
    use std::io::Write;
    let mut buf = [0u8; 128];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    if cur.write_fmt(args).is_ok() {
        let n = cur.position() as usize;
        f(buf.get(..n).unwrap_or(&[]));
    } else {
        f(std::fmt::format(args).as_bytes());
    }
}

/// C's spelling of a NaN in `%f`: the sign bit shows (`-nan` for the
/// default NaN an invalid operation such as `asin(1.0000000000000002)`
/// produces on x86).
fn c_nan(d: f64) -> &'static [u8] {
    if d.is_sign_negative() {
        b"-nan"
    } else {
        b"nan"
    }
}

/// `%.4f`, as `addReplyDoubleDistance` (a bulk string in RESP3 too).
fn reply_distance(out: &mut ReplyWriter, d: f64) {
    if d.is_nan() {
        out.bulk(c_nan(d));
        return;
    }
    with_formatted(format_args!("{d:.4}"), |b| out.bulk(b));
}

/// `ld2string(LD_STR_HUMAN)`: `%.17Lf` with trailing zeros (and a trailing
/// dot) removed, `-0` printed as `0`. The double widens to a long double
/// exactly, so printing the double's exact expansion is the same.
fn human_double(d: f64, f: impl FnOnce(&[u8])) {
    if d.is_infinite() {
        return f(if d > 0.0 { b"inf" } else { b"-inf" });
    }
    if d.is_nan() {
        return f(c_nan(d));
    }
    with_formatted(format_args!("{d:.17}"), |s| {
        let mut s = s;
        if s.contains(&b'.') {
            while let [rest @ .., b'0'] = s {
                s = rest;
            }
            if let [rest @ .., b'.'] = s {
                s = rest;
            }
        }
        if s == b"-0" {
            s = b"0";
        }
        f(s)
    });
}

/// `addReplyHumanLongDouble`: a bulk string in RESP2, a double in RESP3.
fn reply_coord(out: &mut ReplyWriter, d: f64) {
    human_double(d, |s| {
        if out.is_resp3() {
            out.raw(b",");
            out.raw(s);
            out.raw(b"\r\n");
        } else {
            out.bulk(s);
        }
    });
}

// ---------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------

/// `GEOADD key [NX|XX] [CH] lon lat member ...`: validated and turned into
/// `ZADD key [options] score member ...`, as Redis does.
fn geoadd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut longidx = 2;
    while let Some(opt) = argv.get(longidx) {
        if eq(opt, "nx") {
            nx = true;
        } else if eq(opt, "xx") {
            xx = true;
        } else if !eq(opt, "ch") {
            break;
        }
        longidx += 1;
    }
    let triples = argv.get(longidx..).unwrap_or(&[]);
    if triples.len() % 3 != 0 || (xx && nx) {
        return err(SYNTAX);
    }
    let mut scores = Vec::with_capacity(triples.len() / 3);
    for t in triples.chunks_exact(3) {
        let (x, y) = lon_lat(t[0], t[1])?;
        // Always Some after the range check above.
        let bits = geo::encode_score(x, y).unwrap_or(0);
        scores.push(itoa::Buffer::new().format(bits).to_owned());
    }
    let mut zargv: Vec<&[u8]> = Vec::with_capacity(longidx + scores.len() * 2);
    zargv.push(b"zadd");
    zargv.extend_from_slice(argv.get(1..longidx).unwrap_or(&[]));
    for (t, s) in triples.chunks_exact(3).zip(&scores) {
        zargv.push(s.as_bytes());
        zargv.push(t[2]);
    }
    super::zset::zadd(ctx, &zargv)
}

/// `GEODIST key member1 member2 [unit]`.
fn geodist(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let to_meter = match argv.len() {
        5 => unit(argv[4])?,
        n if n > 5 => return err(SYNTAX),
        _ => 1.0,
    };
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(z) = zread(db, key)? else {
        out.null();
        return Ok(());
    };
    match (z.score(argv[2]), z.score(argv[3])) {
        (Some(s1), Some(s2)) => {
            let (x1, y1) = geo::decode_score(s1);
            let (x2, y2) = geo::decode_score(s2);
            reply_distance(out, geo::distance(x1, y1, x2, y2) / to_meter);
        }
        _ => out.null(),
    }
    Ok(())
}

/// `GEOHASH key member...`: standard 11-character geohashes.
fn geohash(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let z = zread(db, key)?;
    let members = argv.get(2..).unwrap_or(&[]);
    out.array(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(s) => out.bulk(&geo::geohash_string(s)),
            None => out.null(),
        }
    }
    Ok(())
}

/// `GEOPOS key member...`: the centre of each member's cell.
fn geopos(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let z = zread(db, key)?;
    let members = argv.get(2..).unwrap_or(&[]);
    out.array(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(s) => {
                let (x, y) = geo::decode_score(s);
                out.array(2);
                reply_coord(out, x);
                reply_coord(out, y);
            }
            None => out.null_array(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------

/// Search around coordinates (GEORADIUS).
const RADIUS_COORDS: u8 = 1 << 0;
/// Search around a member (GEORADIUSBYMEMBER).
const RADIUS_MEMBER: u8 = 1 << 1;
/// STORE/STOREDIST refused (the _RO variants).
const RADIUS_NOSTORE: u8 = 1 << 2;
/// GEOSEARCH argument syntax.
const GEOSEARCH: u8 = 1 << 3;
/// GEOSEARCHSTORE: destination first, STOREDIST is a flag.
const GEOSEARCHSTORE: u8 = 1 << 4;

fn georadius(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_COORDS)
}

fn georadiusbymember(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_MEMBER)
}

fn georadius_ro(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_COORDS | RADIUS_NOSTORE)
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, RADIUS_MEMBER | RADIUS_NOSTORE)
}

fn geosearch(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 1, GEOSEARCH)
}

fn geosearchstore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    georadius_generic(ctx, argv, 2, GEOSEARCH | GEOSEARCHSTORE)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A member found inside the search area (`geoPoint`).
#[derive(Debug, Clone, Copy)]
struct Point<'a> {
    longitude: f64,
    latitude: f64,
    dist: f64,
    score: f64,
    member: &'a [u8],
}

/// The position of `member` in the sorted set at `key` (`longLatFromMember`).
fn member_xy(ctx: &mut Ctx<'_, '_>, key: &[u8], member: &[u8]) -> Result<(f64, f64), CmdError> {
    let db = ctx.db(key);
    match zpeek(db, key).and_then(|z| z.score(member)) {
        Some(s) => Ok(geo::decode_score(s)),
        None => err("ERR could not decode requested zset member"),
    }
}

/// `georadiusGeneric`: argument parsing in Redis's order (so the same error
/// wins), the 9-cell scan, sorting, and the reply or the stored result.
fn georadius_generic(
    ctx: &mut Ctx<'_, '_>,
    argv: &[&[u8]],
    src_idx: usize,
    flags: u8,
) -> CmdResult {
    let src = argv[src_idx];
    let exists = zread(ctx.db(src), src)?.is_some();

    let mut o = Options::default();
    let base = if flags & RADIUS_COORDS != 0 {
        o.xy = lon_lat(argv[2], argv[3])?;
        let (r, c) = radius_arg(argv[4], argv[5])?;
        (o.kind, o.conversion) = (ShapeKind::Radius(r), c);
        6
    } else if flags & RADIUS_MEMBER != 0 {
        // Without a source key, parsing goes on so that the reply type
        // (array, or 0 with STORE) is right.
        if exists {
            o.xy = member_xy(ctx, src, argv[2])?;
            let (r, c) = radius_arg(argv[3], argv[4])?;
            (o.kind, o.conversion) = (ShapeKind::Radius(r), c);
        }
        5
    } else if flags & GEOSEARCHSTORE != 0 {
        o.store = Some(argv[1]);
        3
    } else {
        2
    };
    parse_options(ctx, argv, src, exists, base, flags, &mut o)?;
    run_search(ctx, argv, src, exists, flags, o)
}

/// Everything the optional arguments set.
#[derive(Debug, Clone, Copy)]
struct Options<'a> {
    xy: (f64, f64),
    kind: ShapeKind,
    conversion: f64,
    store: Option<&'a [u8]>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoords: bool,
    frommember: bool,
    fromloc: bool,
    byradius: bool,
    bybox: bool,
    sort: Sort,
    any: bool,
    count: i64,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            xy: (0.0, 0.0),
            kind: ShapeKind::Radius(0.0),
            conversion: 0.0,
            store: None,
            storedist: false,
            withdist: false,
            withhash: false,
            withcoords: false,
            frommember: false,
            fromloc: false,
            byradius: false,
            bybox: false,
            sort: Sort::None,
            any: false,
            count: 0,
        }
    }
}

/// The option loop of `georadiusGeneric`, errors in its order.
fn parse_options<'a>(
    ctx: &mut Ctx<'_, '_>,
    argv: &[&'a [u8]],
    src: &[u8],
    exists: bool,
    base: usize,
    flags: u8,
    o: &mut Options<'a>,
) -> CmdResult {
    let rest = argv.get(base..).unwrap_or(&[]);
    let remaining = rest.len();
    let search = flags & GEOSEARCH != 0;
    let can_store = flags & RADIUS_NOSTORE == 0 && !search;
    let mut i = 0;
    while let Some(&arg) = rest.get(i) {
        let next = |k: usize| rest.get(i + k).copied().unwrap_or(b"");
        if eq(arg, "withdist") {
            o.withdist = true;
        } else if eq(arg, "withhash") {
            o.withhash = true;
        } else if eq(arg, "withcoord") {
            o.withcoords = true;
        } else if eq(arg, "any") {
            o.any = true;
        } else if eq(arg, "asc") {
            o.sort = Sort::Asc;
        } else if eq(arg, "desc") {
            o.sort = Sort::Desc;
        } else if eq(arg, "count") && i + 1 < remaining {
            o.count = args::int(next(1))?;
            if o.count <= 0 {
                return err("ERR COUNT must be > 0");
            }
            i += 1;
        } else if eq(arg, "store") && i + 1 < remaining && can_store {
            o.store = Some(next(1));
            o.storedist = false;
            i += 1;
        } else if eq(arg, "storedist") && i + 1 < remaining && can_store {
            o.store = Some(next(1));
            o.storedist = true;
            i += 1;
        } else if eq(arg, "storedist") && search && flags & GEOSEARCHSTORE != 0 {
            o.storedist = true;
        } else if eq(arg, "frommember") && i + 1 < remaining && search && !o.fromloc {
            // Without a source key parsing continues; the reply is empty.
            if exists {
                o.xy = member_xy(ctx, src, next(1))?;
            }
            o.frommember = true;
            i += 1;
        } else if eq(arg, "fromlonlat") && i + 2 < remaining && search && !o.frommember {
            o.xy = lon_lat(next(1), next(2))?;
            o.fromloc = true;
            i += 2;
        } else if eq(arg, "byradius") && i + 2 < remaining && search && !o.bybox {
            let (r, c) = radius_arg(next(1), next(2))?;
            o.kind = ShapeKind::Radius(r);
            o.conversion = c;
            o.byradius = true;
            i += 2;
        } else if eq(arg, "bybox") && i + 3 < remaining && search && !o.byradius {
            let (w, h, c) = box_arg(next(1), next(2), next(3))?;
            o.kind = ShapeKind::Box {
                width: w,
                height: h,
            };
            o.conversion = c;
            o.bybox = true;
            i += 3;
        } else {
            return err(SYNTAX);
        }
        i += 1;
    }
    Ok(())
}

/// Validation after parsing, the search itself, and the reply.
fn run_search(
    ctx: &mut Ctx<'_, '_>,
    argv: &[&[u8]],
    src: &[u8],
    exists: bool,
    flags: u8,
    o: Options<'_>,
) -> CmdResult {
    let search = flags & GEOSEARCH != 0;
    if o.store.is_some() && (o.withdist || o.withhash || o.withcoords) {
        let what = if flags & GEOSEARCHSTORE != 0 {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::msg(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if search && !(o.frommember || o.fromloc) {
        return err_arg(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ",
            argv[0],
            usize::MAX,
            "",
        );
    }
    if search && !(o.byradius || o.bybox) {
        return err_arg(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for ",
            argv[0],
            usize::MAX,
            "",
        );
    }
    if o.any && o.count == 0 {
        return err("ERR the ANY argument requires COUNT argument");
    }
    if !exists {
        match o.store {
            Some(dst) => {
                if ctx.db(dst).remove(dst).is_some() {
                    nt::notify(ctx, nt::GENERIC, "del", dst);
                }
                ctx.out.int(0);
            }
            None => ctx.out.array(0),
        }
        return Ok(());
    }
    let mut sort = o.sort;
    // COUNT keeps the nearest N, so it implies sorting (but not with ANY).
    if o.count != 0 && sort == Sort::None && !o.any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        xy: o.xy,
        conversion: o.conversion,
        kind: o.kind,
    };
    let cells = geo::areas_by_shape(&shape);
    let limit = if o.any { o.count as u64 } else { 0 };

    let (db, out) = ctx.db_out(src);
    let Some(z) = zpeek(db, src) else {
        // Looked up at the start of this command: cannot vanish.
        out.array(0);
        return Ok(());
    };
    let mut points = members_of_all_neighbors(z, &cells, &shape, limit);
    if points.is_empty() && o.store.is_none() {
        out.array(0);
        return Ok(());
    }
    let total = points.len();
    let returned = if o.count == 0 || (total as u64) < o.count as u64 {
        total
    } else {
        o.count as usize
    };
    if sort != Sort::None {
        let desc = sort == Sort::Desc;
        let cmp = |a: &Point<'_>, b: &Point<'_>| {
            let c = if a.dist > b.dist {
                1
            } else if a.dist == b.dist {
                0
            } else {
                -1
            };
            if desc {
                -c
            } else {
                c
            }
        };
        if returned == total {
            glibc_msort(&mut points, &cmp);
        } else if returned > 0 {
            pqsort(&mut points, 0, returned - 1, &cmp);
        }
    }
    points.truncate(returned);

    let Some(dst) = o.store else {
        let options = usize::from(o.withdist) + usize::from(o.withcoords) + usize::from(o.withhash);
        out.array(returned);
        for p in &points {
            if options > 0 {
                out.array(options + 1);
            }
            out.bulk(p.member);
            if o.withdist {
                reply_distance(out, p.dist / shape.conversion);
            }
            if o.withhash {
                out.int(p.score as i64);
            }
            if o.withcoords {
                out.array(2);
                reply_coord(out, p.longitude);
                reply_coord(out, p.latitude);
            }
        }
        return Ok(());
    };

    let entries: Vec<(f64, Blob)> = points
        .iter()
        .map(|p| {
            let score = if o.storedist {
                p.dist / shape.conversion
            } else {
                p.score
            };
            (score, Blob::new(p.member))
        })
        .collect();
    let lim = ZLimits::from_tunables(&db.tunables);
    let db = ctx.db(dst);
    // geo.c: `geosearchstore` / `georadiusstore` (class z) for a stored
    // result, `del` (class g) when an empty one removed the key.
    if entries.is_empty() {
        if db.remove(dst).is_some() {
            nt::notify(ctx, nt::GENERIC, "del", dst);
        }
    } else {
        db.set(dst, Value::ZSet(ZSetValue::from_entries(entries, lim)));
        db.dirty += returned.saturating_sub(1) as u64;
        let event = if flags & GEOSEARCH != 0 {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        nt::notify(ctx, nt::ZSET, event, dst);
    }
    ctx.out.int(returned as i64);
    Ok(())
}

/// `membersOfAllNeighbors`: scan each useful cell's score range, keeping
/// the members inside the shape; stop early once `limit` (ANY) is reached.
fn members_of_all_neighbors<'a>(
    z: &'a ZSetValue,
    cells: &geo::SearchCells,
    shape: &Shape,
    limit: u64,
) -> Vec<Point<'a>> {
    let cells = cells.in_scan_order();
    let mut out: Vec<Point<'a>> = Vec::new();
    let full = |out: &Vec<Point<'a>>| limit != 0 && out.len() as u64 >= limit;
    let mut last_processed = 0usize;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Huge radii make neighbours coincide: skip a cell equal to the one
        // scanned just before (but never compare with the centre, as the C
        // code's `last_processed &&` test does).
        if last_processed != 0 && cells.get(last_processed) == Some(&cell) {
            continue;
        }
        if full(&out) {
            break;
        }
        let (min, max) = geo::cell_score_range(cell);
        let (min, max) = (min as f64, max as f64);
        let start = z.partition_point(|s, _| s < min);
        for (member, score) in z.iter_from(start, false) {
            if score >= max {
                break;
            }
            let (x, y) = geo::decode_score(score);
            if let Some(dist) = geo::distance_if_within(shape, x, y) {
                out.push(Point {
                    longitude: x,
                    latitude: y,
                    dist,
                    score,
                    member,
                });
            }
            if full(&out) {
                break;
            }
        }
        last_processed = i;
    }
    out
}

// ---------------------------------------------------------------------------
// Sorting exactly as redis-server does
// ---------------------------------------------------------------------------

/// glibc 2.36's `qsort`: a top-down merge sort (`msort_with_tmp`), taking
/// from the left run while `cmp(left, right) <= 0`. Equivalent to any
/// stable sort for a consistent comparator; written out so that even a NaN
/// distance (antipodal points) orders as in Redis.
fn glibc_msort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    let mut tmp = Vec::with_capacity(v.len());
    msort_rec(v, &mut tmp, cmp);
}

fn msort_rec<T: Copy>(b: &mut [T], tmp: &mut Vec<T>, cmp: &impl Fn(&T, &T) -> i32) {
    let n = b.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (l, r) = b.split_at_mut(n1);
        msort_rec(l, tmp, cmp);
        msort_rec(r, tmp, cmp);
    }
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&b[i], &b[j]) <= 0 {
            tmp.push(b[i]);
            i += 1;
        } else {
            tmp.push(b[j]);
            j += 1;
        }
    }
    tmp.extend_from_slice(&b[i..n1]);
    // What is left of the right run is already in place.
    b[..tmp.len()].copy_from_slice(tmp);
}

/// Redis's `pqsort`: the NetBSD quicksort, only recursing into partitions
/// that overlap the ranks `lrange..=rrange`.
fn pqsort<T: Copy>(v: &mut [T], lrange: usize, rrange: usize, cmp: &impl Fn(&T, &T) -> i32) {
    let n = v.len();
    pqsort_rec(v, 0, n, lrange, rrange, cmp);
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

fn insertion_sort<T>(v: &mut [T], base: usize, n: usize, cmp: &impl Fn(&T, &T) -> i32) {
    for pm in base + 1..base + n {
        let mut pl = pm;
        while pl > base && cmp(&v[pl - 1], &v[pl]) > 0 {
            v.swap(pl, pl - 1);
            pl -= 1;
        }
    }
}

/// Does the partition `[a, a + len)` miss the wanted ranks entirely?
fn outside(a: usize, len: usize, l: usize, r: usize) -> bool {
    (l < a && r < a) || (l >= a + len && r >= a + len)
}

fn pqsort_rec<T>(
    v: &mut [T],
    mut base: usize,
    mut n: usize,
    l: usize,
    r: usize,
    cmp: &impl Fn(&T, &T) -> i32,
) {
    loop {
        if n < 7 {
            insertion_sort(v, base, n, cmp);
            return;
        }
        let mut pm = base + n / 2;
        if n > 7 {
            let mut pl = base;
            let mut pn = base + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(base, pm);
        let (mut pa, mut pb) = (base + 1, base + 1);
        let (mut pc, mut pd) = (base + n - 1, base + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[base]);
                if c > 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[base]);
                if c < 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        // Redis's pqsort.c has no "no swaps: switch to insertion sort" step
        // (NetBSD's qsort has): ties then land as its partitioning leaves
        // them (found by the differential test, GEORADIUS .. COUNT 2 over
        // three members at one point).
        let pn = base + n;
        let k = (pa - base).min(pb - pa);
        for i in 0..k {
            v.swap(base + i, pb - k + i);
        }
        let k = (pd - pc).min(pn - pd - 1);
        for i in 0..k {
            v.swap(pb + i, pn - k + i);
        }
        let len = pb - pa;
        if len > 1 && !outside(base, len, l, r) {
            pqsort_rec(v, base, len, l, r, cmp);
        }
        let len = pd - pc;
        if len > 1 {
            base = pn - len;
            n = len;
            if !outside(base, n, l, r) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn asc(a: &(i32, usize), b: &(i32, usize)) -> i32 {
        a.0.cmp(&b.0) as i32
    }

    #[test]
    fn msort_is_stable_sort() {
        let mut rng = SmallRng::seed_from_u64(1);
        for n in 0..200 {
            let mut v: Vec<(i32, usize)> = (0..n).map(|i| (rng.gen_range(0..10), i)).collect();
            let mut want = v.clone();
            want.sort_by_key(|e| e.0);
            glibc_msort(&mut v, &asc);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn pqsort_orders_the_prefix() {
        let mut rng = SmallRng::seed_from_u64(2);
        for n in 1..300 {
            let mut v: Vec<(i32, usize)> = (0..n).map(|i| (rng.gen_range(0..50), i)).collect();
            let mut want: Vec<i32> = v.iter().map(|e| e.0).collect();
            want.sort();
            let k = rng.gen_range(0..n);
            pqsort(&mut v, 0, k, &asc);
            let got: Vec<i32> = v.iter().take(k + 1).map(|e| e.0).collect();
            assert_eq!(got, want[..=k]);
            let mut all: Vec<usize> = v.iter().map(|e| e.1).collect();
            all.sort();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn human_doubles() {
        let h = |d: f64| {
            let mut v = Vec::new();
            human_double(d, |s| v.extend_from_slice(s));
            String::from_utf8(v).unwrap_or_default()
        };
        assert_eq!(h(13.361389338970184), "13.36138933897018433");
        assert_eq!(h(1.5), "1.5");
        assert_eq!(h(180.0), "180");
        assert_eq!(h(-0.0), "0");
        assert_eq!(h(-1e-30), "0");
        assert_eq!(h(-0.5), "-0.5");
        assert_eq!(h(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn distances_format_like_printf() {
        let mut w = ReplyWriter::new(ferrocache_protocol::RespVersion::Resp2);
        reply_distance(&mut w, 0.03125);
        reply_distance(&mut w, 166274.15156960033);
        reply_distance(&mut w, -f64::NAN);
        assert_eq!(
            w.as_bytes(),
            b"$6\r\n0.0312\r\n$11\r\n166274.1516\r\n$4\r\n-nan\r\n"
        );
    }

    #[test]
    fn store_key_finder() {
        let a = |s: &str| -> Vec<Vec<u8>> { s.split(' ').map(|x| x.as_bytes().to_vec()).collect() };
        let v = a("georadius k 0 0 1 m STOREDIST b STORE a");
        let refs: Vec<&[u8]> = v.iter().map(|x| x.as_slice()).collect();
        assert_eq!(keys_georadius(&refs), vec![1, 9, 7]);
        let v = a("georadius k 0 0 1 m count 2 STORE");
        let refs: Vec<&[u8]> = v.iter().map(|x| x.as_slice()).collect();
        assert_eq!(keys_georadius(&refs), vec![1]);
        let v = a("georadius k 0 0 1 m STORE a STORE b");
        let refs: Vec<&[u8]> = v.iter().map(|x| x.as_slice()).collect();
        assert_eq!(keys_georadius(&refs), vec![1, 7, 9]);
    }
}
