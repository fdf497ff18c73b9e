//! AWS Signature Version 4 verification, exactly as AWS computes it: the
//! canonical request (method, URI, sorted query, signed headers, payload
//! hash), the string to sign over the credential scope, and the HMAC chain
//! from the secret key. Errors carry AWS's codes and messages.

use crate::util::{hex, parse_amz_date, pct_decode, uri_encode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// An authentication failure: (HTTP status, code, message).
#[derive(Debug, PartialEq)]
pub struct AuthError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn fail(status: u16, code: &'static str, message: impl Into<String>) -> AuthError {
    AuthError {
        status,
        code,
        message: message.into(),
    }
}

pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// (lowercase name, value) in arrival order.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn header<'a>(r: &'a Request<'_>, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The canonical request of SigV4.
pub fn canonical_request(r: &Request<'_>, signed: &[&str]) -> String {
    let path = if r.path.is_empty() { "/" } else { r.path };
    let uri = path
        .split('/')
        .map(|seg| uri_encode(&pct_decode(seg, false), false))
        .collect::<Vec<_>>()
        .join("/");
    let mut q: Vec<(String, String)> = r
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&pct_decode(k, false), false),
                uri_encode(&pct_decode(v, false), false),
            )
        })
        .collect();
    q.sort();
    let query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed {
        let vals: Vec<String> = r
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        headers.push_str(&format!("{name}:{}\n", vals.join(",")));
    }
    let payload = header(r, "x-amz-content-sha256")
        .map(str::to_string)
        .unwrap_or_else(|| sha256_hex(r.body));
    format!(
        "{}\n{uri}\n{query}\n{headers}\n{}\n{payload}",
        r.method,
        signed.join(";")
    )
}

/// The signature of a canonical request.
pub fn signature(secret: &str, amz_date: &str, scope: &str, canonical: &str) -> String {
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let parts: Vec<&str> = scope.split('/').collect();
    let mut k = format!("AWS4{secret}").into_bytes();
    for p in parts.iter().take(4) {
        k = hmac(&k, p.as_bytes());
    }
    hex(&hmac(&k, sts.as_bytes()))
}

/// Verifies a request; `secret_of` looks up an active access key's secret.
/// Returns the access key id.
pub fn verify(
    r: &Request<'_>,
    now_ms: u64,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<String, AuthError> {
    let Some(auth) = header(r, "authorization") else {
        return Err(fail(
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ));
    };
    let (alg, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    if alg != "AWS4-HMAC-SHA256" {
        return Err(fail(
            400,
            "IncompleteSignature",
            format!("Unsupported AWS 'algorithm': '{alg}'"),
        ));
    }
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let date = header(r, "x-amz-date");
    let mut missing = String::new();
    if cred.is_none() {
        missing.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signed.is_none() {
        missing.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if sig.is_none() {
        missing.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(cred), Some(signed), Some(sig), Some(date)) = (cred, signed, sig, date) else {
        return Err(fail(
            400,
            "IncompleteSignature",
            format!("{missing}Authorization={auth}"),
        ));
    };
    let cparts: Vec<&str> = cred.split('/').collect();
    let [akid, day, region, service, term] = cparts.as_slice() else {
        return Err(fail(
            400,
            "IncompleteSignature",
            format!("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{cred}'"),
        ));
    };
    let Some(secret) = secret_of(akid) else {
        return Err(fail(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ));
    };
    if *term != "aws4_request" {
        return Err(fail(403, "SignatureDoesNotMatch", format!("Credential should be scoped with a valid terminator: 'aws4_request', not '{term}'. ")));
    }
    if *service != "elasticache" {
        return Err(fail(
            403,
            "SignatureDoesNotMatch",
            "Credential should be scoped to correct service: 'elasticache'. ",
        ));
    }
    let Some(t) = parse_amz_date(date) else {
        return Err(fail(400, "IncompleteSignature", format!("Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601")));
    };
    if !date.starts_with(day) {
        return Err(fail(403, "SignatureDoesNotMatch", format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{day}' != '{}', from '{date}'.", date.get(..8).unwrap_or(""))));
    }
    const SKEW: u64 = 15 * 60 * 1000;
    if t + SKEW < now_ms || t > now_ms + SKEW {
        return Err(fail(
            403,
            "SignatureDoesNotMatch",
            format!("Signature expired: {date} is now earlier than the allowed 15 minutes window."),
        ));
    }
    let signed_list: Vec<&str> = signed.split(';').collect();
    if !signed_list.contains(&"host") {
        return Err(fail(
            403,
            "SignatureDoesNotMatch",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let canonical = canonical_request(r, &signed_list);
    let scope = format!("{day}/{region}/{service}/{term}");
    let expected = signature(&secret, date, &scope, &canonical);
    // Constant-time comparison.
    let same = expected.len() == sig.len()
        && expected
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(fail(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."));
    }
    Ok(akid.to_string())
}

/// Signs a request the way botocore does (used by our own CLI and tests):
/// returns the headers to add (`x-amz-date`, `authorization`).
#[allow(clippy::too_many_arguments)]
pub fn sign(
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &[u8],
    akid: &str,
    secret: &str,
    region: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    let headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), amz_date.to_string()),
    ];
    let signed = ["content-type", "host", "x-amz-date"];
    let r = Request {
        method,
        path,
        query,
        headers: &headers,
        body,
    };
    let canonical = canonical_request(&r, &signed);
    let scope = format!(
        "{}/{region}/elasticache/aws4_request",
        amz_date.get(..8).unwrap_or("")
    );
    let sig = signature(secret, amz_date, &scope, &canonical);
    let mut out = headers;
    out.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders={}, Signature={sig}",
            signed.join(";")
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example (IAM ListUsers, GET).
    #[test]
    fn aws_example_signature() {
        let headers = vec![
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("host".to_string(), "iam.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let r = Request {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let c = canonical_request(&r, &["content-type", "host", "x-amz-date"]);
        assert_eq!(
            sha256_hex(c.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let sig = signature(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830T123600Z",
            "20150830/us-east-1/iam/aws4_request",
            &c,
        );
        assert_eq!(
            sig,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn verify_round_trip_and_errors() {
        let date = "20240101T000000Z";
        let now = parse_amz_date(date).unwrap();
        let body = b"Action=DescribeCacheClusters&Version=2015-02-02";
        let h = sign(
            "POST",
            "localhost:8080",
            "/",
            "",
            body,
            "AKID",
            "sec",
            "us-east-1",
            date,
        );
        let r = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body,
        };
        let secret = |k: &str| (k == "AKID").then(|| "sec".to_string());
        assert_eq!(verify(&r, now, secret), Ok("AKID".into()));
        let bad = verify(&r, now, |_| Some("other".into())).unwrap_err();
        assert_eq!(bad.code, "SignatureDoesNotMatch");
        assert_eq!(
            verify(&r, now, |_| None).unwrap_err().code,
            "InvalidClientTokenId"
        );
        assert_eq!(
            verify(&r, now + 3_600_000, secret).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let r2 = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &[],
            body,
        };
        assert_eq!(
            verify(&r2, now, secret).unwrap_err().code,
            "MissingAuthenticationToken"
        );
        let h3 = vec![(
            "authorization".to_string(),
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/elasticache/aws4_request"
                .to_string(),
        )];
        let r3 = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &h3,
            body,
        };
        assert_eq!(
            verify(&r3, now, secret).unwrap_err().code,
            "IncompleteSignature"
        );
    }
}
