//! The metadata store: one redb file in the data directory. Every resource
//! is a JSON document under its id in its kind's table. redb serializes
//! write transactions, so a read-modify-write inside [`Store::write`] is
//! atomic with respect to the API threads and the controller, and a commit
//! is durable: after `kill -9` the control plane restarts from exactly the
//! last committed state.

use anyhow::Result;
use redb::{ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;

/// The kinds of record (one redb table each).
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Cluster,
    ReplicationGroup,
    ParamGroup,
    Snapshot,
    Event,
    Tags,
    AccessKey,
    Usage,
    Meta,
}

impl Kind {
    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(match self {
            Kind::Cluster => "cache_clusters",
            Kind::ReplicationGroup => "replication_groups",
            Kind::ParamGroup => "parameter_groups",
            Kind::Snapshot => "snapshots",
            Kind::Event => "events",
            Kind::Tags => "tags",
            Kind::AccessKey => "access_keys",
            Kind::Usage => "usage",
            Kind::Meta => "meta",
        })
    }

    const ALL: [Kind; 9] = [
        Kind::Cluster,
        Kind::ReplicationGroup,
        Kind::ParamGroup,
        Kind::Snapshot,
        Kind::Event,
        Kind::Tags,
        Kind::AccessKey,
        Kind::Usage,
        Kind::Meta,
    ];
}

pub struct Store {
    db: redb::Database,
}

/// A write transaction: reads see its own writes; nothing is visible to
/// others until [`Store::write`] commits it.
pub struct Txn<'a> {
    t: &'a redb::WriteTransaction,
    /// Something was written: commit (otherwise abort, which skips the
    /// fsync of an empty commit: the controller opens a write
    /// transaction per resource every tick and most change nothing).
    dirty: std::cell::Cell<bool>,
}

impl Txn<'_> {
    pub fn get<T: DeserializeOwned>(&self, kind: Kind, key: &str) -> Result<Option<T>> {
        let table = self.t.open_table(kind.def())?;
        let v = table.get(key)?;
        match v {
            Some(g) => Ok(Some(serde_json::from_slice(g.value())?)),
            None => Ok(None),
        }
    }

    pub fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<(String, T)>> {
        let table = self.t.open_table(kind.def())?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_string(), serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    pub fn put<T: Serialize>(&self, kind: Kind, key: &str, v: &T) -> Result<()> {
        let bytes = serde_json::to_vec(v)?;
        let mut table = self.t.open_table(kind.def())?;
        table.insert(key, bytes.as_slice())?;
        self.dirty.set(true);
        Ok(())
    }

    pub fn delete(&self, kind: Kind, key: &str) -> Result<()> {
        let mut table = self.t.open_table(kind.def())?;
        table.remove(key)?;
        self.dirty.set(true);
        Ok(())
    }

    /// A counter in the meta table, incremented and returned.
    pub fn next_seq(&self, name: &str) -> Result<u64> {
        let n = self.get::<u64>(Kind::Meta, name)?.unwrap_or(0) + 1;
        self.put(Kind::Meta, name, &n)?;
        Ok(n)
    }
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let db = redb::Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => anyhow::anyhow!(
                "the metadata store {} is in use by another `ferrocache serve` \
                 (one control plane per data directory)",
                path.display()
            ),
            e => anyhow::anyhow!("cannot open the metadata store {}: {e}", path.display()),
        })?;
        let s = Store { db };
        // Create every table so read transactions never meet a missing one.
        s.write(|t| {
            for k in Kind::ALL {
                t.t.open_table(k.def())?;
            }
            t.dirty.set(true);
            Ok(())
        })?;
        Ok(s)
    }

    /// Runs `f` in a write transaction and commits it when `f` succeeds
    /// (an error aborts: nothing of `f`'s writes is kept).
    pub fn write<R>(&self, f: impl FnOnce(&Txn<'_>) -> Result<R>) -> Result<R> {
        let t = self.db.begin_write()?;
        let txn = Txn {
            t: &t,
            dirty: std::cell::Cell::new(false),
        };
        let r = f(&txn)?;
        if txn.dirty.get() {
            t.commit()?;
        } else {
            t.abort()?;
        }
        Ok(r)
    }

    /// A consistent read of one kind.
    pub fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<(String, T)>> {
        let t = self.db.begin_read()?;
        let table = t.open_table(kind.def())?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push((k.value().to_string(), serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    pub fn get<T: DeserializeOwned>(&self, kind: Kind, key: &str) -> Result<Option<T>> {
        let t = self.db.begin_read()?;
        let table = t.open_table(kind.def())?;
        let v = table.get(key)?;
        match v {
            Some(g) => Ok(Some(serde_json::from_slice(g.value())?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_abort() {
        let dir = std::env::temp_dir().join(format!("fc-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = Store::open(&dir.join("s.redb")).unwrap();
        s.write(|t| t.put(Kind::Meta, "a", &1u64)).unwrap();
        let r: Result<()> = s.write(|t| {
            t.put(Kind::Meta, "a", &2u64)?;
            anyhow::bail!("abort")
        });
        assert!(r.is_err());
        assert_eq!(s.get::<u64>(Kind::Meta, "a").unwrap(), Some(1));
        assert_eq!(s.write(|t| t.next_seq("n")).unwrap(), 1);
        assert_eq!(s.list::<u64>(Kind::Meta).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }
}
