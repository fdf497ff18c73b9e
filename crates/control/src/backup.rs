//! The backup store: where snapshot files live. A directory by default
//! (`data-dir/backups`); the controller and the API only use the
//! [`BackupStore`] trait, so an object store can stand in (see
//! `crate::s3`). Objects are whole RDB files (or encrypted envelopes, as the
//! node wrote them) named `<snapshot>.rdb`; transfers go through local
//! files, so multi-GB snapshots never sit in memory.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub trait BackupStore: Send + Sync {
    /// Stores the file `src` as object `name`; returns its size.
    fn put(&self, name: &str, src: &Path) -> Result<u64>;
    /// Writes object `name` to the local file `dst`.
    fn get(&self, name: &str, dst: &Path) -> Result<()>;
    /// Removes object `name` (absent is fine).
    fn delete(&self, name: &str) -> Result<()>;
    /// Copies object `from` to `to` inside the store.
    fn copy(&self, from: &str, to: &str, scratch: &Path) -> Result<u64> {
        let tmp = scratch.join(format!(".copy-{to}"));
        self.get(from, &tmp)?;
        let r = self.put(to, &tmp);
        std::fs::remove_file(&tmp).ok();
        r
    }
    /// For humans and logs: where the objects are.
    fn describe(&self) -> String;
}

/// Snapshot files in a local directory.
pub struct DirStore {
    pub dir: PathBuf,
}

impl DirStore {
    pub fn new(dir: PathBuf) -> Result<DirStore> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
        Ok(DirStore { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        // Names are snapshot names (checked ids) plus ".rdb": no separators.
        self.dir.join(name.replace('/', "_"))
    }
}

fn copy_atomic(src: &Path, dst: &Path) -> Result<u64> {
    let tmp = PathBuf::from(format!("{}.tmp", dst.display()));
    let n = std::fs::copy(src, &tmp)
        .with_context(|| format!("cannot copy {} to {}", src.display(), tmp.display()))?;
    std::fs::rename(&tmp, dst)?;
    Ok(n)
}

impl BackupStore for DirStore {
    fn put(&self, name: &str, src: &Path) -> Result<u64> {
        copy_atomic(src, &self.path(name))
    }

    fn get(&self, name: &str, dst: &Path) -> Result<()> {
        copy_atomic(&self.path(name), dst).map(|_| ())
    }

    fn delete(&self, name: &str) -> Result<()> {
        match std::fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn copy(&self, from: &str, to: &str, _scratch: &Path) -> Result<u64> {
        copy_atomic(&self.path(from), &self.path(to))
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}
