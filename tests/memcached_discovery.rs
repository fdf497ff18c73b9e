//! pymemcache's HashClient over three ferrocache memcached nodes, driven
//! by Auto Discovery: it sees a node added and a node removed
//! (`tests/mc_python/discovery.py`). The interpreter comes from
//! `FERROCACHE_PYTHON` (scripts/test makes a venv with pymemcache).

mod mc_common;

#[test]
fn pymemcache_hashclient_follows_discovery() {
    let Some(python) = std::env::var_os("FERROCACHE_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "FERROCACHE_PYTHON is not set (scripts/test creates a venv with pymemcache)"
        );
        eprintln!("FERROCACHE_PYTHON not set: skipping");
        return;
    };
    let nodes: Vec<_> = (0..3).map(|_| mc_common::start_ferrocache(&[])).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mc_python/discovery.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(nodes.iter().map(|n| n.port.to_string()))
        .output()
        .expect("run python");
    assert!(
        out.status.success() && out.stdout.starts_with(b"ok"),
        "discovery.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
