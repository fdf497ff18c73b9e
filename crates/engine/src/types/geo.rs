//! Geospatial hashing, as Redis 7.0's `geohash.c` and `geohash_helper.c`.
//!
//! A position is stored as the score of a sorted set member: a 52-bit
//! geohash interleaving 26 bits of latitude (even bits) and 26 bits of
//! longitude (odd bits), over the Web Mercator limits (longitude ±180,
//! latitude ±85.05112878). A radius or box query covers the search area with
//! the cell holding the centre plus its 8 neighbours at a resolution chosen
//! from the radius; each cell is one contiguous score range of the sorted
//! set, and candidates are then filtered by exact distance.
//!
//! Every computation here mirrors the C code operation for operation (same
//! order of floating point operations, same integer conversions, same libm
//! functions), because replies must be byte-identical to redis-server's:
//! a distance printed with 4 decimals or a point just on a radius boundary
//! depends on the last bit.

/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Latitude limits (EPSG:900913 / Web Mercator: poles cannot be encoded).
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate of a stored position (52 bits in all).
pub const STEP_MAX: u8 = 26;

/// Mean earth radius used by every distance computation.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
/// `M_PI / 180.0`, folded in double precision as the C compiler does.
const D_R: f64 = std::f64::consts::PI / 180.0;

#[inline]
fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

#[inline]
fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A geohash of `step` bits per coordinate (`GeoHashBits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// `HASHISZERO`: the marker of a neighbour excluded from the search.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash shifted to 52 bits (`geohashAlign52Bits`): the lowest score
    /// of the positions inside this cell.
    pub fn align52(&self) -> u64 {
        let shift = 52u32.saturating_sub(u32::from(self.step) * 2);
        self.bits.checked_shl(shift).unwrap_or(0)
    }
}

/// A coordinate interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The area a geohash covers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Area {
    pub hash: HashBits,
    pub longitude: Range,
    pub latitude: Range,
}

/// The ranges positions are encoded over (`geohashGetCoordRange`).
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Interleave the low 32 bits of `x` (even positions) and `y` (odd).
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = u64::from(xlo);
    let mut y = u64::from(ylo);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// Inverse of [`interleave64`]: even bits in the low half, odd bits in the
/// high half.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncode`: the cell of `step` bits per coordinate holding
/// (`longitude`, `latitude`) over the given ranges. None when the position
/// is outside the Web Mercator limits or the ranges.
///
/// A coordinate exactly at its range maximum yields an offset of `2^step`,
/// which spills one bit past the hash (Redis stores such a score as is, and
/// decoding clamps it back): kept for identical scores.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    let scale = (1u64 << step) as f64;
    lat_offset *= scale;
    long_offset *= scale;
    Some(HashBits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// Encode over the standard position ranges.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, step)
}

/// `geohashDecode`: the area a hash covers. None for a zeroed hash.
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let step = u32::from(hash.step);
    let hash_sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = hash_sep as u32;
    let ilono = (hash_sep >> 32) as u32;
    let div = 1u64.checked_shl(step).unwrap_or(0) as f64;
    // `(ilato + 1)` is 32-bit unsigned arithmetic in C: it wraps.
    Some(Area {
        hash,
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) * 1.0 / div) * long_scale,
            max: long_range.min + (f64::from(ilono.wrapping_add(1)) * 1.0 / div) * long_scale,
        },
    })
}

/// The centre of an area, clamped to the position limits
/// (`geohashDecodeAreaToLongLat`).
pub fn area_center(area: &Area) -> (f64, f64) {
    let mut x = (area.longitude.min + area.longitude.max) / 2.0;
    x = x.clamp(LONG_MIN, LONG_MAX);
    let mut y = (area.latitude.min + area.latitude.max) / 2.0;
    y = y.clamp(LAT_MIN, LAT_MAX);
    (x, y)
}

/// C's `(uint64_t)d` as compiled for x86-64, where an out-of-range value is
/// not an error but a specific bit pattern: values below 2^63 go through a
/// signed conversion (negative values wrap, hopeless ones give 2^63), larger
/// ones are offset by 2^63 first. Sorted sets may hold any score, and GEOPOS
/// & co. on such a member must decode the same garbage as Redis.
pub fn score_to_bits(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    fn cvttsd2si(v: f64) -> u64 {
        if (-TWO63..TWO63).contains(&v) {
            v as i64 as u64
        } else {
            1 << 63
        }
    }
    if d < TWO63 {
        cvttsd2si(d)
    } else if d.is_nan() {
        // Unreachable for scores (never NaN); the hardware's answer.
        1 << 63
    } else {
        cvttsd2si(d - TWO63) ^ (1 << 63)
    }
}

/// Decode a sorted set score into (longitude, latitude) as `decodeGeohash`.
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = HashBits {
        bits: score_to_bits(score),
        step: STEP_MAX,
    };
    match decode(LONG_RANGE, LAT_RANGE, hash) {
        Some(area) => area_center(&area),
        None => (0.0, 0.0),
    }
}

/// The score GEOADD stores for a valid position.
pub fn encode_score(longitude: f64, latitude: f64) -> Option<u64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(|h| h.align52())
}

/// The 11-character standard geohash (latitude over -90..90) GEOHASH
/// replies for a stored score. The 11th character stands for bits the
/// 52-bit score does not have: always '0'.
pub fn geohash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (x, y) = decode_score(score);
    let r_long = Range {
        min: -180.0,
        max: 180.0,
    };
    let r_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(r_long, r_lat, x, y, 26).map_or(0, |h| h.bits);
    let mut buf = [b'0'; 11];
    for (i, c) in buf.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    buf
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaaaaaaaaaaaaaau64.checked_shr(shift).unwrap_or(0);
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64.checked_shr(shift).unwrap_or(0);
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555555555555555u64.checked_shr(shift).unwrap_or(0);
    hash.bits = x | y;
}

/// The 8 cells around a hash (`GeoHashNeighbors`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Neighbors {
    pub north: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub south: HashBits,
    pub north_east: HashBits,
    pub south_east: HashBits,
    pub north_west: HashBits,
    pub south_west: HashBits,
}

/// `geohashNeighbors`: x moves longitude (odd bits), y latitude.
pub fn neighbors(hash: &HashBits) -> Neighbors {
    let at = |dx: i8, dy: i8| {
        let mut h = *hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: at(1, 0),
        west: at(-1, 0),
        south: at(0, -1),
        north: at(0, 1),
        north_west: at(-1, 1),
        north_east: at(1, 1),
        south_east: at(1, -1),
        south_west: at(-1, -1),
    }
}

/// `geohashEstimateStepsByRadius`: the resolution at which the 9 cells
/// around the centre cover a radius, coarser towards the poles.
pub fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range_meters = range_meters;
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// A search area (`GeoShape`): centre, shape in the request's unit, and the
/// unit's size in meters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub xy: (f64, f64),
    pub conversion: f64,
    pub kind: ShapeKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// Longitude/latitude bounds of a shape: `[min_lon, min_lat, max_lon,
/// max_lat]` (`geohashBoundingBox`).
pub fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (longitude, latitude) = shape.xy;
    let (height, width) = match shape.kind {
        ShapeKind::Radius(r) => (shape.conversion * r, shape.conversion * r),
        ShapeKind::Box { width, height } => (
            shape.conversion * (height / 2.0),
            shape.conversion * (width / 2.0),
        ),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    let (min_lon, max_lon) = if southern {
        (longitude - long_delta_bottom, longitude + long_delta_bottom)
    } else {
        (longitude - long_delta_top, longitude + long_delta_top)
    };
    [min_lon, latitude - lat_delta, max_lon, latitude + lat_delta]
}

/// The cells to scan for a shape (`GeoHashRadius`): the centre cell and its
/// neighbours, the useless ones zeroed.
#[derive(Debug, Clone, Copy)]
pub struct SearchCells {
    pub hash: HashBits,
    pub neighbors: Neighbors,
    pub area: Area,
}

impl SearchCells {
    /// The 9 cells in the order Redis scans them (`membersOfAllNeighbors`).
    pub fn in_scan_order(&self) -> [HashBits; 9] {
        let n = &self.neighbors;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }
}

/// `geohashCalculateAreasByShapeWGS84`.
pub fn areas_by_shape(shape: &Shape) -> SearchCells {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let (longitude, latitude) = shape.xy;
    let mut radius_meters = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    };
    radius_meters *= shape.conversion;

    let mut steps = estimate_steps_by_radius(radius_meters, latitude);
    let cells = |steps: u8| {
        // The centre is always a valid position (parsed and range-checked,
        // or decoded and clamped), so encoding only fails on bugs.
        let hash = encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps).unwrap_or(HashBits {
            bits: 0,
            step: steps,
        });
        let nb = neighbors(&hash);
        let area = decode(LONG_RANGE, LAT_RANGE, hash).unwrap_or_default();
        (hash, nb, area)
    };
    let (mut hash, mut nb, mut area) = cells(steps);

    // The estimated step can be too fine when the area sits near an edge
    // of the centre cell: then one neighbour does not reach far enough.
    let dec = |h: HashBits| decode(LONG_RANGE, LAT_RANGE, h).unwrap_or_default();
    let decrease_step = dec(nb.north).latitude.max < max_lat
        || dec(nb.south).latitude.min > min_lat
        || dec(nb.east).longitude.max < max_lon
        || dec(nb.west).longitude.min > min_lon;
    if steps > 1 && decrease_step {
        steps -= 1;
        (hash, nb, area) = cells(steps);
    }

    // Drop the neighbours the search area cannot reach.
    if steps >= 2 {
        let zero = HashBits::default();
        if area.latitude.min < min_lat {
            nb.south = zero;
            nb.south_west = zero;
            nb.south_east = zero;
        }
        if area.latitude.max > max_lat {
            nb.north = zero;
            nb.north_east = zero;
            nb.north_west = zero;
        }
        if area.longitude.min < min_lon {
            nb.west = zero;
            nb.south_west = zero;
            nb.north_west = zero;
        }
        if area.longitude.max > max_lon {
            nb.east = zero;
            nb.south_east = zero;
            nb.north_east = zero;
        }
    }
    SearchCells {
        hash,
        neighbors: nb,
        area,
    }
}

/// Distance along a meridian (`geohashGetLatDistance`).
pub fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Haversine great-circle distance in meters (`geohashGetDistance`).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// The distance from the shape's centre to (`x2`, `y2`) if the point lies
/// inside the shape (`geoAppendIfWithinShape`'s test).
pub fn distance_if_within(shape: &Shape, x2: f64, y2: f64) -> Option<f64> {
    let (x1, y1) = shape.xy;
    match shape.kind {
        ShapeKind::Radius(r) => {
            let d = distance(x1, y1, x2, y2);
            // `d > radius` rejects; a NaN distance is accepted, as in C.
            if d > r * shape.conversion {
                None
            } else {
                Some(d)
            }
        }
        ShapeKind::Box { width, height } => {
            let width_m = width * shape.conversion;
            let height_m = height * shape.conversion;
            if lat_distance(y2, y1) > height_m / 2.0 {
                return None;
            }
            if distance(x2, y2, x1, y2) > width_m / 2.0 {
                return None;
            }
            Some(distance(x1, y1, x2, y2))
        }
    }
}

/// The score interval `[min, max)` of the positions inside a cell
/// (`scoresOfGeoHashBox`).
pub fn cell_score_range(hash: HashBits) -> (u64, u64) {
    let min = hash.align52();
    let max = HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    }
    .align52();
    (min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_roundtrip() {
        for (a, b) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ffffff, 0x1234567),
            (u32::MAX, 7),
        ] {
            let i = interleave64(a, b);
            let d = deinterleave64(i);
            assert_eq!(d as u32, a);
            assert_eq!((d >> 32) as u32, b);
        }
    }

    #[test]
    fn known_scores_and_positions() {
        // Values from redis-server 7.0 (GEOADD Sicily ... / ZSCORE / GEOPOS).
        assert_eq!(encode_score(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(encode_score(15.087269, 37.502669), Some(3479447370796909));
        let (x, y) = decode_score(3479099956230698.0);
        assert_eq!(format!("{x:.17}"), "13.36138933897018433");
        assert_eq!(format!("{y:.17}"), "38.11555639549629859");
        assert_eq!(&geohash_string(3479099956230698.0), b"sqc8b49rny0");
        assert_eq!(&geohash_string(3479447370796909.0), b"sqdtr74hyu0");
    }

    #[test]
    fn limits_spill_and_clamp() {
        // Both offsets reach 2^26: the score spills past 52 bits.
        assert_eq!(encode_score(180.0, LAT_MAX), Some(3 << 52));
        assert_eq!(decode_score((3u64 << 52) as f64), (180.0, LAT_MAX));
        assert_eq!(encode_score(180.1, 0.0), None);
        assert_eq!(encode_score(0.0, 85.06), None);
    }

    #[test]
    fn x86_conversion() {
        assert_eq!(score_to_bits(-1.0), u64::MAX);
        assert_eq!(score_to_bits(-0.5), 0);
        assert_eq!(score_to_bits(1e300), 0);
        assert_eq!(score_to_bits(f64::INFINITY), 0);
        assert_eq!(score_to_bits(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(score_to_bits(-1e19), 1 << 63);
        assert_eq!(score_to_bits(9223372036854775808.0), 1 << 63);
        assert_eq!(score_to_bits(3.5), 3);
    }

    #[test]
    fn distances() {
        // GEODIST Sicily Palermo Catania = 166274.1516 m.
        let (x1, y1) = decode_score(3479099956230698.0);
        let (x2, y2) = decode_score(3479447370796909.0);
        assert_eq!(format!("{:.4}", distance(x1, y1, x2, y2)), "166274.1516");
        assert_eq!(lat_distance(0.0, 1.0), distance(0.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn steps() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(1.0, 0.0), 24);
        assert_eq!(estimate_steps_by_radius(5_000_000.0, 0.0), 2);
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(1000.0, 0.0), 14);
        assert_eq!(estimate_steps_by_radius(1000.0, 70.0), 13);
        assert_eq!(estimate_steps_by_radius(1000.0, -81.0), 12);
    }

    #[test]
    fn neighbours_are_adjacent() {
        let h = encode_wgs84(10.0, 10.0, 10).unwrap_or_default();
        let a = decode(LONG_RANGE, LAT_RANGE, h).unwrap_or_default();
        let n = neighbors(&h);
        let north = decode(LONG_RANGE, LAT_RANGE, n.north).unwrap_or_default();
        let east = decode(LONG_RANGE, LAT_RANGE, n.east).unwrap_or_default();
        assert_eq!(north.latitude.min, a.latitude.max);
        assert_eq!(north.longitude, a.longitude);
        assert_eq!(east.longitude.min, a.longitude.max);
        assert_eq!(east.latitude, a.latitude);
    }

    #[test]
    fn cell_ranges_nest() {
        let h = encode_wgs84(-3.7, 40.4, 8).unwrap_or_default();
        let (min, max) = cell_score_range(h);
        let s = encode_score(-3.7, 40.4).unwrap_or(0);
        assert!(min <= s && s < max);
        assert_eq!(max - min, 1 << (52 - 16));
    }
}
