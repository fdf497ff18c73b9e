//! Sorted set commands, following Redis 7.0's `t_zset.c`: same argument
//! parsing order (so the same error wins when several apply), same reply
//! shapes in RESP2 and RESP3, same encoding choices.
//!
//! Every range command (ZRANGE in all its forms, ZCOUNT, ZLEXCOUNT,
//! ZREMRANGEBY*) turns its range into a half-open interval of ranks with two
//! O(log n) partition-point searches on the sorted set, then walks from a
//! rank: O(log n + m) for m returned elements, whatever the encoding.

use crate::args::{self, eq};
use crate::ctx::Ctx;
use crate::error::{err, errf, CmdError, CmdResult, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, numkeys_at, CommandSpec};
use ferrocache_engine::types::set::SetValue;
use ferrocache_engine::types::zset::{Iter as ZIter, ZLimits, ZSetValue};
use ferrocache_engine::{Blob, Db, Value, WrongType};
use ferrocache_protocol::ReplyWriter;
use rand::Rng;
use std::collections::{HashMap, HashSet};

const G: &str = "sorted-set";
const NAN_ERR: &str = "ERR resulting score is not a number (NaN)";
const RANGE_FLOAT: &str = "ERR min or max is not a float";
const RANGE_LEX: &str = "ERR min or max not valid string range item";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), zadd)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", "O(log(N)) for each item added, where N is the number of elements in the sorted set."),
    CommandSpec::new("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), zincrby)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Increment the score of a member in a sorted set", "O(log(N)) where N is the number of elements in the sorted set."),
    CommandSpec::new("zrem", -3, WRITE | FAST, (1, 1, 1), zrem)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Remove one or more members from a sorted set", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed."),
    CommandSpec::new("zscore", 3, READONLY | FAST, (1, 1, 1), zscore)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Get the score associated with the given member in a sorted set", "O(1)"),
    CommandSpec::new("zmscore", -3, READONLY | FAST, (1, 1, 1), zmscore)
        .acl(acl::SORTEDSET)
        .doc(G, "6.2.0", "Get the score associated with the given members in a sorted set", "O(N) where N is the number of members being requested."),
    CommandSpec::new("zcard", 2, READONLY | FAST, (1, 1, 1), zcard)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Get the number of members in a sorted set", "O(1)"),
    CommandSpec::new("zcount", 4, READONLY | FAST, (1, 1, 1), zcount)
        .acl(acl::SORTEDSET)
        .doc(G, "2.0.0", "Count the members in a sorted set with scores within the given values", "O(log(N)) with N being the number of elements in the sorted set."),
    CommandSpec::new("zlexcount", 4, READONLY | FAST, (1, 1, 1), zlexcount)
        .acl(acl::SORTEDSET)
        .doc(G, "2.8.9", "Count the number of members in a sorted set between a given lexicographical range", "O(log(N)) with N being the number of elements in the sorted set."),
    CommandSpec::new("zrange", -4, READONLY, (1, 1, 1), zrange)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Return a range of members in a sorted set", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
    CommandSpec::new("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), zrangestore)
        .acl(acl::SORTEDSET)
        .doc(G, "6.2.0", "Store a range of members from sorted set into another key", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key."),
    CommandSpec::new("zrevrange", -4, READONLY, (1, 1, 1), zrevrange)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
    CommandSpec::new("zrangebyscore", -4, READONLY, (1, 1, 1), zrangebyscore)
        .acl(acl::SORTEDSET)
        .doc(G, "1.0.5", "Return a range of members in a sorted set, by score", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    CommandSpec::new("zrevrangebyscore", -4, READONLY, (1, 1, 1), zrevrangebyscore)
        .acl(acl::SORTEDSET)
        .doc(G, "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    CommandSpec::new("zrangebylex", -4, READONLY, (1, 1, 1), zrangebylex)
        .acl(acl::SORTEDSET)
        .doc(G, "2.8.9", "Return a range of members in a sorted set, by lexicographical range", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    CommandSpec::new("zrevrangebylex", -4, READONLY, (1, 1, 1), zrevrangebylex)
        .acl(acl::SORTEDSET)
        .doc(G, "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N))."),
    CommandSpec::new("zrank", 3, READONLY | FAST, (1, 1, 1), zrank)
        .acl(acl::SORTEDSET)
        .doc(G, "2.0.0", "Determine the index of a member in a sorted set", "O(log(N))"),
    CommandSpec::new("zrevrank", 3, READONLY | FAST, (1, 1, 1), zrevrank)
        .acl(acl::SORTEDSET)
        .doc(G, "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", "O(log(N))"),
    CommandSpec::new("zremrangebyrank", 4, WRITE, (1, 1, 1), zremrangebyrank)
        .acl(acl::SORTEDSET)
        .doc(G, "2.0.0", "Remove all members in a sorted set within the given indexes", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    CommandSpec::new("zremrangebyscore", 4, WRITE, (1, 1, 1), zremrangebyscore)
        .acl(acl::SORTEDSET)
        .doc(G, "1.2.0", "Remove all members in a sorted set within the given scores", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    CommandSpec::new("zremrangebylex", 4, WRITE, (1, 1, 1), zremrangebylex)
        .acl(acl::SORTEDSET)
        .doc(G, "2.8.9", "Remove all members in a sorted set between the given lexicographical range", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    CommandSpec::new("zpopmin", -2, WRITE | FAST, (1, 1, 1), zpopmin)
        .acl(acl::SORTEDSET)
        .doc(G, "5.0.0", "Remove and return members with the lowest scores in a sorted set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    CommandSpec::new("zpopmax", -2, WRITE | FAST, (1, 1, 1), zpopmax)
        .acl(acl::SORTEDSET)
        .doc(G, "5.0.0", "Remove and return members with the highest scores in a sorted set", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    CommandSpec::new("zmpop", -4, WRITE, (0, 0, 0), zmpop)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET)
        .doc(G, "7.0.0", "Remove and return members with scores in a sorted set", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."),
    // Blocking variants (H3; waiting and waking in `crate::blocking`).
    CommandSpec::new("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), bzpopmin)
        .acl(acl::SORTEDSET)
        .doc(G, "5.0.0", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", "O(log(N)) with N being the number of elements in the sorted set."),
    CommandSpec::new("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), bzpopmax)
        .acl(acl::SORTEDSET)
        .doc(G, "5.0.0", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", "O(log(N)) with N being the number of elements in the sorted set."),
    CommandSpec::new("bzmpop", -5, WRITE | BLOCKING, (0, 0, 0), bzmpop)
        .keys_fn(bzmpop_keys)
        .acl(acl::SORTEDSET)
        .doc(G, "7.0.0", "Remove and return members with scores in a sorted set or block until one is available", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."),
    CommandSpec::new("zrandmember", -2, READONLY, (1, 1, 1), zrandmember)
        .acl(acl::SORTEDSET)
        .doc(G, "6.2.0", "Get one or multiple random elements from a sorted set", "O(N) where N is the number of elements returned"),
    CommandSpec::new("zunion", -3, READONLY, (0, 0, 0), zunion)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET)
        .doc(G, "6.2.0", "Add multiple sorted sets", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    CommandSpec::new("zinter", -3, READONLY, (0, 0, 0), zinter)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET)
        .doc(G, "6.2.0", "Intersect multiple sorted sets", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    CommandSpec::new("zdiff", -3, READONLY, (0, 0, 0), zdiff)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET)
        .doc(G, "6.2.0", "Subtract multiple sorted sets", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    CommandSpec::new("zunionstore", -4, WRITE | DENYOOM, (1, 1, 1), zunionstore)
        .keys_fn(keys_store)
        .acl(acl::SORTEDSET)
        .doc(G, "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    CommandSpec::new("zinterstore", -4, WRITE | DENYOOM, (1, 1, 1), zinterstore)
        .keys_fn(keys_store)
        .acl(acl::SORTEDSET)
        .doc(G, "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    CommandSpec::new("zdiffstore", -4, WRITE | DENYOOM, (1, 1, 1), zdiffstore)
        .keys_fn(keys_store)
        .acl(acl::SORTEDSET)
        .doc(G, "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    CommandSpec::new("zintercard", -3, READONLY, (0, 0, 0), zintercard)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET)
        .doc(G, "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets."),
    CommandSpec::new("zscan", -3, READONLY, (1, 1, 1), zscan)
        .acl(acl::SORTEDSET)
        .doc(G, "2.8.0", "Incrementally iterate sorted sets elements and associated scores", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
];

// ---------------------------------------------------------------------------
// Key finders
// ---------------------------------------------------------------------------

/// `ZUNION numkeys key...`, `ZMPOP numkeys key...`, `ZINTERCARD numkeys key...`.
fn keys_numkeys_at_1(argv: &[&[u8]]) -> Vec<usize> {
    numkeys_at(argv, 1)
}

/// `Z*STORE dst numkeys key...`: the destination, then the sources.
fn keys_store(argv: &[&[u8]]) -> Vec<usize> {
    let mut v = vec![1];
    v.extend(numkeys_at(argv, 2));
    v
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

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

/// The sorted set at `key` for writing (lazy expiry, no hit/miss stats, as
/// Redis's `lookupKeyWrite`).
fn zwrite<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a mut ZSetValue>, WrongType> {
    match db.get_mut(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(WrongType),
        },
    }
}

fn limits(db: &Db) -> ZLimits {
    ZLimits::from_tunables(&db.tunables)
}

/// A double argument as Redis's `getDoubleFromObject` (see `args::parse_f64`).
fn parse_double(arg: &[u8]) -> Option<f64> {
    args::parse_f64(arg)
}

fn float_arg(arg: &[u8], msg: &'static str) -> Result<f64, CmdError> {
    parse_double(arg).ok_or_else(|| CmdError::msg(msg))
}

/// `strtod` on a whole argument as `zslParseRange` uses it: the rest of the
/// C string must be consumed (leading white space is skipped, an empty
/// string is 0, the string ends at a NUL byte) and NaN is refused.
fn strtod_full(arg: &[u8]) -> Option<f64> {
    let c_len = arg.iter().position(|&c| c == 0).unwrap_or(arg.len());
    let r = args::strtod(arg);
    (r.consumed == c_len && !r.value.is_nan()).then_some(r.value)
}

/// A score range: `[min, max]`, each end possibly exclusive (`(` prefix).
#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<Self, CmdError> {
        let item = |a: &[u8]| -> Option<(f64, bool)> {
            match a.split_first() {
                Some((b'(', rest)) => Some((strtod_full(rest)?, true)),
                _ => Some((strtod_full(a)?, false)),
            }
        };
        match (item(min), item(max)) {
            (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
                min,
                max,
                minex,
                maxex,
            }),
            _ => err(RANGE_FLOAT),
        }
    }

    fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Half-open rank interval of the elements in range.
    fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let lo = z.partition_point(|s, _| !self.gte_min(s));
        let hi = z.partition_point(|s, _| self.lte_max(s));
        (lo, hi.max(lo))
    }
}

/// One end of a lex range.
#[derive(Debug, Clone, Copy)]
enum Lex<'a> {
    Min,
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

#[derive(Debug, Clone, Copy)]
struct LexRange<'a> {
    min: Lex<'a>,
    max: Lex<'a>,
}

impl<'a> LexRange<'a> {
    fn parse(min: &'a [u8], max: &'a [u8]) -> Result<Self, CmdError> {
        // `zslParseLexRangeItem`: '+' and '-' must stand alone (C string:
        // a NUL right after them counts as the end).
        let item = |a: &'a [u8]| -> Option<Lex<'a>> {
            let alone = a.get(1).is_none_or(|&c| c == 0);
            match a.split_first() {
                Some((b'+', _)) if alone => Some(Lex::Max),
                Some((b'-', _)) if alone => Some(Lex::Min),
                Some((b'(', rest)) => Some(Lex::Excl(rest)),
                Some((b'[', rest)) => Some(Lex::Incl(rest)),
                _ => None,
            }
        };
        match (item(min), item(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => err(RANGE_LEX),
        }
    }

    fn gte_min(&self, m: &[u8]) -> bool {
        match self.min {
            Lex::Min => true,
            Lex::Max => false,
            Lex::Incl(x) => m >= x,
            Lex::Excl(x) => m > x,
        }
    }

    fn lte_max(&self, m: &[u8]) -> bool {
        match self.max {
            Lex::Max => true,
            Lex::Min => false,
            Lex::Incl(x) => m <= x,
            Lex::Excl(x) => m < x,
        }
    }

    /// `sdscmplex(min, max)`: `-` sorts before every string, `+` after.
    fn bounds_cross(&self) -> bool {
        use std::cmp::Ordering::*;
        let (cmp, ex) = match (self.min, self.max) {
            (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => (Equal, true),
            (Lex::Min, _) | (_, Lex::Max) => (Less, false),
            (Lex::Max, _) | (_, Lex::Min) => (Greater, false),
            (Lex::Incl(a) | Lex::Excl(a), Lex::Incl(b) | Lex::Excl(b)) => (
                a.cmp(b),
                matches!(self.min, Lex::Excl(_)) || matches!(self.max, Lex::Excl(_)),
            ),
        };
        cmp == Greater || (cmp == Equal && ex)
    }

    /// ZRANGE BYLEX selection. For the compact encoding, LIMIT's offset is
    /// skipped without looking at the elements and the walk then continues
    /// while in range, as Redis's listpack loop does (which only differs
    /// from the rank arithmetic when scores are unequal).
    fn select(&self, z: &ZSetValue, rev: bool, offset: i64, limit: i64) -> Selection {
        let (lo, hi) = self.ranks(z, rev);
        let n = z.len();
        if z.encoding() != "listpack" || lo == hi {
            return Selection::by_ranks(n, lo, hi, rev, offset, limit);
        }
        if offset < 0 || (offset > 0 && offset as u64 >= n as u64) {
            return Selection::EMPTY;
        }
        let offset = offset as usize;
        let start = if rev {
            match (hi - 1).checked_sub(offset) {
                Some(s) => s,
                None => return Selection::EMPTY,
            }
        } else if lo + offset < n {
            lo + offset
        } else {
            return Selection::EMPTY;
        };
        let walk = z.iter_from(start, rev);
        let mut count = if rev {
            walk.take_while(|(m, _)| self.gte_min(m)).count()
        } else {
            walk.take_while(|(m, _)| self.lte_max(m)).count()
        };
        if limit >= 0 {
            count = count.min(limit as usize);
        }
        Selection { start, count, rev }
    }

    /// Half-open rank interval of the elements in range, seen from the end
    /// a walk starts at (`rev`: from the highest).
    ///
    /// Lex ranges are only meaningful when all scores are equal. For the
    /// compact encoding this reproduces Redis's listpack scans exactly even
    /// when they are not (first element at or above min, then onwards while
    /// at or below max; mirrored for `rev`), at O(n) for n ≤ 128. The large
    /// encoding uses two O(log n) partition points, which is what Redis's
    /// skiplist descent computes when scores are equal (and Redis's own
    /// answer for unequal scores depends on random node levels).
    fn ranks(&self, z: &ZSetValue, rev: bool) -> (usize, usize) {
        if z.encoding() != "listpack" {
            let lo = z.partition_point(|_, m| !self.gte_min(m));
            let hi = z.partition_point(|_, m| self.lte_max(m));
            return (lo, hi.max(lo));
        }
        let n = z.len();
        let (Some((first, _)), Some((last, _))) =
            (z.get_by_rank(0), z.get_by_rank(n.wrapping_sub(1)))
        else {
            return (0, 0);
        };
        if self.bounds_cross() || !self.gte_min(last) || !self.lte_max(first) {
            return (0, 0);
        }
        if rev {
            let mut it = z.iter_from(n - 1, true).enumerate();
            let Some((i, (m, _))) = it.find(|(_, (m, _))| self.lte_max(m)) else {
                return (0, 0);
            };
            if !self.gte_min(m) {
                return (0, 0);
            }
            let hi = n - i;
            let more = it.take_while(|(_, (m, _))| self.gte_min(m)).count();
            (hi - 1 - more, hi)
        } else {
            let mut it = z.iter().enumerate();
            let Some((lo, (m, _))) = it.find(|(_, (m, _))| self.gte_min(m)) else {
                return (0, 0);
            };
            if !self.lte_max(m) {
                return (0, 0);
            }
            let more = it.take_while(|(_, (m, _))| self.lte_max(m)).count();
            (lo, lo + 1 + more)
        }
    }
}

/// Reply with `(member, score)` pairs: a flat array in RESP2, an array of
/// `[member, score]` pairs in RESP3 when scores are included (Redis 7).
fn reply_pairs<'a>(
    out: &mut ReplyWriter,
    it: impl ExactSizeIterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    let n = it.len();
    let nested = withscores && out.is_resp3();
    out.array(if withscores && !nested { 2 * n } else { n });
    for (m, s) in it {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

// ---------------------------------------------------------------------------
// ZADD / ZINCRBY
// ---------------------------------------------------------------------------

pub(crate) fn zadd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, argv, false)
}

fn zincrby(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, argv, true)
}

/// `zaddGenericCommand`: options, then score/member pairs. ZINCRBY is ZADD
/// with INCR preset (and, as in Redis, also goes through option parsing).
fn zadd_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], mut incr: bool) -> CmdResult {
    let key = argv[1];
    let (mut nx, mut xx, mut gt, mut lt, mut ch) = (false, false, false, false, false);
    let mut idx = 2;
    while let Some(opt) = argv.get(idx) {
        if eq(opt, "nx") {
            nx = true;
        } else if eq(opt, "xx") {
            xx = true;
        } else if eq(opt, "ch") {
            ch = true;
        } else if eq(opt, "incr") {
            incr = true;
        } else if eq(opt, "gt") {
            gt = true;
        } else if eq(opt, "lt") {
            lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let pairs = &argv[idx.min(argv.len())..];
    if pairs.is_empty() || !pairs.chunks_exact(2).remainder().is_empty() {
        return err(SYNTAX);
    }
    if nx && xx {
        return err("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && pairs.len() > 2 {
        return err("ERR INCR option supports a single increment-element pair");
    }
    // Parse every score first: the command runs fully or not at all.
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks_exact(2) {
        scores.push(float_arg(p[0], crate::error::NOT_FLOAT)?);
    }

    let db = ctx.db(key);
    let lim = limits(db);
    let exists = zwrite(db, key)?.is_some();
    if !exists {
        if xx {
            if incr {
                ctx.out.null();
            } else {
                ctx.out.int(0);
            }
            return Ok(());
        }
        db.set(key, Value::ZSet(ZSetValue::new()));
    }
    let Some(z) = zwrite(db, key)? else {
        return err(SYNTAX);
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (p, &score) in pairs.chunks_exact(2).zip(&scores) {
        let member = p[1];
        // One member lookup per pair (`upsert`): the closure decides from
        // the current score, the set applies it.
        z.upsert(member, lim, |cur| match cur {
            Some(cur) => {
                if nx {
                    return None;
                }
                let new = if incr { score + cur } else { score };
                if new.is_nan() {
                    nan = true;
                    return None;
                }
                if (lt && new >= cur) || (gt && new <= cur) {
                    return None;
                }
                if new != cur {
                    updated += 1;
                }
                last = new;
                processed += 1;
                Some(new)
            }
            None => {
                if xx {
                    return None;
                }
                added += 1;
                last = score;
                processed += 1;
                Some(score)
            }
        });
        if nan {
            break;
        }
    }
    let empty = z.is_empty();
    db.dirty += (added + updated) as u64;
    if !exists && empty {
        db.remove(key);
    }
    let event = if incr { "zincr" } else { "zadd" };
    if nan {
        if added + updated > 0 {
            nt::notify(ctx, nt::ZSET, event, key);
        }
        return err(NAN_ERR);
    }
    if incr {
        if processed > 0 {
            ctx.out.double(last);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added });
    }
    // Redis replies, then notifies (`zaddGenericCommand`'s cleanup).
    if added + updated > 0 {
        nt::notify_replied(ctx, nt::ZSET, event, key);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Simple reads and ZREM
// ---------------------------------------------------------------------------

fn zrem(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let db = ctx.db(key);
    let Some(z) = zwrite(db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut deleted = 0i64;
    for m in &argv[2..] {
        if z.remove(m).is_some() {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    let empty = z.is_empty();
    db.dirty += deleted as u64;
    if empty {
        db.remove(key);
    }
    ctx.out.int(deleted);
    if deleted > 0 {
        nt::notify(ctx, nt::ZSET, "zrem", key);
        if empty {
            nt::notify(ctx, nt::GENERIC, "del", key);
        }
    }
    Ok(())
}

fn zscore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match zread(db, argv[1])?.and_then(|z| z.score(argv[2])) {
        Some(s) => out.double(s),
        None => out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let z = zread(db, argv[1])?;
    out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
    Ok(())
}

fn zcard(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let n = zread(db, argv[1])?.map_or(0, |z| z.len());
    out.int(n as i64);
    Ok(())
}

fn zcount(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let range = ScoreRange::parse(argv[2], argv[3])?;
    let (db, out) = ctx.db_out(argv[1]);
    let n = zread(db, argv[1])?.map_or(0, |z| {
        let (lo, hi) = range.ranks(z);
        hi - lo
    });
    out.int(n as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let range = LexRange::parse(argv[2], argv[3])?;
    let (db, out) = ctx.db_out(argv[1]);
    let n = zread(db, argv[1])?.map_or(0, |z| {
        let (lo, hi) = range.ranks(z, false);
        hi - lo
    });
    out.int(n as i64);
    Ok(())
}

fn zrank(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, argv, true)
}

fn zrank_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let rank = zread(db, argv[1])?.and_then(|z| {
        let r = z.rank(argv[2])?;
        Some(if rev { z.len() - 1 - r } else { r })
    });
    match rank {
        Some(r) => out.int(r as i64),
        None => out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZRANGE and friends
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Rank,
    Score,
    Lex,
}

fn zrange(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, false, None, None)
}

fn zrangestore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 2, true, None, None)
}

fn zrevrange(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, false, Some(RangeType::Rank), Some(true))
}

fn zrangebyscore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, false, Some(RangeType::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, false, Some(RangeType::Score), Some(true))
}

fn zrangebylex(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, false, Some(RangeType::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, false, Some(RangeType::Lex), Some(true))
}

/// The selection a range command resolved to: `count` elements starting at
/// ascending rank `start`, walking down when `rev`.
#[derive(Debug, Clone, Copy)]
struct Selection {
    start: usize,
    count: usize,
    rev: bool,
}

impl Selection {
    const EMPTY: Selection = Selection {
        start: 0,
        count: 0,
        rev: false,
    };

    /// Index range `start..=end` (negative from the end), as
    /// `genericZrangebyrankCommand` sanitizes it.
    fn by_index(len: usize, start: i64, end: i64, rev: bool) -> Selection {
        let llen = len as i64;
        let mut start = if start < 0 {
            llen.saturating_add(start)
        } else {
            start
        };
        let mut end = if end < 0 {
            llen.saturating_add(end)
        } else {
            end
        };
        if start < 0 {
            start = 0;
        }
        if start > end || start >= llen {
            return Selection::EMPTY;
        }
        if end >= llen {
            end = llen - 1;
        }
        let count = (end - start + 1) as usize;
        let start = start as usize;
        if rev {
            Selection {
                start: len - 1 - start,
                count,
                rev,
            }
        } else {
            Selection { start, count, rev }
        }
    }

    /// Ranks `lo..hi` in range, then LIMIT offset/count applied from the
    /// walking end. A negative offset selects nothing and a negative count
    /// means "all", as Redis's `while (offset--)` / `while (limit--)` loops.
    fn by_ranks(len: usize, lo: usize, hi: usize, rev: bool, offset: i64, limit: i64) -> Selection {
        if offset < 0 || (offset > 0 && offset as u64 >= len as u64) {
            return Selection::EMPTY;
        }
        let offset = offset as usize;
        let avail = hi - lo;
        if offset >= avail {
            return Selection::EMPTY;
        }
        let mut count = avail - offset;
        if limit >= 0 {
            count = count.min(limit as usize);
        }
        let start = if rev { hi - 1 - offset } else { lo + offset };
        Selection { start, count, rev }
    }

    fn iter<'a>(&self, z: &'a ZSetValue) -> Take<ZIter<'a>> {
        let it = z.iter_from(self.start, self.rev);
        let n = self.count.min(it.len());
        Take { it, n }
    }
}

/// `Iterator::take` that stays an `ExactSizeIterator`.
struct Take<I> {
    it: I,
    n: usize,
}

impl<I: Iterator> Iterator for Take<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        if self.n == 0 {
            return None;
        }
        self.n -= 1;
        self.it.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.n, Some(self.n))
    }
}

impl<I: Iterator> ExactSizeIterator for Take<I> {}

/// `zrangeGenericCommand`: `argv[start_at]` is the source key, followed by
/// min, max and options. `rtype`/`rev` are fixed by the legacy commands and
/// chosen by options for ZRANGE/ZRANGESTORE.
fn zrange_generic(
    ctx: &mut Ctx<'_, '_>,
    argv: &[&[u8]],
    start_at: usize,
    store: bool,
    mut rtype: Option<RangeType>,
    mut rev: Option<bool>,
) -> CmdResult {
    let key = argv[start_at];
    let (mut minidx, mut maxidx) = (start_at + 1, start_at + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = start_at + 3;
    while j < argv.len() {
        let a = argv[j];
        let left = argv.len() - j - 1;
        if !store && eq(a, "withscores") {
            withscores = true;
        } else if eq(a, "limit") && left >= 2 {
            offset = args::int(argv[j + 1])?;
            limit = args::int(argv[j + 2])?;
            j += 2;
        } else if rev.is_none() && eq(a, "rev") {
            rev = Some(true);
        } else if rtype.is_none() && eq(a, "bylex") {
            rtype = Some(RangeType::Lex);
        } else if rtype.is_none() && eq(a, "byscore") {
            rtype = Some(RangeType::Score);
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let rtype = rtype.unwrap_or(RangeType::Rank);
    if limit != -1 && rtype == RangeType::Rank {
        return err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && rtype == RangeType::Lex {
        return err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    enum Parsed<'a> {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange<'a>),
    }
    let parsed = match rtype {
        RangeType::Rank => Parsed::Rank(args::int(argv[minidx])?, args::int(argv[maxidx])?),
        RangeType::Score => Parsed::Score(ScoreRange::parse(argv[minidx], argv[maxidx])?),
        RangeType::Lex => Parsed::Lex(LexRange::parse(argv[minidx], argv[maxidx])?),
    };
    let select = |z: &ZSetValue| match &parsed {
        Parsed::Rank(a, b) => Selection::by_index(z.len(), *a, *b, rev),
        Parsed::Score(r) => {
            let (lo, hi) = r.ranks(z);
            Selection::by_ranks(z.len(), lo, hi, rev, offset, limit)
        }
        Parsed::Lex(r) => r.select(z, rev, offset, limit),
    };

    if store {
        let dst = argv[1];
        let db = ctx.db(key);
        let lim = limits(db);
        let entries: Vec<(f64, Blob)> = match zread(db, key)? {
            None => Vec::new(),
            Some(z) => select(z).iter(z).map(|(m, s)| (s, Blob::new(m))).collect(),
        };
        store_result(ctx, dst, entries, lim, "zrangestore");
        return Ok(());
    }
    let (db, out) = ctx.db_out(key);
    match zread(db, key)? {
        None => out.array(0),
        Some(z) => reply_pairs(out, select(z).iter(z), withscores),
    }
    Ok(())
}

/// Store a computed result at `dst` (replacing whatever was there) and
/// reply with its size; an empty result deletes `dst` instead.
fn store_result(
    ctx: &mut Ctx<'_, '_>,
    dst: &[u8],
    entries: Vec<(f64, Blob)>,
    lim: ZLimits,
    event: &str,
) {
    let n = entries.len();
    let db = ctx.db(dst);
    let event = if n == 0 {
        db.remove(dst).map(|_| (nt::GENERIC, "del"))
    } else {
        db.set(dst, Value::ZSet(ZSetValue::from_entries(entries, lim)));
        Some((nt::ZSET, event))
    };
    ctx.out.int(n as i64);
    // Redis replies, then notifies.
    if let Some((class, event)) = event {
        nt::notify_replied(ctx, class, event, dst);
    }
}

// ---------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let start = args::int(argv[2])?;
    let end = args::int(argv[3])?;
    zremrange(ctx, argv[1], "zremrangebyrank", |z| {
        let sel = Selection::by_index(z.len(), start, end, false);
        (sel.start, sel.start + sel.count)
    })
}

fn zremrangebyscore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let range = ScoreRange::parse(argv[2], argv[3])?;
    zremrange(ctx, argv[1], "zremrangebyscore", |z| range.ranks(z))
}

fn zremrangebylex(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let range = LexRange::parse(argv[2], argv[3])?;
    zremrange(ctx, argv[1], "zremrangebylex", |z| range.ranks(z, false))
}

/// Remove the half-open rank interval `ranks(z)` from the set at `key`.
fn zremrange(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    event: &str,
    ranks: impl Fn(&ZSetValue) -> (usize, usize),
) -> CmdResult {
    let db = ctx.db(key);
    let Some(z) = zwrite(db, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let (lo, hi) = ranks(z);
    let removed = z.remove_rank_range(lo, hi);
    let empty = z.is_empty();
    db.dirty += removed as u64;
    if empty {
        db.remove(key);
    }
    ctx.out.int(removed as i64);
    if removed > 0 {
        nt::notify(ctx, nt::ZSET, event, key);
        if empty {
            nt::notify(ctx, nt::GENERIC, "del", key);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZPOPMIN / ZPOPMAX / ZMPOP
// ---------------------------------------------------------------------------

fn zpopmin(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zpop_cmd(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    zpop_cmd(ctx, argv, true)
}

fn zpop_cmd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return err(SYNTAX);
    }
    let count = match argv.get(2) {
        Some(a) => {
            const POS: &str = "ERR value is out of range, must be positive";
            let c = args::int_or(a, POS)?;
            if c < 0 {
                return err(POS);
            }
            Some(usize::try_from(c).unwrap_or(usize::MAX))
        }
        None => None,
    };
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(z) = zwrite(db, key)? else {
        out.array(0);
        return Ok(());
    };
    let n = match count {
        Some(0) => {
            out.array(0);
            return Ok(());
        }
        Some(c) => c.min(z.len()),
        None => 1.min(z.len()),
    };
    // RESP3 with an explicit COUNT nests [member, score] pairs.
    let nested = out.is_resp3() && count.is_some();
    out.array(if nested { n } else { 2 * n });
    let at = out.len();
    for _ in 0..n {
        let Some((m, s)) = z.pop(max) else { break };
        if nested {
            out.array(2);
        }
        out.bulk(&m);
        out.double(s);
    }
    let empty = z.is_empty();
    db.dirty += n as u64;
    if empty {
        db.remove(key);
    }
    if n > 0 {
        notify_zpop(ctx, key, max, empty, at);
    }
    Ok(())
}

/// `zpopmin`/`zpopmax`, then `del` if the set went. Redis notifies when it
/// pops the first element, after the array header and before the elements
/// (reply position `at`); the `del` follows the whole reply.
fn notify_zpop(ctx: &mut Ctx<'_, '_>, key: &[u8], max: bool, deleted: bool, at: usize) {
    let event = if max { "zpopmax" } else { "zpopmin" };
    nt::notify_at(ctx, at, nt::ZSET, event, key);
    if deleted {
        nt::notify_replied(ctx, nt::GENERIC, "del", key);
    }
}

fn zmpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = args::int_or(argv[1], NUMKEYS)?;
    if numkeys < 1 {
        return err(NUMKEYS);
    }
    let where_idx = 2u64.saturating_add(numkeys as u64);
    let Some(&wh) = usize::try_from(where_idx).ok().and_then(|i| argv.get(i)) else {
        return err(SYNTAX);
    };
    let where_idx = where_idx as usize;
    let max = if eq(wh, "min") {
        false
    } else if eq(wh, "max") {
        true
    } else {
        return err(SYNTAX);
    };
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count == -1 && eq(argv[j], "count") && more > 0 {
            j += 1;
            const COUNT: &str = "ERR count should be greater than 0";
            count = args::int_or(argv[j], COUNT)?;
            if count < 1 {
                return err(COUNT);
            }
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let count = count.max(1) as usize;
    for &key in &argv[2..where_idx] {
        let (db, out) = ctx.db_out(key);
        let Some(z) = zwrite(db, key)? else {
            continue;
        };
        let n = count.min(z.len());
        out.array(2);
        out.bulk(key);
        out.array(n);
        let at = out.len();
        for _ in 0..n {
            let Some((m, s)) = z.pop(max) else { break };
            out.array(2);
            out.bulk(&m);
            out.double(s);
        }
        let empty = z.is_empty();
        db.dirty += n as u64;
        if empty {
            db.remove(key);
        }
        notify_zpop(ctx, key, max, empty, at);
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    if argv.len() == 2 {
        let (db, out) = ctx.db_out(key);
        match zread(db, key)?.and_then(|z| z.random(&mut rand::thread_rng())) {
            Some((m, _)) => out.bulk(m),
            None => out.null(),
        }
        return Ok(());
    }
    let l = args::int(argv[2])?;
    if l == i64::MIN {
        return err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
    }
    if argv.len() > 4 || (argv.len() == 4 && !eq(argv[3], "withscores")) {
        return err(SYNTAX);
    }
    let withscores = argv.len() == 4;
    // Checked before the key is looked up (t_zset.c `zrandmemberCommand`):
    // the reply must stay within what a count of pairs can address.
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return err("ERR value is out of range");
    }
    let (db, out) = ctx.db_out(key);
    let Some(z) = zread(db, key)? else {
        out.array(0);
        return Ok(());
    };
    let size = z.len();
    let mut rng = rand::thread_rng();
    let nested = withscores && out.is_resp3();
    let emit = |out: &mut ReplyWriter, m: &[u8], s: f64| {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    };
    let header = |out: &mut ReplyWriter, n: usize| {
        out.array(if withscores && !nested { 2 * n } else { n });
    };
    if l == 0 {
        out.array(0);
        return Ok(());
    }
    if l < 0 || l == 1 {
        // With repetitions (or a single pick): independent uniform draws.
        let count = l.unsigned_abs() as usize;
        header(out, count);
        for _ in 0..count {
            if let Some((m, s)) = z.random(&mut rng) {
                emit(out, m, s);
            }
        }
        return Ok(());
    }
    let count = l as usize;
    if count >= size {
        // The whole set, highest first (Redis's `zuiNext` walks sorted sets
        // from the tail).
        header(out, size);
        for (m, s) in z.iter_from(size - 1, true) {
            emit(out, m, s);
        }
        return Ok(());
    }
    header(out, count);
    if count.saturating_mul(3) > size {
        // Close to the whole set: partial Fisher-Yates over ranks.
        let mut ranks: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = rng.gen_range(i..size);
            ranks.swap(i, j);
        }
        for &r in &ranks[..count] {
            if let Some((m, s)) = z.get_by_rank(r) {
                emit(out, m, s);
            }
        }
    } else {
        let mut seen = HashSet::with_capacity(count);
        while seen.len() < count {
            let r = rng.gen_range(0..size);
            if seen.insert(r) {
                if let Some((m, s)) = z.get_by_rank(r) {
                    emit(out, m, s);
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE), ZINTERCARD
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`.
#[inline]
fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// An input of a set operation: a sorted set, or a plain set whose members
/// all score 1.
enum Src<'a> {
    Z(&'a ZSetValue),
    S(&'a SetValue),
}

impl Src<'_> {
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::Z(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Src::S(s) => s.iter().for_each(|m| f(&m, 1.0)),
        }
    }
}

/// Run `f` on the input at `key` (None when missing). Uses `peek`: the first
/// pass already did the counted, expiring lookup.
fn with_src<R>(ctx: &mut Ctx<'_, '_>, key: &[u8], f: impl FnOnce(Option<Src<'_>>) -> R) -> R {
    let db = ctx.db(key);
    match db.peek(key).map(|e| &e.value) {
        Some(Value::ZSet(z)) => f(Some(Src::Z(z))),
        Some(Value::Set(s)) => f(Some(Src::S(s))),
        _ => f(None),
    }
}

fn zunion(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv, None, 1, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv, None, 1, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv, None, 1, SetOp::Diff, false)
}

fn zunionstore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv, Some(argv[1]), 2, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv, Some(argv[1]), 2, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv, Some(argv[1]), 2, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv, None, 1, SetOp::Inter, true)
}

/// `zunionInterDiffGenericCommand`.
fn setop_generic(
    ctx: &mut Ctx<'_, '_>,
    argv: &[&[u8]],
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let setnum = args::int(argv[numkeys_idx])?;
    if setnum < 1 {
        let name = String::from_utf8_lossy(argv[0]).to_ascii_lowercase();
        return errf(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    let avail = argv.len() - (numkeys_idx + 1);
    if setnum as u64 > avail as u64 {
        return err(SYNTAX);
    }
    let setnum = setnum as usize;
    let keys = &argv[numkeys_idx + 1..numkeys_idx + 1 + setnum];

    // Pass 1: type checks and sizes (counted lookups, lazy expiry).
    let mut lens = Vec::with_capacity(setnum);
    for &k in keys {
        let db = ctx.db(k);
        let len = match db.get(k).map(|e| &e.value) {
            None => 0,
            Some(Value::ZSet(z)) => z.len(),
            Some(Value::Set(s)) => s.len(),
            Some(_) => return Err(WrongType.into()),
        };
        lens.push(len);
    }

    // Options.
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = numkeys_idx + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = argv[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && eq(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                *w = float_arg(argv[j], "ERR weight value is not a float")?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq(a, "aggregate") {
            let v = argv[j + 1];
            agg = if eq(v, "sum") {
                Aggregate::Sum
            } else if eq(v, "min") {
                Aggregate::Min
            } else if eq(v, "max") {
                Aggregate::Max
            } else {
                return err(SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card_only && eq(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq(a, "limit") {
            const NEG: &str = "ERR LIMIT can't be negative";
            let l = args::int_or(argv[j + 1], NEG)?;
            if l < 0 {
                return err(NEG);
            }
            limit = l as usize;
            j += 2;
        } else {
            return err(SYNTAX);
        }
    }

    // Inputs in processing order: by ascending size except for DIFF, whose
    // first input is special (stable sort, as glibc's merge-sort qsort).
    let mut order: Vec<usize> = (0..setnum).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| lens[i]);
    }

    let result: Vec<(f64, Blob)> = match op {
        SetOp::Union => {
            let mut acc: HashMap<Blob, f64> =
                HashMap::with_capacity(order.last().map_or(0, |&i| lens[i]));
            for &i in &order {
                if lens[i] == 0 {
                    continue;
                }
                let w = weights[i];
                with_src(ctx, keys[i], |src| {
                    if let Some(src) = src {
                        src.for_each(|m, s| {
                            let mut score = w * s;
                            if score.is_nan() {
                                score = 0.0;
                            }
                            match acc.get_mut(m) {
                                Some(t) => aggregate(t, score, agg),
                                None => {
                                    acc.insert(Blob::new(m), score);
                                }
                            }
                        });
                    }
                });
            }
            acc.into_iter().map(|(m, s)| (s, m)).collect()
        }
        SetOp::Inter => {
            let first = order[0];
            if lens[first] == 0 {
                Vec::new()
            } else {
                let w0 = weights[first];
                let mut cand: Vec<(f64, Blob)> = with_src(ctx, keys[first], |src| {
                    let mut v = Vec::new();
                    if let Some(src) = src {
                        src.for_each(|m, s| {
                            let mut score = w0 * s;
                            if score.is_nan() {
                                score = 0.0;
                            }
                            v.push((score, Blob::new(m)));
                        });
                    }
                    v
                });
                for &i in &order[1..] {
                    if cand.is_empty() {
                        break;
                    }
                    let w = weights[i];
                    with_src(ctx, keys[i], |src| match src {
                        None => cand.clear(),
                        Some(src) => cand.retain_mut(|(score, m)| match src.score(m) {
                            Some(s) => {
                                aggregate(score, s * w, agg);
                                true
                            }
                            None => false,
                        }),
                    });
                }
                cand
            }
        }
        SetOp::Diff => {
            if lens[0] == 0 {
                Vec::new()
            } else {
                let mut cand: Vec<(f64, Blob)> = with_src(ctx, keys[0], |src| {
                    let mut v = Vec::new();
                    if let Some(src) = src {
                        src.for_each(|m, s| v.push((s, Blob::new(m))));
                    }
                    v
                });
                for (i, &k) in keys.iter().enumerate().skip(1) {
                    if cand.is_empty() {
                        break;
                    }
                    if lens[i] == 0 {
                        continue;
                    }
                    with_src(ctx, k, |src| {
                        if let Some(src) = src {
                            cand.retain(|(_, m)| src.score(m).is_none());
                        }
                    });
                }
                cand
            }
        }
    };

    if card_only {
        let n = if limit > 0 {
            result.len().min(limit)
        } else {
            result.len()
        };
        ctx.out.int(n as i64);
        return Ok(());
    }
    if let Some(dst) = dst {
        let lim = limits(ctx.db(dst));
        let event = String::from_utf8_lossy(argv[0]).to_ascii_lowercase();
        store_result(ctx, dst, result, lim, &event);
        return Ok(());
    }
    // The reply only needs the order (Redis replies from its temporary
    // skiplist, so a -0 score stays -0 here).
    let mut result = result;
    result.sort_unstable_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.cmp(&b.1))
    });
    let it = result.iter().map(|(s, m)| (m.as_slice(), *s));
    reply_pairs(ctx.out, it, withscores);
    Ok(())
}

// ---------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------

/// `parseScanCursorOrReply`: an unsigned decimal (strtoul: a leading `-`
/// wraps, as in C), no leading space, nothing after.
fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let bad = || CmdError::msg("ERR invalid cursor");
    let (neg, digits) = match arg.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        // strtoul of "" gives 0 with nothing consumed: eptr[0] == '\0'.
        if arg.is_empty() {
            return Ok(0);
        }
        return Err(bad());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

fn zscan(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[2])?;
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(z) = zread(db, key)? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < argv.len() {
        let left = argv.len() - i;
        if eq(argv[i], "count") && left >= 2 {
            let c = args::int(argv[i + 1])?;
            if c < 1 {
                return err(SYNTAX);
            }
            count = usize::try_from(c).unwrap_or(usize::MAX);
            i += 2;
        } else if eq(argv[i], "match") && left >= 2 {
            let p = argv[i + 1];
            pattern = if p == b"*" { None } else { Some(p) };
            i += 2;
        } else {
            return err(SYNTAX);
        }
    }
    let mut items: Vec<(Blob, f64)> = Vec::new();
    let next = z.scan(cursor, count, |m, s| {
        if pattern.is_none_or(|p| ferrocache_engine::glob::glob_match(p, m, false)) {
            items.push((Blob::new(m), s));
        }
    });
    out.array(2);
    let mut b = itoa::Buffer::new();
    out.bulk(b.format(next).as_bytes());
    out.array(items.len() * 2);
    for (m, s) in &items {
        out.bulk(m);
        out.bulk(ferrocache_protocol::reply::format_double(*s).as_bytes());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// BZPOPMIN / BZPOPMAX / BZMPOP (H3)
// ---------------------------------------------------------------------------

/// BZMPOP's keys: numkeys at argv[2].
fn bzmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    numkeys_at(argv, 2)
}

fn bzpopmin(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, true)
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout: `[key, member, score]` from the
/// first non-empty sorted set, else block on all keys (Redis's
/// `blockingGenericZpopCommand`: timeout first, a wrong-typed key before a
/// non-empty one is an error, a null array when blocking is denied).
fn bzpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], max: bool) -> CmdResult {
    let last = argv.len() - 1;
    let timeout = crate::blocking::parse_timeout_secs(argv[last])?;
    let keys = &argv[1..last];
    for &key in keys {
        let (db, out) = ctx.db_out(key);
        let Some(z) = zwrite(db, key)? else {
            continue;
        };
        let Some((m, sc)) = z.pop(max) else {
            continue;
        };
        out.array(3);
        out.bulk(key);
        let at = out.len();
        out.bulk(&m);
        out.double(sc);
        let empty = z.is_empty();
        db.dirty += 1;
        if empty {
            db.remove(key);
        }
        notify_zpop(ctx, key, max, empty, at);
        return Ok(());
    }
    if ctx.client.deny_blocking {
        ctx.out.null_array();
        return Ok(());
    }
    // Served later as `BZPOPMIN <key> 0` with blocking denied.
    let serve = keys
        .iter()
        .map(|k| (Blob::new(k), crate::blocking::argv_of(&[argv[0], k, b"0"])))
        .collect();
    crate::blocking::block(ctx, crate::blocking::Kind::Zset, timeout, serve)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: ZMPOP's
/// argument checks first, then the timeout (Redis's order).
fn bzmpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let shifted = &argv[1..];
    let where_idx = zmpop_check(shifted)?;
    let timeout = crate::blocking::parse_timeout_secs(argv[1])?;
    let mark = ctx.out.len();
    zmpop(ctx, shifted)?;
    let null: &[u8] = if ctx.out.is_resp3() {
        b"_\r\n"
    } else {
        b"*-1\r\n"
    };
    if ctx.client.deny_blocking || ctx.out.as_bytes().get(mark..) != Some(null) {
        return Ok(());
    }
    ctx.out.truncate(mark);
    // Served later as `BZMPOP 0 1 <key> MIN|MAX [COUNT n]`.
    let tail = &shifted[where_idx..];
    let serve = shifted[2..where_idx]
        .iter()
        .map(|k| {
            let mut a = crate::blocking::argv_of(&[argv[0], b"0", b"1", k]);
            a.extend(tail.iter().map(|t| t.to_vec()));
            (Blob::new(k), a)
        })
        .collect();
    crate::blocking::block(ctx, crate::blocking::Kind::Zset, timeout, serve)
}

/// ZMPOP's argument checks without popping (same order and texts as
/// [`zmpop`]); returns the index of MIN|MAX.
fn zmpop_check(argv: &[&[u8]]) -> Result<usize, CmdError> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = args::int_or(argv[1], NUMKEYS)?;
    if numkeys < 1 {
        return err(NUMKEYS);
    }
    let where_idx = 2u64.saturating_add(numkeys as u64);
    let Some(&wh) = usize::try_from(where_idx).ok().and_then(|i| argv.get(i)) else {
        return err(SYNTAX);
    };
    if !eq(wh, "min") && !eq(wh, "max") {
        return err(SYNTAX);
    }
    let where_idx = where_idx as usize;
    let mut count_seen = false;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if !count_seen && eq(argv[j], "count") && more > 0 {
            j += 1;
            const COUNT: &str = "ERR count should be greater than 0";
            if args::int_or(argv[j], COUNT)? < 1 {
                return err(COUNT);
            }
            count_seen = true;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    Ok(where_idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_redis() {
        assert_eq!(strtod_full(b""), Some(0.0));
        assert_eq!(strtod_full(b" 1.5"), Some(1.5));
        assert_eq!(strtod_full(b"1.5 "), None);
        assert_eq!(strtod_full(b"  "), None);
        assert_eq!(strtod_full(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod_full(b"+Inf"), Some(f64::INFINITY));
        assert_eq!(strtod_full(b"nan"), None);
        assert_eq!(strtod_full(b"abc"), None);
        assert_eq!(strtod_full(b"1\0x"), Some(1.0));
    }

    #[test]
    fn double_args() {
        assert_eq!(parse_double(b"1e400"), None);
        assert_eq!(parse_double(b"1e-400"), None);
        assert_eq!(parse_double(b"0e5"), Some(0.0));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b" 1"), None);
    }

    #[test]
    fn selections() {
        let s = Selection::by_index(10, -3, -1, false);
        assert_eq!((s.start, s.count), (7, 3));
        let s = Selection::by_index(10, 0, 0, true);
        assert_eq!((s.start, s.count, s.rev), (9, 1, true));
        let s = Selection::by_index(10, 5, 2, false);
        assert_eq!(s.count, 0);
        let s = Selection::by_index(10, i64::MIN, i64::MAX, false);
        assert_eq!((s.start, s.count), (0, 10));
        let s = Selection::by_ranks(10, 2, 8, true, 1, 2);
        assert_eq!((s.start, s.count), (6, 2));
        assert_eq!(Selection::by_ranks(10, 2, 8, false, -1, 2).count, 0);
        assert_eq!(Selection::by_ranks(10, 2, 8, false, 1, -1).count, 5);
    }

    #[test]
    fn cursors() {
        assert_eq!(parse_cursor(b"0").ok(), Some(0));
        assert_eq!(parse_cursor(b"-1").ok(), Some(u64::MAX));
        assert!(parse_cursor(b"x").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"99999999999999999999999").is_err());
    }
}
