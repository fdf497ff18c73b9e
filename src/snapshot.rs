//! `ferrocache snapshot …`: offline tools for snapshot files, and the
//! command-line preparation of `ferrocache redis`'s snapshot parameters.
//!
//! - `snapshot inspect FILE [--key-file K]`: format (plain RDB or
//!   encrypted envelope, key id), RDB version, checksum status, keys per
//!   database and per type, expiring keys, functions, size. Exit status 1
//!   when the file does not read completely.
//! - `snapshot convert IN OUT [--key-file K] [--new-key-file K2]`: read IN
//!   (decrypting with K if it is encrypted) and write OUT encrypted with K2,
//!   or plain when no K2 is given. The RDB bytes are copied as they are,
//!   after a full validation pass, so a file from redis-server stays byte
//!   for byte the same inside the envelope. OUT is written crash-safely.

use anyhow::{bail, Context, Result};
use ferrocache_persist::crypt::{self, Key};
use ferrocache_persist::file::FinishWrite;
use ferrocache_persist::{read_rdb, Item};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: ferrocache snapshot inspect FILE [--key-file K]
       ferrocache snapshot convert IN OUT [--key-file K] [--new-key-file K2]";

/// `ferrocache redis` command-line preparation for the snapshot
/// parameters (`snapshot-encryption-key-file`, `rdb-load-partial`,
/// `rdb-version` are configuration parameters, see
/// `ferrocache_redis::config`): a relative `--snapshot-encryption-key-file`
/// is made absolute, because the node changes into `dir` before its first
/// save or load, as redis-server does.
pub fn absolute_key_file(args: &[String]) -> Result<Vec<String>> {
    let mut out = args.to_vec();
    for i in 0..out.len() {
        if out[i].eq_ignore_ascii_case("--snapshot-encryption-key-file") {
            let Some(v) = out.get(i + 1) else {
                bail!("--snapshot-encryption-key-file needs a path");
            };
            if !v.is_empty() && Path::new(v).is_relative() {
                let abs = std::env::current_dir()
                    .context("cannot resolve --snapshot-encryption-key-file")?
                    .join(v);
                out[i + 1] = abs.to_string_lossy().into_owned();
            }
        }
    }
    Ok(out)
}

pub fn run(args: &[String]) -> Result<()> {
    let mut pos = Vec::new();
    let mut key: Option<Key> = None;
    let mut new_key: Option<Key> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--key-file" | "--new-key-file" => {
                let Some(p) = args.get(i + 1) else {
                    bail!("{} needs a path\n{USAGE}", args[i]);
                };
                let k = Key::from_file(Path::new(p))
                    .with_context(|| format!("cannot read key file '{p}'"))?;
                if args[i] == "--key-file" {
                    key = Some(k);
                } else {
                    new_key = Some(k);
                }
                i += 2;
            }
            _ => {
                pos.push(args[i].clone());
                i += 1;
            }
        }
    }
    match pos.first().map(String::as_str) {
        Some("inspect") if pos.len() == 2 => inspect(Path::new(&pos[1]), key.as_ref()),
        Some("convert") if pos.len() == 3 => convert(
            Path::new(&pos[1]),
            Path::new(&pos[2]),
            key.as_ref(),
            new_key.as_ref(),
        ),
        _ => bail!("{USAGE}"),
    }
}

fn open(path: &Path, key: Option<&Key>) -> Result<(Box<dyn Read>, bool)> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open '{}'", path.display()))?;
    let mut head = [0u8; 8];
    let n = f.read(&mut head).unwrap_or(0);
    let encrypted = crypt::is_encrypted(&head[..n]);
    let f = std::fs::File::open(path)?;
    let r = crypt::open_maybe_encrypted(f, key)
        .with_context(|| format!("cannot open '{}'", path.display()))?;
    Ok((r, encrypted))
}

fn inspect(path: &Path, key: Option<&Key>) -> Result<()> {
    let mut out = String::new();
    let res = inspect_into(path, key, &mut out);
    // Written in one go, and a closed pipe (`inspect … | head`) is not an
    // error worth a panic: println! would panic on EPIPE.
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.context("cannot write to stdout")?,
    }
    res
}

fn inspect_into(path: &Path, key: Option<&Key>, out: &mut String) -> Result<()> {
    use std::fmt::Write as _;
    macro_rules! println {
        ($($t:tt)*) => {{ let _ = writeln!(out, $($t)*); }};
    }
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot open '{}'", path.display()))?
        .len();
    println!("file: {}", path.display());
    println!("size: {size} bytes");
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)?.read(&mut head).unwrap_or(0);
    if crypt::is_encrypted(&head[..n]) {
        println!("encrypted: yes (AES-256-GCM envelope v1)");
        if n == 64 {
            println!(
                "kdf: {}",
                if head[9] == 0 {
                    "raw 32-byte key"
                } else {
                    "PBKDF2-HMAC-SHA256 passphrase"
                }
            );
            if head[9] == 0 {
                println!("key id: {}", crypt::hex(&head[32..40]));
            }
        }
        if key.is_none() {
            println!("contents: not readable without --key-file");
            return Ok(());
        }
    } else {
        println!("encrypted: no");
    }
    let (r, _) = open(path, key)?;
    let tun = ferrocache_engine::keyspace::Tunables::default();
    let mut per_db: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
    let mut per_type: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut aux = Vec::new();
    let res = read_rdb(std::io::BufReader::new(r), &tun, true, |item| {
        match item {
            Item::Key(k) => {
                let e = per_db.entry(k.db).or_default();
                e.0 += 1;
                if k.expire_ms.is_some() {
                    e.1 += 1;
                }
                *per_type.entry(k.value.type_name()).or_default() += 1;
            }
            Item::Aux(a, b) => aux.push((a, b)),
            Item::Function(_) => {}
        }
        Ok(())
    });
    for (a, b) in &aux {
        println!(
            "aux {}: {}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        );
    }
    let total: u64 = per_db.values().map(|v| v.0).sum();
    println!("keys: {total}");
    for (db, (n, e)) in &per_db {
        println!("db{db}: keys={n} expires={e}");
    }
    for (t, n) in &per_type {
        println!("type {t}: {n}");
    }
    match res {
        Ok(s) => {
            // read_rdb stops at the EOF opcode and checksum; an encrypted
            // envelope must also end right there (no data after its final
            // chunk), which only reading the rest of it proves.
            if key.is_some() {
                let (mut r, encrypted) = open(path, key)?;
                if encrypted {
                    if let Err(e) = std::io::copy(&mut r, &mut std::io::sink()) {
                        println!("status: error");
                        bail!("{}: {e}", path.display());
                    }
                }
            }
            println!("rdb version: {}", s.version);
            println!("functions: {}", s.functions);
            println!(
                "checksum: {}",
                if s.checksum_verified {
                    "ok"
                } else {
                    "not present (0)"
                }
            );
            println!("status: ok");
            Ok(())
        }
        Err(e) => {
            println!("status: error");
            bail!("{}: {e}", path.display())
        }
    }
}

fn convert(input: &Path, output: &Path, key: Option<&Key>, new_key: Option<&Key>) -> Result<()> {
    // Validate the whole input first: never produce a converted copy of a
    // damaged snapshot.
    {
        let (r, _) = open(input, key)?;
        let tun = ferrocache_engine::keyspace::Tunables::default();
        read_rdb(std::io::BufReader::new(r), &tun, true, |_| Ok(()))
            .with_context(|| format!("'{}' is not a valid snapshot", input.display()))?;
    }
    let (mut r, _) = open(input, key)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!("temp-convert-{}.rdb", std::process::id()));
    let result = (|| -> Result<()> {
        let f = std::fs::File::create(&tmp)?;
        let bw = std::io::BufWriter::with_capacity(1 << 20, f.try_clone()?);
        match new_key {
            Some(k) => {
                let mut w = crypt::EncryptWriter::new(bw, k)?;
                std::io::copy(&mut r, &mut w)?;
                w.finish()?;
            }
            None => {
                let mut w = bw;
                std::io::copy(&mut r, &mut w)?;
                w.flush()?;
            }
        }
        f.sync_all()?;
        std::fs::rename(&tmp, output)?;
        ferrocache_persist::file::sync_dir(output)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    println!(
        "wrote {} ({})",
        output.display(),
        if new_key.is_some() {
            "encrypted"
        } else {
            "plain RDB"
        }
    );
    Ok(())
}
