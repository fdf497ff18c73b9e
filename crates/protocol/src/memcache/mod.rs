//! memcached 1.6 wire formats: the text protocol ([`text`]), its meta
//! commands ([`meta`]) and the binary protocol ([`binary`]).
//!
//! Pure parsers and encoders, no I/O and no store, so each can be fuzzed on
//! its own (`fuzz/fuzz_targets/mc_*.rs`). The memcached engine
//! (`ferrocache-memcached`) gives the parsed requests their meaning.
//!
//! Number parsing copies memcached's `safe_strto*` helpers (C `strtoul`
//! semantics, including their quirks: leading whitespace and a `+` sign are
//! accepted, a 64-bit value is truncated to 32 bits for flags), because
//! clients see the difference as `CLIENT_ERROR` versus success.

pub mod binary;
pub mod meta;
pub mod text;

#[cfg(test)]
mod tests {
    /// The fuzz targets' properties on pseudo-random input, so `cargo test`
    /// exercises them without cargo-fuzz: no parser panics or loops.
    #[test]
    fn parsers_survive_random_input() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 300) as usize;
            let alphabet = b" \r\n\0\x80ab0123456789-+=|mgsvTNq";
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        r as u8
                    } else {
                        alphabet[(r as usize / 4) % alphabet.len()]
                    }
                })
                .collect();
            let mut rest = data.as_slice();
            while let super::text::Line::Complete { line, consumed } = super::text::next_line(rest)
            {
                let t = super::text::tokenize(line);
                for tok in &t.tokens {
                    let _ = super::text::strtoull(tok);
                    let _ = super::text::strtol(tok);
                }
                if let Some((k, f)) = t.tokens.split_first() {
                    let _ = super::meta::preparse(k, f);
                }
                rest = rest.get(consumed..).unwrap_or(&[]);
            }
            let _ = super::meta::b64_decode(&data);
            let mut rest = data.as_slice();
            while let super::binary::Framed::Request { consumed, .. } =
                super::binary::parse_request(rest, 1 << 20)
            {
                rest = rest.get(consumed..).unwrap_or(&[]);
            }
        }
    }
}
