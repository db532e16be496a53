//! AWS Signature Version 4: for a POST to `/` (the JSON and query protocols), and for any request
//! (S3's GETs). Written here rather than taken from the AWS SDK: the SDK's signer brings its
//! runtime and HTTP stack with it for one HMAC chain; this is checked against botocore's own
//! signer in the tests.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::credentials::Credentials;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The headers that sign a POST of `body` to `host` at `now`: `x-amz-date`, `authorization`,
/// and the session token when there is one. `extra` headers (lower case, e.g. `x-amz-target`) are
/// signed too and must be sent as given.
pub struct Post<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub host: &'a str,
    pub content_type: &'a str,
    pub extra: &'a [(&'static str, String)],
    pub body: &'a [u8],
}

pub fn sign_post(creds: &Credentials, post: &Post<'_>, now: jiff::Timestamp) -> Vec<(&'static str, String)> {
    let Post { region, service, host, content_type, extra, body } = *post;
    let mut headers: Vec<(&'static str, String)> = vec![("content-type", content_type.to_string())];
    headers.extend(extra.iter().cloned());
    let request =
        Request { method: "POST", path: "/", query: "", region, service, host, headers, payload_hash: hex::encode(Sha256::digest(body)) };
    sign(creds, &request, now)
}

/// Any request: its canonical path and query (already encoded as AWS wants them), the headers to
/// sign besides `host` and `x-amz-date`, and the payload's SHA-256 in hex.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub host: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub payload_hash: String,
}

/// The headers that sign `request` at `now`: `x-amz-date`, `authorization`, and the session
/// token when there is one. The request's own `headers` must be sent as given.
pub fn sign(creds: &Credentials, request: &Request<'_>, now: jiff::Timestamp) -> Vec<(&'static str, String)> {
    let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut headers = request.headers.clone();
    headers.push(("host", request.host.to_string()));
    headers.push(("x-amz-date", amz_date.clone()));
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token", t.clone()));
    }
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = signed.join(";");
    let canonical_request =
        format!("{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}", request.method, request.path, request.query, request.payload_hash);
    let (region, service) = (request.region, request.service);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let key = [date.as_bytes(), region.as_bytes(), service.as_bytes(), b"aws4_request"]
        .iter()
        .fold(format!("AWS4{}", creds.secret_access_key).into_bytes(), |k, part| hmac(&k, part));
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    let mut out = vec![
        ("x-amz-date", amz_date),
        (
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}", creds.access_key_id),
        ),
    ];
    if let Some(t) = &creds.session_token {
        out.push(("x-amz-security-token", t.clone()));
    }
    out
}
