//! Reads what an OCI registry holds about an image (the distribution API, anonymously): that the
//! digest exists, and cosign's signatures (`sha256-<hex>.sig`) and attestations (`.att`). Every
//! blob is checked against its digest. Loopback registries are spoken to over plain HTTP, as
//! Docker does for `localhost`; every other one over HTTPS.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::Digest;

use super::ParsedReport;
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

/// Reads the registry for every image among `reports`.
pub async fn read_all(reports: &mut [ParsedReport], timeout: Duration) {
    for ev in reports.iter_mut().filter_map(|r| r.image.as_mut()) {
        read(ev, timeout).await;
    }
}

/// Fills in the signatures and attestations, or the problem that stopped it.
pub async fn read(ev: &mut ImageEvidence, timeout: Duration) {
    match fetch(ev, timeout).await {
        Ok((signatures, attestations)) => {
            ev.signatures = signatures;
            ev.attestations = attestations;
            ev.problem = None;
        }
        Err(e) => ev.problem = Some(excerpt(&e, 300)),
    }
}

async fn fetch(ev: &ImageEvidence, timeout: Duration) -> Result<(Vec<SignedPayload>, Vec<Envelope>), String> {
    let (host, repo) = ev.image.split_once('/').ok_or_else(|| format!("{} names no registry", ev.image))?;
    let loopback = host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]");
    let base = format!("{}://{host}/v2/{repo}", if loopback { "http" } else { "https" });
    let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let get = |url: String, accept: &'static str| {
        let req = client.get(url).header("Accept", accept);
        async move {
            let resp = req.send().await.map_err(|e| format!("{host} did not answer: {e}"))?;
            let status = resp.status().as_u16();
            if status == 404 {
                return Ok(None);
            }
            if status == 401 || status == 403 {
                return Err(format!("{host} wants credentials to read {repo} ({status}); only anonymous reads are supported"));
            }
            if status != 200 {
                return Err(format!("{host} answered {status}"));
            }
            let bytes = resp.bytes().await.map_err(|e| format!("{host}'s answer was cut off: {e}"))?;
            if bytes.len() > BLOB_LIMIT {
                return Err(format!("{host} sent {} MB where a manifest or signature was expected", bytes.len() >> 20));
            }
            Ok(Some(bytes.to_vec()))
        }
    };
    if get(format!("{base}/manifests/{}", ev.digest), MANIFEST_TYPES).await?.is_none() {
        return Err(format!("{}@{} is not in the registry", ev.image, ev.digest));
    }
    let tag = ev.digest.replacen(':', "-", 1);
    let blob = |digest: String| {
        let get = &get;
        let base = &base;
        async move {
            let bytes = get(format!("{base}/blobs/{digest}"), "*/*").await?.ok_or_else(|| format!("blob {digest} is missing"))?;
            let hex: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            if digest != format!("sha256:{hex}") {
                return Err(format!("blob {digest} does not match its digest"));
            }
            Ok::<Vec<u8>, String>(bytes)
        }
    };
    let layers = |bytes: Vec<u8>| -> Result<Vec<Layer>, String> {
        serde_json::from_slice::<Manifest>(&bytes)
            .map(|m| m.layers)
            .map_err(|e| format!("a signature manifest is not an OCI manifest: {e}"))
    };
    let mut signatures = Vec::new();
    if let Some(m) = get(format!("{base}/manifests/{tag}.sig"), MANIFEST_TYPES).await? {
        for l in layers(m)?.into_iter().filter(|l| l.media_type == SIMPLE_SIGNING) {
            let signature = l.annotations.get(SIGNATURE_ANNOTATION).cloned().unwrap_or_default();
            signatures.push(SignedPayload { payload: B64.encode(blob(l.digest).await?), signature });
        }
    }
    let mut attestations = Vec::new();
    if let Some(m) = get(format!("{base}/manifests/{tag}.att"), MANIFEST_TYPES).await? {
        for l in layers(m)?.into_iter().filter(|l| l.media_type == DSSE) {
            let bytes = blob(l.digest).await?;
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
