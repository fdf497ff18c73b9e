//! `ferrocache serve`: opens the data directory, re-adopts what runs,
//! starts the controller and the HTTP API.

use crate::api;
use crate::controller::App;
use crate::forward::Forwarders;
use crate::model::AccessKey;
use crate::provision::LocalProvisioner;
use crate::store::{Kind, Store};
use crate::util::{now_ms, random_string};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const SERVE_USAGE: &str = "usage: ferrocache serve [--data-dir DIR] [--listen 127.0.0.1:8080]
                        [--port-range 21000-21999] [--region us-east-1]
                        [--backup-store DIR | s3://BUCKET/PREFIX]
                        [--s3-endpoint URL] [--s3-region REGION]
  S3 credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
  AWS_SESSION_TOKEN) from the environment.";

pub struct ServeOpts {
    pub data_dir: PathBuf,
    pub listen: String,
    pub port_range: (u16, u16),
    pub region: String,
    /// None: data-dir/backups.
    pub backup_store: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    /// Hidden, for tests: lets the loopback admin endpoint move the
    /// schedules' clock (automatic snapshots, maintenance windows).
    pub test_clock: bool,
}

/// The default data directory: `$FERROCACHE_DATA_DIR` or `./ferrocache-data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("FERROCACHE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ferrocache-data"))
}

pub fn parse_opts(args: &[String]) -> Result<ServeOpts> {
    let mut o = ServeOpts {
        data_dir: default_data_dir(),
        listen: "127.0.0.1:8080".into(),
        port_range: (21000, 21999),
        region: "us-east-1".into(),
        backup_store: None,
        s3_endpoint: None,
        s3_region: None,
        test_clock: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut val = || -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .with_context(|| format!("{name} needs a value"))
        };
        match name {
            "--data-dir" => o.data_dir = PathBuf::from(val()?),
            "--listen" => o.listen = val()?,
            "--region" => o.region = val()?,
            "--backup-store" => o.backup_store = Some(val()?),
            "--s3-endpoint" => o.s3_endpoint = Some(val()?),
            "--s3-region" => o.s3_region = Some(val()?),
            "--test-clock" => o.test_clock = true,
            "--port-range" => {
                let v = val()?;
                let (lo, hi) = v.split_once('-').context("--port-range is LOW-HIGH")?;
                let (lo, hi): (u16, u16) = (lo.parse()?, hi.parse()?);
                if lo == 0 || lo > hi {
                    bail!("bad --port-range {v}");
                }
                o.port_range = (lo, hi);
            }
            "-h" | "--help" => bail!("{SERVE_USAGE}"),
            other => bail!("unknown option {other}\n{SERVE_USAGE}"),
        }
    }
    Ok(o)
}

/// A new access key pair, stored.
pub fn new_access_key(store: &Store) -> Result<AccessKey> {
    let k = AccessKey {
        id: format!(
            "AKIA{}",
            random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        ),
        secret: random_string(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
            40,
        ),
        created_ms: now_ms(),
        active: true,
    };
    store.write(|t| t.put(Kind::AccessKey, &k.id, &k))?;
    Ok(k)
}

pub fn print_key(k: &AccessKey) {
    println!("Access key (the secret is shown only now):");
    println!("  AWS_ACCESS_KEY_ID={}", k.id);
    println!("  AWS_SECRET_ACCESS_KEY={}", k.secret);
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

pub fn serve(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{SERVE_USAGE}");
        return Ok(());
    }
    let o = parse_opts(args)?;
    std::fs::create_dir_all(o.data_dir.join("nodes"))
        .with_context(|| format!("cannot create {}", o.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&o.data_dir)?;
    let store = Store::open(&data_dir.join("state.redb"))?;
    let account = store.write(|t| {
        Ok(match t.get::<String>(Kind::Meta, "account")? {
            Some(a) => a,
            None => {
                let a = random_string(b"0123456789", 12);
                t.put(Kind::Meta, "account", &a)?;
                a
            }
        })
    })?;
    let token_path = data_dir.join("admin.token");
    let admin_token = match std::fs::read_to_string(&token_path) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let t = random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 40);
            write_private(&token_path, &t)?;
            t
        }
    };
    let first = store.list::<AccessKey>(Kind::AccessKey)?.is_empty();
    if first {
        let k = new_access_key(&store)?;
        print_key(&k);
    }
    let exe = std::env::var_os("FERROCACHE_NODE_EXE")
        .map(PathBuf::from)
        .map(Ok)
        .unwrap_or_else(std::env::current_exe)?;
    let backups = backup_store(&o, &data_dir)?;
    let app = Arc::new(App {
        store,
        prov: Arc::new(LocalProvisioner::new(exe)),
        fwd: Forwarders::new()?,
        backups,
        data_dir: data_dir.clone(),
        port_range: o.port_range,
        region: o.region.clone(),
        account,
        admin_token,
        metrics: Default::default(),
        ticks: Default::default(),
        clock_offset_ms: Default::default(),
        test_clock: o.test_clock,
    });
    api::ensure_defaults(&app)?;
    let server = Arc::new(
        tiny_http::Server::http(&o.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", o.listen))?,
    );
    std::fs::write(data_dir.join("listen"), &o.listen)?;
    // One pass before answering: re-adopt running nodes, restart missing
    // ones, reopen stable endpoints.
    if let Err(e) = app.tick() {
        eprintln!("controller: {e:#}");
    }
    {
        let app = app.clone();
        std::thread::Builder::new()
            .name("controller".into())
            .spawn(move || app.run())?;
    }
    {
        let app = app.clone();
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || crate::metrics::Metrics::run(app))?;
    }
    println!(
        "ferrocache control plane: http://{} (data in {})",
        o.listen,
        data_dir.display()
    );
    use std::io::Write;
    std::io::stdout().flush().ok();
    let mut workers = Vec::new();
    for i in 0..4 {
        let (server, app) = (server.clone(), app.clone());
        workers.push(
            std::thread::Builder::new()
                .name(format!("api-{i}"))
                .spawn(move || http_loop(&server, &app))?,
        );
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// The backup store the options ask for.
fn backup_store(o: &ServeOpts, data_dir: &Path) -> Result<Box<dyn crate::backup::BackupStore>> {
    match o.backup_store.as_deref() {
        None => Ok(Box::new(crate::backup::DirStore::new(
            data_dir.join("backups"),
        )?)),
        Some(url) if url.starts_with("s3://") => {
            let region = o.s3_region.clone().unwrap_or_else(|| o.region.clone());
            Ok(Box::new(crate::s3::S3Store::from_env(
                url,
                o.s3_endpoint.as_deref(),
                &region,
            )?))
        }
        Some(dir) => {
            if o.s3_endpoint.is_some() {
                bail!("--s3-endpoint needs --backup-store s3://BUCKET/PREFIX");
            }
            Ok(Box::new(crate::backup::DirStore::new(PathBuf::from(dir))?))
        }
    }
}

/// `POST /_admin/clock?advance_ms=N` (loopback, admin token, only with
/// `--test-clock`): moves the schedules' clock; answers the offset.
fn admin_clock(app: &App, url: &str) -> (u16, String) {
    if !app.test_clock {
        return (404, "not found\n".into());
    }
    let q = crate::util::form_decode(url.split_once('?').map(|x| x.1).unwrap_or(""));
    let Some(ms) = q
        .iter()
        .find(|(k, _)| k == "advance_ms")
        .and_then(|(_, v)| v.parse::<i64>().ok())
    else {
        return (400, "advance_ms=N is required\n".into());
    };
    let off = app
        .clock_offset_ms
        .fetch_add(ms, std::sync::atomic::Ordering::SeqCst)
        + ms;
    (200, format!("{off}\n"))
}

fn http_loop(server: &tiny_http::Server, app: &App) {
    loop {
        let Ok(mut rq) = server.recv() else { continue };
        let method = rq.method().as_str().to_ascii_uppercase();
        let url = rq.url().to_string();
        let headers: Vec<(String, String)> = rq
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_string(),
                )
            })
            .collect();
        let loopback = rq.remote_addr().is_some_and(|a| a.ip().is_loopback());
        let mut body = Vec::new();
        let _ = rq.as_reader().take(4 << 20).read_to_end(&mut body);
        let (status, text, ctype) = match url.split('?').next().unwrap_or("") {
            "/metrics.json" if method == "GET" => {
                let q = crate::util::form_decode(url.split_once('?').map(|x| x.1).unwrap_or(""));
                let c = q
                    .iter()
                    .find(|(k, _)| k == "CacheClusterId")
                    .map(|(_, v)| v.as_str());
                (200, app.metrics.json(c), "application/json")
            }
            "/metrics" if method == "GET" => {
                (200, app.metrics.prometheus(), "text/plain; version=0.0.4")
            }
            "/usage" if method == "GET" => {
                match crate::metrics::usage_endpoint(app, &url, &headers, loopback) {
                    Ok(j) => (200, j, "application/json"),
                    Err((s, m)) => (s, m, "text/plain"),
                }
            }
            "/_admin/clock" if method == "POST" => {
                let ok = loopback
                    && headers
                        .iter()
                        .any(|(n, v)| n == "x-ferrocache-admin-token" && *v == app.admin_token);
                if ok {
                    let (s, t) = admin_clock(app, &url);
                    (s, t, "text/plain")
                } else {
                    (403, "forbidden\n".to_string(), "text/plain")
                }
            }
            "/_admin/create-access-key" if method == "POST" => {
                let ok = loopback
                    && headers
                        .iter()
                        .any(|(n, v)| n == "x-ferrocache-admin-token" && *v == app.admin_token);
                if ok {
                    match new_access_key(&app.store) {
                        Ok(k) => (200, format!("{}\n{}\n", k.id, k.secret), "text/plain"),
                        Err(e) => (500, format!("{e:#}"), "text/plain"),
                    }
                } else {
                    (403, "forbidden\n".to_string(), "text/plain")
                }
            }
            _ => {
                let (s, x) = api::handle(app, &method, &url, &headers, &body, loopback);
                (s, x, "text/xml")
            }
        };
        let mut resp = tiny_http::Response::from_string(text).with_status_code(status);
        if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes()) {
            resp.add_header(h);
        }
        let _ = rq.respond(resp);
    }
}
