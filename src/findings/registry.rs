//! Reads what an OCI registry holds about an image (the distribution API, with the credentials
//! docker would use when the registry asks for them): that the
//! digest exists, and cosign's signatures (`sha256-<hex>.sig`) and attestations (`.att`). Every
//! blob is checked against its digest. Loopback registries are spoken to over plain HTTP, as
//! Docker does for `localhost`; every other one over HTTPS.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::Digest;

use super::ParsedReport;
use super::registry_auth::{Keychain, authorize, no_login, parse_challenge};
use super::signature::{Envelope, ImageEvidence, SignedPayload};
use crate::logstore::sanitize::excerpt;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
                              application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// A signature payload or an attestation is small; anything larger is not one.
const BLOB_LIMIT: usize = 16 * 1024 * 1024;
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// Reads the registry for every image among `reports`, with the credentials `keychain` finds.
pub async fn read_all(reports: &mut [ParsedReport], keychain: &Keychain, timeout: Duration) {
    for ev in reports.iter_mut().filter_map(|r| r.image.as_mut()) {
        read(ev, keychain, timeout).await;
    }
}

/// Fills in the signatures and attestations, or the problem that stopped it.
pub async fn read(ev: &mut ImageEvidence, keychain: &Keychain, timeout: Duration) {
    match fetch(ev, keychain, timeout).await {
        Ok((signatures, attestations)) => {
            ev.signatures = signatures;
            ev.attestations = attestations;
            ev.problem = None;
        }
        Err(e) => ev.problem = Some(excerpt(&e, 300)),
    }
}

/// One repository's reads, answering the registry's challenge once and keeping what it gave.
struct Reader<'a> {
    http: reqwest::Client,
    keychain: &'a Keychain,
    host: String,
    repo: String,
    base: String,
    authorization: Option<String>,
    /// Where the credentials sent came from, if any were.
    login_source: Option<String>,
    challenged: bool,
}

impl Reader<'_> {
    /// The bytes at `url`, None when the registry has nothing there.
    async fn get(&mut self, url: &str, accept: &str) -> Result<Option<Vec<u8>>, String> {
        let host = self.host.clone();
        loop {
            let mut req = self.http.get(url).header("Accept", accept);
            if let Some(a) = &self.authorization {
                req = req.header("Authorization", a);
            }
            let resp = req.send().await.map_err(|e| format!("{host} did not answer: {e}"))?;
            let status = resp.status().as_u16();
            if status == 401 && !self.challenged {
                self.challenged = true;
                let challenge = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge)
                    .ok_or_else(|| format!("{host} wants credentials in a way flightdeck does not speak"))?;
                let login = self.keychain.login_for(&host).await?;
                self.authorization = Some(authorize(&self.http, &challenge, login.as_ref(), &host, &self.repo).await?);
                self.login_source = login.map(|l| l.source);
                continue;
            }
            if status == 401 || status == 403 {
                return Err(match &self.login_source {
                    None => no_login(&host, &self.repo),
                    Some(source) => format!("{host} does not let the credentials from {source} read {} ({status})", self.repo),
                });
            }
            if status == 404 {
                return Ok(None);
            }
            if status != 200 {
                return Err(format!("{host} answered {status}"));
            }
            let bytes = resp.bytes().await.map_err(|e| format!("{host}'s answer was cut off: {e}"))?;
            if bytes.len() > BLOB_LIMIT {
                return Err(format!("{host} sent {} MB where a manifest or signature was expected", bytes.len() >> 20));
            }
            return Ok(Some(bytes.to_vec()));
        }
    }

    async fn manifest(&mut self, reference: &str) -> Result<Option<Vec<u8>>, String> {
        let url = format!("{}/manifests/{reference}", self.base);
        self.get(&url, MANIFEST_TYPES).await
    }

    /// A blob, checked against its digest.
    async fn blob(&mut self, digest: &str) -> Result<Vec<u8>, String> {
        let url = format!("{}/blobs/{digest}", self.base);
        let bytes = self.get(&url, "*/*").await?.ok_or_else(|| format!("blob {digest} is missing"))?;
        let hex: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if digest != format!("sha256:{hex}") {
            return Err(format!("blob {digest} does not match its digest"));
        }
        Ok(bytes)
    }
}

/// The host the distribution API is served from (Docker Hub's images are named `docker.io/…`).
fn api_host(host: &str) -> &str {
    if host == "docker.io" || host == "index.docker.io" { "registry-1.docker.io" } else { host }
}

fn layers(bytes: Vec<u8>) -> Result<Vec<Layer>, String> {
    serde_json::from_slice::<Manifest>(&bytes).map(|m| m.layers).map_err(|e| format!("a signature manifest is not an OCI manifest: {e}"))
}

async fn fetch(ev: &ImageEvidence, keychain: &Keychain, timeout: Duration) -> Result<(Vec<SignedPayload>, Vec<Envelope>), String> {
    let (host, repo) = ev.image.split_once('/').ok_or_else(|| format!("{} names no registry", ev.image))?;
    let host = api_host(host);
    let loopback = host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
    let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut reader = Reader {
        http,
        keychain,
        host: host.to_string(),
        repo: repo.to_string(),
        base: format!("{}://{host}/v2/{repo}", if loopback { "http" } else { "https" }),
        authorization: None,
        login_source: None,
        challenged: false,
    };
    if reader.manifest(&ev.digest).await?.is_none() {
        return Err(format!("{}@{} is not in the registry", ev.image, ev.digest));
    }
    let tag = ev.digest.replacen(':', "-", 1);
    let mut signatures = Vec::new();
    if let Some(m) = reader.manifest(&format!("{tag}.sig")).await? {
        for l in layers(m)?.into_iter().filter(|l| l.media_type == SIMPLE_SIGNING) {
            let signature = l.annotations.get(SIGNATURE_ANNOTATION).cloned().unwrap_or_default();
            signatures.push(SignedPayload { payload: B64.encode(reader.blob(&l.digest).await?), signature });
        }
    }
    let mut attestations = Vec::new();
    if let Some(m) = reader.manifest(&format!("{tag}.att")).await? {
        for l in layers(m)?.into_iter().filter(|l| l.media_type == DSSE) {
            let bytes = reader.blob(&l.digest).await?;
            match serde_json::from_slice::<Envelope>(&bytes) {
                Ok(mut e) => {
                    e.read_statement();
                    attestations.push(e);
                }
                Err(e) => return Err(format!("an attestation is not a DSSE envelope: {e}")),
            }
        }
    }
    Ok((signatures, attestations))
}
