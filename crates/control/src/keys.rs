//! At-rest encryption keys held by the service. A replication group created
//! with `AtRestEncryptionEnabled` gets its own random 256-bit key, kept in
//! `data-dir/keys/<name>.key` (mode 0600); its node is started with
//! `--snapshot-encryption-key-file` on that file, so every RDB the node
//! writes is an AES-256-GCM envelope (`ferrocache_persist::crypt`), and
//! the backup store keeps those bytes as they are. A snapshot records the
//! key it is encrypted with, so it can be restored after its group is gone:
//! a key lives as long as a cluster or a snapshot names it. Restores and
//! exports re-encrypt (or decrypt) with [`transcode`].

use crate::controller::App;
use crate::model::{Cluster, Snapshot};
use crate::store::{Kind, Txn};
use crate::util::random_string;
use anyhow::{Context, Result};
use ferrocache_persist::crypt::{self, Key};
use ferrocache_persist::file::FinishWrite;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn key_dir(app: &App) -> PathBuf {
    app.data_dir.join("keys")
}

pub fn key_path(app: &App, name: &str) -> PathBuf {
    key_dir(app).join(format!("{name}.key"))
}

/// Creates a new random key for `owner` and returns its name. Called
/// inside the write transaction that records the owner, so the key
/// collector (also in a write transaction) never sees the file without its
/// owner.
pub fn create(app: &App, owner: &str) -> Result<String> {
    use rand::RngCore;
    use std::os::unix::fs::OpenOptionsExt;
    let name = format!(
        "{owner}-{}",
        random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 10)
    );
    std::fs::create_dir_all(key_dir(app))?;
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    let path = key_path(app, &name);
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create key file {}", path.display()))?;
    f.write_all(&k)?;
    f.sync_all()?;
    Ok(name)
}

pub fn load(app: &App, name: &str) -> Result<Key> {
    let path = key_path(app, name);
    Key::from_file(&path).with_context(|| format!("cannot read key file {}", path.display()))
}

/// Copies snapshot file `src` (encrypted with `src_key`, or plain) to `dst`
/// encrypted with `dst_key` (or plain), through a temporary file and a
/// rename. The same key on both sides is a plain copy.
pub fn transcode(
    app: &App,
    src: &Path,
    src_key: Option<&str>,
    dst: &Path,
    dst_key: Option<&str>,
) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", dst.display()));
    if src_key == dst_key {
        std::fs::copy(src, &tmp).with_context(|| format!("cannot copy {}", src.display()))?;
    } else {
        let sk = src_key.map(|n| load(app, n)).transpose()?;
        let dk = dst_key.map(|n| load(app, n)).transpose()?;
        let f =
            std::fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
        let mut r = crypt::open_maybe_encrypted(f, sk.as_ref())
            .with_context(|| format!("cannot read {}", src.display()))?;
        let out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        match dk {
            Some(k) => {
                let mut w = crypt::EncryptWriter::new(out, &k)?;
                std::io::copy(&mut r, &mut w)?;
                w.finish()?;
            }
            None => {
                let mut w = out;
                std::io::copy(&mut r, &mut w)?;
                w.flush()?;
            }
        }
    }
    std::fs::rename(&tmp, dst)?;
    Ok(())
}

/// Removes key files no cluster or snapshot names any more (in a write
/// transaction: serialized with the creation of new owners).
pub fn collect(app: &App, t: &Txn<'_>) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(key_dir(app)) else {
        return Ok(());
    };
    let mut used = std::collections::HashSet::new();
    for (_, c) in t.list::<Cluster>(Kind::Cluster)? {
        used.extend(c.at_rest_key);
    }
    for (_, s) in t.list::<Snapshot>(Kind::Snapshot)? {
        used.extend(s.key);
    }
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".key") {
            if !used.contains(stem) {
                std::fs::remove_file(e.path()).ok();
            }
        }
    }
    Ok(())
}
