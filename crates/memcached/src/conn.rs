//! One client connection's protocol state, independent of sockets.
//!
//! The server feeds the bytes read so far to [`Conn::process`], which
//! executes every complete request, appends the replies to `out`, and says
//! how many bytes it used and how many it needs before it can go on. Like
//! memcached, the protocol is chosen per connection from the first byte
//! (`0x80`: binary, anything else: text with meta commands).

use crate::conns::{log_binary, log_line, log_text, ConnInfo};
use crate::engine::{Engine, C};
use ferrocache_protocol::memcache::binary as bin;
use ferrocache_protocol::memcache::text::{next_line, Line};
use std::sync::Arc;

/// Stop executing and let the server flush once this much output waits,
/// so a huge pipeline cannot grow the output buffer without bound.
pub const FLUSH_AT: usize = 64 * 1024;
/// Longest request line we buffer (memcached lets multi-get lines grow;
/// this bounds the memory one client can pin).
pub const MAX_LINE: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Unknown,
    Text,
    Binary,
}

/// Result of one [`Conn::process`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used.
    pub consumed: usize,
    /// Total unconsumed bytes needed before progress is possible
    /// (0: stopped to let output be flushed; call again).
    pub need: usize,
}

/// Per-connection state.
#[derive(Debug)]
pub struct Conn {
    /// Worker thread index (per-worker stats).
    pub worker: usize,
    proto: Proto,
    /// Bytes of an oversized or rejected data block still to discard.
    swallow: usize,
    /// Close once the replies are written (quit, fatal protocol error).
    pub close: bool,
    /// The peer is on a loopback address: may use admin commands
    /// (`config set cluster`).
    pub admin: bool,
    /// The last [`Conn::process`] stopped inside a data block (`stats
    /// conns` reports `conn_nread`).
    pub in_data: bool,
    /// This connection's `stats conns` entry (None in unit tests).
    pub info: Option<Arc<ConnInfo>>,
    /// The clock (Unix ms) of the input batch being processed, read once
    /// by the server per read instead of once per request; 0 when the
    /// caller does not provide one (requests then read the clock).
    pub clock_ms: u64,
}

/// What a command handler did with the input after its request line.
pub(crate) enum Step {
    /// Done; it also used this many bytes after the line (data block).
    Done(usize),
    /// The data block is not complete: this many bytes after the line are
    /// needed.
    NeedData(usize),
}

impl Conn {
    pub fn new(worker: usize, admin: bool) -> Conn {
        Conn {
            worker,
            proto: Proto::Unknown,
            swallow: 0,
            close: false,
            admin,
            in_data: false,
            info: None,
            clock_ms: 0,
        }
    }

    /// The request clock: the batch's ([`Conn::clock_ms`]) or a fresh read.
    pub fn now(&self, eng: &Engine) -> u64 {
        if self.clock_ms != 0 {
            self.clock_ms
        } else {
            eng.now()
        }
    }

    /// The descriptor memcached's log lines name the connection by.
    pub fn fd(&self) -> i32 {
        self.info.as_ref().map_or(-1, |i| i.fd)
    }

    pub(crate) fn swallow(&mut self, n: usize) {
        self.swallow = n;
    }

    /// Execute the complete requests at the start of `buf`.
    pub fn process(&mut self, eng: &Engine, buf: &[u8], out: &mut Vec<u8>) -> Progress {
        let mut pos = 0usize;
        // memcached's `settings.verbose > 1`: trace requests and replies.
        // Read once per batch; `verbosity` applies from the next one.
        let trace = eng.verbosity.load(std::sync::atomic::Ordering::Relaxed) > 1;
        self.in_data = false;
        loop {
            if self.close {
                return Progress {
                    consumed: pos,
                    need: usize::MAX,
                };
            }
            if out.len() >= FLUSH_AT && pos < buf.len() {
                return Progress {
                    consumed: pos,
                    need: 0,
                };
            }
            let rest = buf.get(pos..).unwrap_or(&[]);
            if self.swallow > 0 {
                let n = self.swallow.min(rest.len());
                pos += n;
                self.swallow -= n;
                if self.swallow > 0 {
                    return Progress {
                        consumed: pos,
                        need: 1,
                    };
                }
                continue;
            }
            let Some(&first) = rest.first() else {
                return Progress {
                    consumed: pos,
                    need: 1,
                };
            };
            if self.proto == Proto::Unknown {
                self.proto = if first == bin::REQ_MAGIC {
                    Proto::Binary
                } else {
                    Proto::Text
                };
                if trace {
                    let name = if self.proto == Proto::Binary {
                        "binary"
                    } else {
                        "ascii"
                    };
                    log_line(&format!("{}: Client using the {name} protocol", self.fd()));
                }
            }
            let before = out.len();
            match self.proto {
                Proto::Binary => match crate::binary::process(self, eng, rest, out) {
                    Some(used) => {
                        if trace {
                            log_binary(self.fd(), rest, out.get(before..).unwrap_or(&[]));
                        }
                        pos += used
                    }
                    None => {
                        let need = bin::parse_header(rest)
                            .map(|h| bin::HEADER_LEN + h.body_len as usize)
                            .unwrap_or(bin::HEADER_LEN);
                        return Progress {
                            consumed: pos,
                            need,
                        };
                    }
                },
                _ => match next_line(rest) {
                    Line::Incomplete => {
                        if rest.len() > MAX_LINE {
                            self.close = true;
                            continue;
                        }
                        return Progress {
                            consumed: pos,
                            need: rest.len() + 1,
                        };
                    }
                    Line::TooLong => {
                        self.close = true;
                    }
                    Line::Complete { line, consumed } => {
                        let after = rest.get(consumed..).unwrap_or(&[]);
                        match crate::text::command(self, eng, line, after, out) {
                            Step::Done(extra) => {
                                if trace {
                                    log_text(self.fd(), line, out.get(before..).unwrap_or(&[]));
                                }
                                pos += consumed + extra
                            }
                            Step::NeedData(n) => {
                                self.in_data = true;
                                return Progress {
                                    consumed: pos,
                                    need: consumed + n,
                                };
                            }
                        }
                    }
                },
            }
        }
    }

    /// Count bytes read and written (stats `bytes_read`/`bytes_written`).
    pub fn count_io(&self, eng: &Engine, read: u64, written: u64) {
        if read > 0 {
            eng.add(self.worker, C::BytesRead, read);
        }
        if written > 0 {
            eng.add(self.worker, C::BytesWritten, written);
        }
    }
}
