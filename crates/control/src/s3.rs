//! The backup store on an S3-compatible object store
//! (`serve --backup-store s3://BUCKET/PREFIX --s3-endpoint http://HOST:PORT`):
//! path-style requests signed with SigV4 (the crate's own signer, service
//! `s3`), over a minimal HTTP/1.1 client on a plain TCP stream. Objects are
//! streamed from and to local files (the body's SHA-256 is signed, so the
//! store rejects a corrupted upload). Plain `http://` endpoints only (a
//! local MinIO, Ceph RGW, moto…): there is no TLS client in the build.

use crate::backup::BackupStore;
use crate::sigv4;
use crate::util::{hex, iso8601, now_ms, uri_encode};
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

pub struct S3Store {
    /// host:port of the endpoint.
    host: String,
    bucket: String,
    /// Key prefix, without leading slash, ending in '/' unless empty.
    prefix: String,
    region: String,
    akid: String,
    secret: String,
    token: Option<String>,
}

/// A response: status, headers (lowercase names) and the reader
/// positioned at the body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: BufReader<TcpStream>,
}

impl Response {
    fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    }

    /// Copies the body (Content-Length or chunked) into `w`.
    fn copy_body(&mut self, w: &mut impl Write) -> Result<u64> {
        if self
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            let mut total = 0;
            loop {
                let mut line = String::new();
                self.body.read_line(&mut line)?;
                let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| anyhow!("bad chunk size from the object store"))?;
                if size == 0 {
                    return Ok(total);
                }
                let n = std::io::copy(&mut (&mut self.body).take(size), w)?;
                if n != size {
                    bail!("object store response ended early");
                }
                total += n;
                let mut crlf = [0u8; 2];
                self.body.read_exact(&mut crlf)?;
            }
        }
        match self.header("content-length").map(str::parse::<u64>) {
            Some(Ok(len)) => {
                let n = std::io::copy(&mut (&mut self.body).take(len), w)?;
                if n != len {
                    bail!("object store response ended early ({n} of {len} bytes)");
                }
                Ok(n)
            }
            _ => Ok(std::io::copy(&mut self.body, w)?),
        }
    }

    fn text(mut self) -> String {
        let mut v = Vec::new();
        let _ = self.copy_body(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }
}

impl S3Store {
    /// `url` is `s3://BUCKET[/PREFIX]`; credentials come from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN).
    /// Checks that the bucket answers.
    pub fn from_env(url: &str, endpoint: Option<&str>, region: &str) -> Result<S3Store> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let (Some(akid), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            bail!("--backup-store s3://…: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the object store");
        };
        S3Store::new(
            url,
            endpoint,
            region,
            akid,
            secret,
            var("AWS_SESSION_TOKEN"),
        )
    }

    /// Same, with the credentials given.
    pub fn new(
        url: &str,
        endpoint: Option<&str>,
        region: &str,
        akid: String,
        secret: String,
        token: Option<String>,
    ) -> Result<S3Store> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| anyhow!("--backup-store: expected s3://BUCKET/PREFIX, got {url}"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("--backup-store {url}: no bucket");
        }
        let mut prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        let Some(endpoint) = endpoint else {
            bail!("--backup-store s3://… needs --s3-endpoint http://HOST:PORT (an S3-compatible store reachable over plain HTTP)");
        };
        let Some(host) = endpoint.strip_prefix("http://") else {
            bail!("--s3-endpoint {endpoint}: only http:// endpoints are supported (no TLS client in this build)");
        };
        let host = host.trim_end_matches('/').to_string();
        let s = S3Store {
            host,
            bucket: bucket.to_string(),
            prefix,
            region: region.to_string(),
            akid,
            secret,
            token,
        };
        let r = s
            .request("HEAD", &format!("/{}", s.bucket), None)
            .with_context(|| format!("cannot reach the object store at {endpoint}"))?;
        if r.status != 200 {
            bail!(
                "bucket {} on {endpoint}: HTTP {} (does it exist, are the credentials right?)",
                s.bucket,
                r.status
            );
        }
        Ok(s)
    }

    fn object_path(&self, name: &str) -> String {
        format!(
            "/{}/{}",
            self.bucket,
            uri_encode(&format!("{}{name}", self.prefix), true)
        )
    }

    /// Sends one signed request; `body` is a file streamed as the body.
    fn request(&self, method: &str, path: &str, body: Option<&Path>) -> Result<Response> {
        let (hash, len) = match body {
            Some(p) => {
                let mut f = std::fs::File::open(p)
                    .with_context(|| format!("cannot open {}", p.display()))?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 64 * 1024];
                let mut n = 0u64;
                loop {
                    let k = f.read(&mut buf)?;
                    if k == 0 {
                        break;
                    }
                    h.update(buf.get(..k).unwrap_or(&[]));
                    n += k as u64;
                }
                (hex(&h.finalize()), n)
            }
            None => (sigv4::sha256_hex(b""), 0),
        };
        let amz: String = iso8601(now_ms())
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .take(15)
            .collect::<String>()
            + "Z";
        let mut headers = vec![
            ("host".to_string(), self.host.clone()),
            ("x-amz-content-sha256".to_string(), hash),
            ("x-amz-date".to_string(), amz.clone()),
        ];
        if let Some(t) = &self.token {
            headers.push(("x-amz-security-token".to_string(), t.clone()));
        }
        let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        let r = sigv4::Request {
            method,
            path,
            query: "",
            headers: &headers,
            body: b"",
        };
        let canonical = sigv4::canonical_request(&r, &signed);
        let scope = format!(
            "{}/{}/s3/aws4_request",
            amz.get(..8).unwrap_or(""),
            self.region
        );
        let sig = sigv4::signature(&self.secret, &amz, &scope, &canonical);
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
            self.akid,
            signed.join(";")
        );
        let s = TcpStream::connect(&self.host)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.set_write_timeout(Some(Duration::from_secs(60)))?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "authorization: {auth}\r\ncontent-length: {len}\r\n\r\n"
        ));
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, &s);
        w.write_all(req.as_bytes())?;
        if let Some(p) = body {
            let mut f = std::fs::File::open(p)?;
            let n = std::io::copy(&mut (&mut f).take(len), &mut w)?;
            if n != len {
                bail!("{} changed while uploading", p.display());
            }
        }
        w.flush()?;
        drop(w);
        let mut body = BufReader::with_capacity(64 * 1024, s);
        let mut line = String::new();
        body.read_line(&mut line)?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad HTTP status line from the object store: {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if body.read_line(&mut h)? == 0 {
                break;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        if method == "HEAD" {
            headers.retain(|(k, _)| k != "content-length" && k != "transfer-encoding");
            headers.push(("content-length".into(), "0".into()));
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn fail(&self, what: &str, name: &str, r: Response) -> anyhow::Error {
        let status = r.status;
        let text = r.text();
        let code = text
            .split("<Code>")
            .nth(1)
            .and_then(|x| x.split("</Code>").next())
            .unwrap_or("");
        anyhow!(
            "object store: {what} s3://{}/{}{name}: HTTP {status} {code}",
            self.bucket,
            self.prefix
        )
    }
}

impl BackupStore for S3Store {
    fn put(&self, name: &str, src: &Path) -> Result<u64> {
        let len = std::fs::metadata(src)?.len();
        let r = self.request("PUT", &self.object_path(name), Some(src))?;
        if r.status / 100 != 2 {
            return Err(self.fail("PUT", name, r));
        }
        Ok(len)
    }

    fn get(&self, name: &str, dst: &Path) -> Result<()> {
        let mut r = self.request("GET", &self.object_path(name), None)?;
        if r.status != 200 {
            return Err(self.fail("GET", name, r));
        }
        let tmp = std::path::PathBuf::from(format!("{}.tmp", dst.display()));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        r.copy_body(&mut f)?;
        f.flush()?;
        drop(f);
        std::fs::rename(&tmp, dst)?;
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<()> {
        let r = self.request("DELETE", &self.object_path(name), None)?;
        if r.status / 100 != 2 && r.status != 404 {
            return Err(self.fail("DELETE", name, r));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "s3://{}/{} at http://{}",
            self.bucket, self.prefix, self.host
        )
    }
}
