//! Encryption at rest: an authenticated AES-256-GCM envelope around an RDB
//! stream, chunked so that multi-GB snapshots stream through a fixed
//! 64 KiB buffer in both directions.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header (64 bytes):
//!   magic "FCRDBENC" | format u8 = 1 | kdf u8 (0 raw key, 1 PBKDF2-SHA256)
//!   | reserved u16 = 0 | kdf iterations u32 | salt [16] | key id [8]
//!   | nonce prefix [4] | chunk size u32 | reserved [16] = 0
//! chunks: final u8 (0/1) | ciphertext length u32 | ciphertext + 16-byte tag
//! ```
//!
//! Chunk `i` uses nonce = prefix ‖ i (u64 BE) and AAD = header ‖ i ‖ final,
//! so chunks cannot be reordered, moved between files, or dropped from the
//! end (the last chunk must say final, and nothing may follow it); the
//! prefix is random per file, so a key never sees a nonce twice. The key id
//! (first 8 bytes of SHA-256 of the AES key) tells a wrong key apart from a
//! tampered file before any decryption.
//!
//! A key file holding exactly 32 bytes is a raw key; anything else is a
//! passphrase (one trailing newline ignored), stretched with
//! PBKDF2-HMAC-SHA256 and a random per-file salt.

use crate::file::FinishWrite;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"FCRDBENC";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 64;
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
/// PBKDF2 rounds for passphrases (OWASP 2023 guidance for SHA-256).
pub const KDF_ROUNDS: u32 = 600_000;

/// Where the AES key comes from.
#[derive(Clone)]
pub enum Key {
    Raw([u8; 32]),
    Passphrase(Vec<u8>),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Key::Raw(_) => "Key::Raw(..)",
            Key::Passphrase(_) => "Key::Passphrase(..)",
        })
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Key {
    pub fn from_file(p: &Path) -> io::Result<Key> {
        let b = std::fs::read(p)?;
        Key::from_bytes(b)
    }

    pub fn from_bytes(mut b: Vec<u8>) -> io::Result<Key> {
        if let Ok(raw) = <[u8; 32]>::try_from(b.as_slice()) {
            return Ok(Key::Raw(raw));
        }
        if b.last() == Some(&b'\n') {
            b.pop();
            if b.last() == Some(&b'\r') {
                b.pop();
            }
        }
        if b.is_empty() {
            return Err(bad("empty encryption key file"));
        }
        Ok(Key::Passphrase(b))
    }

    /// The AES key for a file with this KDF header.
    fn derive(&self, kdf: u8, rounds: u32, salt: &[u8; 16]) -> io::Result<[u8; 32]> {
        match (self, kdf) {
            (Key::Raw(k), 0) => Ok(*k),
            (Key::Passphrase(p), 1) => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(p, salt, rounds, &mut out);
                Ok(out)
            }
            (Key::Raw(_), _) => Err(bad(
                "wrong key: the snapshot was encrypted with a passphrase, a raw 32-byte key was given",
            )),
            (Key::Passphrase(_), _) => Err(bad(
                "wrong key: the snapshot was encrypted with a raw 32-byte key, a passphrase was given",
            )),
        }
    }
}

/// First 8 bytes of SHA-256 of the AES key.
pub fn key_id(k: &[u8; 32]) -> [u8; 8] {
    let d = Sha256::digest(k);
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[..8]);
    id
}

/// Parsed envelope header.
#[derive(Debug, Clone)]
pub struct Header {
    pub raw: [u8; HEADER_LEN],
    pub kdf: u8,
    pub rounds: u32,
    pub salt: [u8; 16],
    pub key_id: [u8; 8],
    pub prefix: [u8; 4],
    pub chunk: usize,
}

impl Header {
    fn parse(raw: [u8; HEADER_LEN]) -> io::Result<Header> {
        if &raw[..8] != MAGIC {
            return Err(bad("not an encrypted ferrocache snapshot"));
        }
        if raw[8] != FORMAT {
            return Err(bad(format!("unsupported envelope format {}", raw[8])));
        }
        let g = |a: usize, b: usize| raw.get(a..b).unwrap_or_default();
        let rounds = u32::from_le_bytes(g(12, 16).try_into().unwrap_or_default());
        let chunk = u32::from_le_bytes(g(44, 48).try_into().unwrap_or_default()) as usize;
        if chunk == 0 || chunk > 16 << 20 {
            return Err(bad("bad chunk size in envelope header"));
        }
        Ok(Header {
            raw,
            kdf: raw[9],
            rounds,
            salt: g(16, 32).try_into().unwrap_or_default(),
            key_id: g(32, 40).try_into().unwrap_or_default(),
            prefix: g(40, 44).try_into().unwrap_or_default(),
            chunk,
        })
    }
}

fn nonce(prefix: &[u8; 4], i: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(prefix);
    n[4..].copy_from_slice(&i.to_be_bytes());
    n
}

fn aad(header: &[u8; HEADER_LEN], i: u64, fin: bool) -> Vec<u8> {
    let mut a = Vec::with_capacity(HEADER_LEN + 9);
    a.extend_from_slice(header);
    a.extend_from_slice(&i.to_le_bytes());
    a.push(u8::from(fin));
    a
}

/// Encrypting writer. Call [`FinishWrite::finish`] at the end: it writes
/// the final chunk; without it the file reads as truncated.
pub struct EncryptWriter<W: Write> {
    w: W,
    cipher: Aes256Gcm,
    header: [u8; HEADER_LEN],
    prefix: [u8; 4],
    buf: Vec<u8>,
    index: u64,
    done: bool,
}

impl<W: Write> EncryptWriter<W> {
    pub fn new(mut w: W, key: &Key) -> io::Result<Self> {
        use rand::RngCore;
        let mut rng = rand::thread_rng();
        let mut salt = [0u8; 16];
        let mut prefix = [0u8; 4];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut prefix);
        let (kdf, rounds) = match key {
            Key::Raw(_) => (0u8, 0u32),
            Key::Passphrase(_) => (1, KDF_ROUNDS),
        };
        let aes = key.derive(kdf, rounds, &salt)?;
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8] = FORMAT;
        h[9] = kdf;
        h[12..16].copy_from_slice(&rounds.to_le_bytes());
        h[16..32].copy_from_slice(&salt);
        h[32..40].copy_from_slice(&key_id(&aes));
        h[40..44].copy_from_slice(&prefix);
        h[44..48].copy_from_slice(&(CHUNK as u32).to_le_bytes());
        w.write_all(&h)?;
        let cipher = Aes256Gcm::new_from_slice(&aes).map_err(|_| bad("bad key length"))?;
        Ok(EncryptWriter {
            w,
            cipher,
            header: h,
            prefix,
            buf: Vec::with_capacity(CHUNK + TAG),
            index: 0,
            done: false,
        })
    }

    fn emit(&mut self, fin: bool) -> io::Result<()> {
        let n = nonce(&self.prefix, self.index);
        let a = aad(&self.header, self.index, fin);
        self.cipher
            .encrypt_in_place(Nonce::from_slice(&n), &a, &mut self.buf)
            .map_err(|_| bad("encryption failed"))?;
        self.w.write_all(&[u8::from(fin)])?;
        self.w.write_all(&(self.buf.len() as u32).to_le_bytes())?;
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.done {
            return Err(bad("write after finish"));
        }
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.emit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl<W: Write> FinishWrite for EncryptWriter<W> {
    fn finish(&mut self) -> io::Result<()> {
        if !self.done {
            self.emit(true)?;
            self.done = true;
        }
        self.w.flush()
    }
}

/// Decrypting reader: yields plaintext only after each chunk authenticated.
pub struct DecryptReader<R: Read> {
    r: R,
    cipher: Aes256Gcm,
    header: Header,
    buf: Vec<u8>,
    pos: usize,
    index: u64,
    finished: bool,
    /// Encrypted bytes consumed, for error offsets.
    consumed: u64,
}

impl<R: Read> DecryptReader<R> {
    /// `magic_read`: the caller already consumed these leading bytes.
    pub fn new(mut r: R, key: &Key, already: &[u8]) -> io::Result<Self> {
        let mut raw = [0u8; HEADER_LEN];
        let n = already.len().min(HEADER_LEN);
        raw[..n].copy_from_slice(&already[..n]);
        read_full(&mut r, &mut raw[n..]).map_err(|_| bad("truncated encrypted snapshot header"))?;
        let header = Header::parse(raw)?;
        let aes = key.derive(header.kdf, header.rounds, &header.salt)?;
        if key_id(&aes) != header.key_id {
            return Err(bad(format!(
                "wrong key: snapshot key id {}, given key id {}",
                hex(&header.key_id),
                hex(&key_id(&aes))
            )));
        }
        let cipher = Aes256Gcm::new_from_slice(&aes).map_err(|_| bad("bad key length"))?;
        Ok(DecryptReader {
            r,
            cipher,
            header,
            buf: Vec::new(),
            pos: 0,
            index: 0,
            finished: false,
            consumed: HEADER_LEN as u64,
        })
    }

    fn next_chunk(&mut self) -> io::Result<bool> {
        if self.finished {
            // Nothing may follow the final chunk.
            let mut b = [0u8; 1];
            return match self.r.read(&mut b)? {
                0 => Ok(false),
                _ => Err(bad(format!(
                    "data after the final chunk at encrypted offset {}",
                    self.consumed
                ))),
            };
        }
        let mut h = [0u8; 5];
        read_full(&mut self.r, &mut h).map_err(|_| {
            bad(format!(
                "truncated encrypted snapshot (no final chunk) at encrypted offset {}",
                self.consumed
            ))
        })?;
        let fin = match h[0] {
            0 => false,
            1 => true,
            _ => {
                return Err(bad(format!(
                    "corrupt chunk header at encrypted offset {}",
                    self.consumed
                )))
            }
        };
        let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
        if !(TAG..=self.header.chunk + TAG).contains(&len) {
            return Err(bad(format!(
                "corrupt chunk length at encrypted offset {}",
                self.consumed
            )));
        }
        self.buf.resize(len, 0);
        read_full(&mut self.r, &mut self.buf).map_err(|_| {
            bad(format!(
                "truncated encrypted chunk at encrypted offset {}",
                self.consumed
            ))
        })?;
        let n = nonce(&self.header.prefix, self.index);
        let a = aad(&self.header.raw, self.index, fin);
        self.cipher
            .decrypt_in_place(Nonce::from_slice(&n), &a, &mut self.buf)
            .map_err(|_| {
                bad(format!(
                    "authentication failed for chunk {} at encrypted offset {} (tampered or corrupt file)",
                    self.index, self.consumed
                ))
            })?;
        self.consumed += 5 + len as u64;
        self.index += 1;
        self.pos = 0;
        self.finished = fin;
        Ok(true)
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    r.read_exact(buf)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Open a snapshot stream that may be plain RDB or an encrypted envelope.
/// An encrypted one needs `key`; a plain one loads with or without a key
/// (so an RDB file from elsewhere can seed an encrypted node).
pub fn open_maybe_encrypted<R: Read + 'static>(
    mut r: R,
    key: Option<&Key>,
) -> io::Result<Box<dyn Read>> {
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let head = head[..got].to_vec();
    if head.as_slice() == MAGIC {
        let Some(k) = key else {
            return Err(bad("snapshot is encrypted: a key file is required"));
        };
        return Ok(Box::new(DecryptReader::new(r, k, &head)?));
    }
    Ok(Box::new(io::Cursor::new(head).chain(r)))
}

/// True when the stream starts with the envelope magic.
pub fn is_encrypted(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(key: &Key, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = EncryptWriter::new(&mut out, key).expect("new");
            w.write_all(data).expect("write");
            w.finish().expect("finish");
        }
        out
    }

    fn open(enc: Vec<u8>, key: &Key) -> io::Result<Vec<u8>> {
        let mut r = open_maybe_encrypted(io::Cursor::new(enc), Some(key))?;
        let mut v = Vec::new();
        r.read_to_end(&mut v)?;
        Ok(v)
    }

    #[test]
    fn round_trip_sizes_and_failures() {
        let key = Key::Raw([7u8; 32]);
        for n in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
            let enc = round(&key, &data);
            assert_eq!(open(enc.clone(), &key).expect("decrypts"), data);
            // Wrong key.
            let e = open(enc.clone(), &Key::Raw([8u8; 32])).expect_err("wrong key");
            assert!(e.to_string().contains("wrong key"), "{e}");
            // Every truncation fails.
            for cut in [enc.len() - 1, enc.len() - 17, HEADER_LEN + 3, 10] {
                assert!(open(enc[..cut].to_vec(), &key).is_err());
            }
            // A flipped bit anywhere fails.
            for at in [HEADER_LEN - 1, HEADER_LEN + 2, enc.len() - 1, enc.len() / 2] {
                let mut t = enc.clone();
                t[at] ^= 0x10;
                assert!(open(t, &key).is_err(), "flip at {at}");
            }
        }
    }

    #[test]
    fn passphrase_keys() {
        let key = Key::from_bytes(b"correct horse\n".to_vec()).expect("key");
        let enc = round(&key, b"REDIS0010 hello");
        assert_eq!(open(enc.clone(), &key).expect("ok"), b"REDIS0010 hello");
        let other = Key::from_bytes(b"battery staple".to_vec()).expect("key");
        assert!(open(enc, &other).is_err());
    }
}
