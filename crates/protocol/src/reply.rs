//! Reply encoding for RESP2 and RESP3.
//!
//! Command handlers write replies straight into the connection's output
//! buffer through [`ReplyWriter`]; nothing is built as an intermediate value,
//! so a reply costs no allocation beyond the buffer's own growth. The writer
//! knows the connection's protocol version and degrades RESP3 types (maps,
//! sets, doubles, booleans, nulls) to their RESP2 shapes exactly as Redis does.

/// Protocol version negotiated with HELLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RespVersion {
    #[default]
    Resp2,
    Resp3,
}

/// Appends encoded replies to a byte buffer.
///
/// Pushes addressed to the connection that is running a command (its own
/// keyspace notifications, a PUBLISH to a channel it listens to) go in at
/// the *push mark* ([`ReplyWriter::push_own`]) rather than at the end:
/// Redis writes them into the client's buffer the moment the event fires
/// inside the command, which for most commands is before their reply. The
/// mark is reset to the end at the start of each command
/// ([`ReplyWriter::begin_reply`]), so by default such pushes land before
/// everything the command has replied so far; a handler whose Redis
/// counterpart replies first moves the mark ([`ReplyWriter::mark_here`],
/// [`ReplyWriter::set_push_mark`]). Costs nothing when nobody pushes.
#[derive(Debug, Default)]
pub struct ReplyWriter {
    buf: Vec<u8>,
    version: RespVersion,
    /// Where the next own push goes (`<= buf.len()`).
    mark: usize,
    /// While set (a Lua script's reply buffer), own pushes are collected
    /// here instead, for the caller's real buffer.
    aside: Option<Vec<u8>>,
}

impl ReplyWriter {
    pub fn new(version: RespVersion) -> Self {
        ReplyWriter {
            buf: Vec::with_capacity(16 * 1024),
            version,
            mark: 0,
            aside: None,
        }
    }

    /// A command starts replying: own pushes go at the current end until
    /// the mark moves.
    #[inline]
    pub fn begin_reply(&mut self) {
        self.mark = self.buf.len();
    }

    /// What was written so far precedes the next own pushes (the handler
    /// replied before the event, as its Redis counterpart does).
    #[inline]
    pub fn mark_here(&mut self) {
        self.mark = self.buf.len();
    }

    /// Put the next own pushes at `pos` (a previous `len()` of this
    /// command's reply), e.g. right after an array header.
    #[inline]
    pub fn set_push_mark(&mut self, pos: usize) {
        self.mark = pos.min(self.buf.len());
    }

    /// Write a push for this very connection at the push mark, which then
    /// moves past it (several pushes keep their order).
    pub fn push_own(&mut self, bytes: &[u8]) {
        if let Some(a) = self.aside.as_mut() {
            a.extend_from_slice(bytes);
            return;
        }
        let at = self.mark.min(self.buf.len());
        if at == self.buf.len() {
            self.buf.extend_from_slice(bytes);
        } else {
            self.buf.splice(at..at, bytes.iter().copied());
        }
        self.mark = at + bytes.len();
    }

    /// Collect own pushes aside (`on`) instead of writing them: for a
    /// buffer that is not the connection's (a script's `redis.call`
    /// replies). Turning it on drops anything collected before.
    pub fn divert_pushes(&mut self, on: bool) {
        self.aside = if on { Some(Vec::new()) } else { None };
    }

    /// The pushes collected while diverted (leaves diversion on).
    pub fn take_diverted(&mut self) -> Vec<u8> {
        self.aside.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub fn version(&self) -> RespVersion {
        self.version
    }

    pub fn set_version(&mut self, v: RespVersion) {
        self.version = v;
    }

    pub fn is_resp3(&self) -> bool {
        self.version == RespVersion::Resp3
    }

    /// Encoded bytes not yet sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.mark = 0;
    }

    /// Drop everything written after `mark` (a previous `len()`), used when a
    /// reply must be discarded (CLIENT REPLY OFF/SKIP).
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
        self.mark = self.mark.min(self.buf.len());
    }

    /// Take the encoded bytes, leaving an empty buffer.
    pub fn take(&mut self) -> Vec<u8> {
        self.mark = 0;
        std::mem::take(&mut self.buf)
    }

    /// Give a buffer back (after it was written to the socket) to reuse its
    /// capacity.
    pub fn restore(&mut self, mut buf: Vec<u8>) {
        if self.buf.is_empty() {
            buf.clear();
            self.buf = buf;
            self.mark = 0;
        }
    }

    /// Append already-encoded RESP.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string (`+...`). Must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply. `msg` is the full text including its code
    /// (`ERR ...`, `WRONGTYPE ...`). CR/LF are replaced by spaces, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// An error reply from raw bytes (client input quoted in the message is
    /// sent as-is, as Redis does); CR/LF become spaces.
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        for &c in msg {
            self.buf
                .push(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (e.g. GET of an int-encoded value).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null a missing bulk string gets: `$-1` (RESP2) or `_` (RESP3).
    pub fn null(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null a missing aggregate gets: `*-1` (RESP2) or `_` (RESP3).
    pub fn null_array(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, len: usize) {
        self.header(b'*', len as i64);
    }

    /// A map of `len` pairs: `%len` in RESP3, a flat array of `2*len` in RESP2.
    pub fn map(&mut self, len: usize) {
        if self.is_resp3() {
            self.header(b'%', len as i64);
        } else {
            self.header(b'*', 2 * len as i64);
        }
    }

    /// A set: `~len` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        if self.is_resp3() {
            self.header(b'~', len as i64);
        } else {
            self.header(b'*', len as i64);
        }
    }

    /// A push message header (`>len` in RESP3, an array in RESP2).
    pub fn push(&mut self, len: usize) {
        if self.is_resp3() {
            self.header(b'>', len as i64);
        } else {
            self.header(b'*', len as i64);
        }
    }

    /// A double: `,` in RESP3, a bulk string in RESP2. Formatting follows
    /// Redis 7.0's `addReplyDouble` (`%.17g`, `inf`/`-inf`).
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        if self.is_resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.is_resp3() {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(i64::from(b));
        }
    }

    /// A verbatim string (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, format: &str, data: &[u8]) {
        if self.is_resp3() {
            self.header(b'=', (data.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(data);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(data);
        }
    }
}

/// Format a double as C's `printf("%.17g")` does, with Redis's spelling of
/// infinities. Used for ZSCORE and friends (Redis 7.0 `addReplyDouble`).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g(d, 17)
}

/// C `%.<prec>g` formatting.
pub fn format_g(d: f64, prec: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let prec = prec.max(1);
    // Exponent as %e would print it after rounding to `prec` significant digits.
    let e_repr = format!("{:.*e}", prec - 1, d);
    let (mantissa, exp) = match e_repr.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (e_repr.clone(), 0),
    };
    if exp < -4 || exp >= prec as i32 {
        let m = strip_trailing_zeros(&mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        let a = exp.unsigned_abs();
        if a < 10 {
            format!("{m}e{sign}0{a}")
        } else {
            format!("{m}e{sign}{a}")
        }
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        let f = format!("{:.*}", decimals, d);
        strip_trailing_zeros(&f)
    }
}

fn strip_trailing_zeros(s: &str) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17() {
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(123456789.0), "123456789");
        assert_eq!(format_double(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_g(3.0, 17), "3");
    }

    #[test]
    fn resp2_degrades() {
        let mut w = ReplyWriter::new(RespVersion::Resp2);
        w.map(1);
        w.null();
        w.null_array();
        w.boolean(true);
        w.double(1.5);
        assert_eq!(w.as_bytes(), b"*2\r\n$-1\r\n*-1\r\n:1\r\n$3\r\n1.5\r\n");
        let mut w = ReplyWriter::new(RespVersion::Resp3);
        w.map(1);
        w.null();
        w.boolean(true);
        w.double(1.5);
        assert_eq!(w.as_bytes(), b"%1\r\n_\r\n#t\r\n,1.5\r\n");
    }

    #[test]
    fn own_pushes_go_at_the_mark() {
        let mut w = ReplyWriter::new(RespVersion::Resp3);
        w.ok();
        w.begin_reply();
        w.array(2);
        let at = w.len();
        w.int(1);
        w.push_own(b">1\r\n:7\r\n");
        w.push_own(b">1\r\n:8\r\n");
        w.int(2);
        assert_eq!(
            w.as_bytes(),
            b"+OK\r\n>1\r\n:7\r\n>1\r\n:8\r\n*2\r\n:1\r\n:2\r\n"
        );
        w.set_push_mark(at + 16);
        w.push_own(b"_\r\n");
        w.mark_here();
        w.push_own(b"#t\r\n");
        assert_eq!(
            w.as_bytes(),
            b"+OK\r\n>1\r\n:7\r\n>1\r\n:8\r\n*2\r\n_\r\n:1\r\n:2\r\n#t\r\n"
        );
        w.truncate(3);
        w.push_own(b":0\r\n");
        assert_eq!(w.as_bytes(), b"+OK:0\r\n");
        w.divert_pushes(true);
        w.push_own(b":9\r\n");
        assert_eq!(w.take_diverted(), b":9\r\n");
        assert_eq!(w.as_bytes(), b"+OK:0\r\n");
    }
}
