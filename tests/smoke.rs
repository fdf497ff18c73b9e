//! Smoke test: the binary starts, answers PING/SET/GET through the `redis`
//! crate, and protocol errors are answered and close the connection.

mod common;

use std::time::Duration;

#[test]
fn ping_set_get() {
    let node = common::start_ferrocache(&[]);
    let mut c = node.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(b"v\x00\xff")
        .query(&mut c)
        .unwrap();
    let v: Vec<u8> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, b"v\x00\xff");
}

#[test]
fn protocol_error_closes_after_earlier_replies() {
    let node = common::start_ferrocache(&[]);
    let out = common::raw_roundtrip(
        &node,
        b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n",
        Duration::from_millis(100),
    );
    assert_eq!(
        out,
        b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
    );
}
