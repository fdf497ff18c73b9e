//! The memcached binary protocol: 24-byte headers, request framing and
//! response encoding (all integers big-endian).
//!
//! A connection speaks binary when its first byte is [`REQ_MAGIC`]. A
//! request is a header followed by `body_len` bytes: extras, then key, then
//! value. Framing errors (bad magic, lengths that do not add up) make
//! memcached close the connection, which is what [`Framed::Invalid`] asks
//! the caller to do.

pub const REQ_MAGIC: u8 = 0x80;
pub const RES_MAGIC: u8 = 0x81;
pub const HEADER_LEN: usize = 24;

/// Opcodes.
pub mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const VERBOSITY: u8 = 0x1b;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// Response statuses.
pub mod status {
    pub const SUCCESS: u16 = 0x00;
    pub const KEY_ENOENT: u16 = 0x01;
    pub const KEY_EEXISTS: u16 = 0x02;
    pub const E2BIG: u16 = 0x03;
    pub const EINVAL: u16 = 0x04;
    pub const NOT_STORED: u16 = 0x05;
    pub const DELTA_BADVAL: u16 = 0x06;
    pub const AUTH_ERROR: u16 = 0x20;
    pub const UNKNOWN_COMMAND: u16 = 0x81;
    pub const ENOMEM: u16 = 0x82;
}

/// The body text memcached sends with an error status.
pub fn status_text(st: u16) -> &'static str {
    match st {
        status::ENOMEM => "Out of memory",
        status::UNKNOWN_COMMAND => "Unknown command",
        status::KEY_ENOENT => "Not found",
        status::EINVAL => "Invalid arguments",
        status::KEY_EEXISTS => "Data exists for key.",
        status::E2BIG => "Too large.",
        status::DELTA_BADVAL => "Non-numeric server-side value for incr or decr",
        status::NOT_STORED => "Not stored.",
        status::AUTH_ERROR => "Auth failure.",
        _ => "UNHANDLED ERROR",
    }
}

/// A request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub opcode: u8,
    pub key_len: u16,
    pub extras_len: u8,
    pub datatype: u8,
    pub vbucket: u16,
    pub body_len: u32,
    pub opaque: u32,
    pub cas: u64,
}

/// A complete request borrowed from the input.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub header: Header,
    pub extras: &'a [u8],
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// What [`parse_request`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A request and the bytes it used.
    Request { req: Request<'a>, consumed: usize },
    /// At least this many bytes are needed in total.
    Incomplete { need: usize },
    /// Not a valid binary request: the connection must be closed.
    Invalid,
}

fn be16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_be_bytes(a)
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

/// Parse the header at the start of `buf`.
pub fn parse_header(buf: &[u8]) -> Option<Header> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    Some(Header {
        opcode: buf.get(1).copied().unwrap_or(0),
        key_len: be16(buf, 2),
        extras_len: buf.get(4).copied().unwrap_or(0),
        datatype: buf.get(5).copied().unwrap_or(0),
        vbucket: be16(buf, 6),
        body_len: be32(buf, 8),
        opaque: be32(buf, 12),
        cas: be64(buf, 16),
    })
}

/// Frame the next request in `buf`. `max_body` bounds the body length a
/// client may announce (memcached refuses anything above its item size
/// limit plus some slack by closing).
pub fn parse_request(buf: &[u8], max_body: usize) -> Framed<'_> {
    match buf.first() {
        None => return Framed::Incomplete { need: HEADER_LEN },
        Some(&REQ_MAGIC) => {}
        Some(_) => return Framed::Invalid,
    }
    let Some(h) = parse_header(buf) else {
        return Framed::Incomplete { need: HEADER_LEN };
    };
    let body = h.body_len as usize;
    let fixed = usize::from(h.key_len) + usize::from(h.extras_len);
    if fixed > body || body > max_body {
        return Framed::Invalid;
    }
    let total = HEADER_LEN + body;
    if buf.len() < total {
        return Framed::Incomplete { need: total };
    }
    let e_end = HEADER_LEN + usize::from(h.extras_len);
    let k_end = e_end + usize::from(h.key_len);
    Framed::Request {
        req: Request {
            header: h,
            extras: buf.get(HEADER_LEN..e_end).unwrap_or(&[]),
            key: buf.get(e_end..k_end).unwrap_or(&[]),
            value: buf.get(k_end..total).unwrap_or(&[]),
        },
        consumed: total,
    }
}

/// Append a response to `out`.
#[allow(clippy::too_many_arguments)]
pub fn write_response(
    out: &mut Vec<u8>,
    opcode: u8,
    status: u16,
    opaque: u32,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let body = extras.len() + key.len() + value.len();
    out.reserve(HEADER_LEN + body);
    out.push(RES_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.push(extras.len() as u8);
    out.push(0);
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&(body as u32).to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&cas.to_be_bytes());
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Append an error response with memcached's text body.
pub fn write_error(out: &mut Vec<u8>, opcode: u8, status: u16, opaque: u32) {
    write_response(
        out,
        opcode,
        status,
        opaque,
        0,
        &[],
        &[],
        status_text(status).as_bytes(),
    );
}

/// Encode a request (tests and clients).
pub fn write_request(
    out: &mut Vec<u8>,
    opcode: u8,
    opaque: u32,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let body = extras.len() + key.len() + value.len();
    out.push(REQ_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.push(extras.len() as u8);
    out.push(0);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(body as u32).to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&cas.to_be_bytes());
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut b = Vec::new();
        write_request(
            &mut b,
            op::SET,
            7,
            9,
            &[0, 0, 0, 1, 0, 0, 0, 0],
            b"key",
            b"value",
        );
        b.extend_from_slice(b"junk");
        match parse_request(&b, 1 << 20) {
            Framed::Request { req, consumed } => {
                assert_eq!(consumed, b.len() - 4);
                assert_eq!(req.header.opcode, op::SET);
                assert_eq!(req.header.opaque, 7);
                assert_eq!(req.header.cas, 9);
                assert_eq!(req.extras.len(), 8);
                assert_eq!(req.key, b"key");
                assert_eq!(req.value, b"value");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_request(b.get(..30).unwrap_or(&[]), 1 << 20),
            Framed::Incomplete { need: 24 + 16 }
        );
        assert_eq!(parse_request(b"\x80", 100), Framed::Incomplete { need: 24 });
        assert_eq!(parse_request(b"get", 100), Framed::Invalid);
        let mut bad = Vec::new();
        write_request(&mut bad, op::GET, 0, 0, &[], b"key", b"");
        bad[11] = 1; // body 1 < key 3
        assert_eq!(parse_request(&bad, 100), Framed::Invalid);
    }

    #[test]
    fn response_layout() {
        let mut o = Vec::new();
        write_error(&mut o, op::GET, status::KEY_ENOENT, 5);
        assert_eq!(o.len(), 24 + 9);
        assert_eq!(&o[..2], &[0x81, 0x00]);
        assert_eq!(&o[6..8], &[0, 1]);
        assert_eq!(&o[24..], b"Not found");
    }
}
