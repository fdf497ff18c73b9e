//! Minimal differential check of the harness itself.

mod common;

#[test]
fn get_set_ping_match_redis() {
    let Some(mut p) = common::Pair::start(&["--threads", "2"]) else {
        return;
    };
    for c in [
        "PING",
        "SET a 1",
        "GET a",
        "GET missing",
        "DEL a a b",
        "ECHO hi",
        "NOSUCH x y",
    ] {
        p.check_str(c);
    }
}
