//! Key → hash slot, exactly as Redis Cluster computes it: CRC16 (XMODEM) of
//! the key, or of the first non-empty `{hash tag}`, modulo 16,384.
//!
//! The same slot decides which shard (thread-local lock domain) owns a key, so
//! cluster mode and slot migration reuse the mapping the threads already use.

pub const SLOTS: usize = 16384;

const fn make_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            j += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static TABLE: [u16; 256] = make_table();

pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc = (crc << 8) ^ TABLE[usize::from(((crc >> 8) as u8) ^ b)];
    }
    crc
}

/// The hash slot of `key`.
pub fn key_slot(key: &[u8]) -> usize {
    let mut hashed = key;
    if let Some(open) = key.iter().position(|&c| c == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&c| c == b'}') {
            if len > 0 {
                hashed = &key[open + 1..open + 1 + len];
            }
        }
    }
    usize::from(crc16(hashed)) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slots() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"{}foo"), usize::from(crc16(b"{}foo")) & 16383);
    }
}
