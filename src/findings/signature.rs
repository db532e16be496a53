//! Signatures and SBOM attestations of the image being promoted, in cosign's format in an OCI
//! registry. Which image: the metadata `docker buildx build --metadata-file` writes
//! (`image.name`, `containerimage.digest`) among a stage's reports. When the stage ends the
//! registry is read (`registry.rs`): the signatures under the tag `sha256-<digest>.sig` (simple
//! signing payloads, each with its signature in the `dev.cosignproject.cosign/signature`
//! annotation) and the attestations under `.att` (DSSE envelopes of in-toto statements). They are
//! verified when the gate judges, against the key the environment trusts (cosign's PEM public
//! key, ECDSA P-256): signed by the key, not signed, signature invalid, or registry unreachable —
//! the last fails closed.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::ParsedReport;
use crate::findings::detect::Format;
use crate::logstore::sanitize::excerpt;

/// The image a run built, and what the registry holds about it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageEvidence {
    /// `registry/repository`, without tag or digest.
    pub image: String,
    /// `sha256:…`
    pub digest: String,
    #[serde(default)]
    pub signatures: Vec<SignedPayload>,
    #[serde(default)]
    pub attestations: Vec<Envelope>,
    /// Why the registry could not be read (then nothing above is known).
    #[serde(default)]
    pub problem: Option<String>,
}

/// One cosign signature: the simple signing payload and its signature, both base64.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SignedPayload {
    pub payload: String,
    pub signature: String,
}

/// One DSSE envelope as cosign stores an attestation (`payload` base64).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    pub payload: String,
    #[serde(default)]
    pub signatures: Vec<EnvelopeSignature>,
    /// What the payload states, read once when the registry is read (an SBOM can be megabytes:
    /// it is not parsed again at every judgement). The signature still covers `payload`.
    #[serde(default)]
    pub statement: Option<Statement>,
}

/// An in-toto statement, as much of it as the gate needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub predicate_type: String,
    /// The sha256 digests it is about.
    pub subjects: Vec<String>,
    /// A CycloneDX or SPDX predicate's components, by identity, sorted.
    pub components: Option<Vec<String>>,
}

impl Envelope {
    /// Reads the statement out of the payload (none when it is not one).
    pub fn read_statement(&mut self) {
        let Ok(payload) = B64.decode(&self.payload) else { return };
        let Ok(statement) = serde_json::from_slice::<serde_json::Value>(&payload) else { return };
        let predicate_type = statement["predicateType"].as_str().unwrap_or_default().to_string();
        let predicate = &statement["predicate"];
        let components = if predicate_type.starts_with("https://cyclonedx.org/bom") {
            super::cyclonedx::component_ids(predicate).ok()
        } else if predicate_type.starts_with("https://spdx.dev/Document") {
            super::spdx::component_ids(predicate).ok()
        } else {
            None
        };
        let subjects = statement["subject"]
            .as_array()
            .map(|s| s.iter().filter_map(|x| x["digest"]["sha256"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        self.statement = Some(Statement { predicate_type, subjects, components });
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

/// A public key an environment trusts: cosign's `cosign.pub` (PEM, PKIX, ECDSA P-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    /// How the verdict names it (the file name).
    pub name: String,
    der: Vec<u8>,
}

impl TrustedKey {
    pub fn from_pem(name: &str, pem: &str) -> Result<TrustedKey, String> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PUBLIC KEY-----")
            .collect();
        if body.is_empty() {
            return Err("not a PEM public key (-----BEGIN PUBLIC KEY-----), as `cosign generate-key-pair` writes".into());
        }
        let der = B64.decode(body).map_err(|e| format!("the PEM body is not base64: {e}"))?;
        // A key that cannot verify anything is refused now, not at the first approval.
        if !is_p256_spki(&der) {
            return Err("not an ECDSA P-256 public key (cosign's default)".into());
        }
        Ok(TrustedKey { name: name.to_string(), der })
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.der).verify(message, signature).is_ok()
    }
}

/// The DER of a P-256 SubjectPublicKeyInfo: id-ecPublicKey with prime256v1, then the point.
fn is_p256_spki(der: &[u8]) -> bool {
    const PRIME256V1: [u8; 8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    der.windows(PRIME256V1.len()).any(|w| w == PRIME256V1)
}

/// buildx's metadata file: which image was built, by digest.
pub fn parse_metadata(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| super::json_problem(&e, "build metadata"))?;
    let digest = v["containerimage.digest"].as_str().ok_or("the build metadata has no `containerimage.digest`")?;
    if !(digest.starts_with("sha256:") && digest.len() == 71 && digest[7..].chars().all(|c| c.is_ascii_hexdigit())) {
        return Err(format!("`{}` is not a sha256 image digest", excerpt(digest, 80)));
    }
    let name = v["image.name"].as_str().ok_or("the build metadata has no `image.name` (was the image pushed?)")?;
    // Several names may be given, comma-separated: the first, without its tag.
    let first = name.split(',').next().unwrap_or_default().trim();
    let image = strip_tag(first);
    if image.is_empty() || !image.contains('/') {
        return Err(format!("`{}` does not name an image in a registry", excerpt(first, 80)));
    }
    let evidence = ImageEvidence {
        image: image.to_string(),
        digest: digest.to_string(),
        problem: Some("the registry has not been read yet".into()),
        ..ImageEvidence::default()
    };
    Ok(ParsedReport { tool: "buildx".into(), image: Some(evidence), ..ParsedReport::empty(shown_as, Format::BuildMetadata) })
}

/// `host:port/repo:tag` → `host:port/repo` (a port's colon is before the last slash).
fn strip_tag(name: &str) -> &str {
    let name = name.split('@').next().unwrap_or(name);
    match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => &name[..colon],
        _ => name,
    }
}

/// What the signatures say, for one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "detail")]
pub enum Signed {
    /// Signed by the trusted key (its name), for this very digest.
    By(String),
    NotSigned,
    /// Signatures exist and none holds for the key and digest (tampered, or another key).
    Invalid(String),
    /// The registry could not be read: nothing is known, and the gate fails closed.
    Unreachable(String),
}

impl Signed {
    pub fn text(&self) -> String {
        match self {
            Signed::By(k) => format!("signed by {k}"),
            Signed::NotSigned => "not signed".into(),
            Signed::Invalid(why) => format!("signature invalid: {why}"),
            Signed::Unreachable(why) => format!("registry unreachable: {why}"),
        }
    }
}

/// The signature verdict of an image for a key.
pub fn verify(ev: &ImageEvidence, key: &TrustedKey) -> Signed {
    if let Some(p) = &ev.problem {
        return Signed::Unreachable(p.clone());
    }
    if ev.signatures.is_empty() {
        return Signed::NotSigned;
    }
    let mut why = Vec::new();
    for s in &ev.signatures {
        let (Ok(payload), Ok(signature)) = (B64.decode(&s.payload), B64.decode(&s.signature)) else {
            why.push("a signature or payload is not base64".to_string());
            continue;
        };
        if !key.verifies(&payload, &signature) {
            why.push(format!("not by {}", key.name));
            continue;
        }
        let signed_for = serde_json::from_slice::<serde_json::Value>(&payload)
            .ok()
            .and_then(|p| p["critical"]["image"]["docker-manifest-digest"].as_str().map(str::to_string));
        match signed_for {
            Some(d) if d == ev.digest => return Signed::By(key.name.clone()),
            Some(d) => why.push(format!("by {} but for another image ({})", key.name, excerpt(&d, 80))),
            None => why.push("the signed payload names no image digest".into()),
        }
    }
    why.dedup();
    Signed::Invalid(format!("{} signature(s), none valid: {}", ev.signatures.len(), why.join("; ")))
}

/// What the SBOM attestations say: signed by the key, about this digest, and how their components
/// compare with the SBOM the pipeline produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SbomCheck {
    pub attested: bool,
    pub components: usize,
    /// Components in the attestation but not the pipeline's SBOM, and the other way round.
    pub added: Vec<String>,
    pub missing: Vec<String>,
    pub text: String,
}

pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// DSSE's pre-authentication encoding: what an envelope's signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

pub fn check_sbom(ev: &ImageEvidence, key: &TrustedKey, pipeline: Option<&[String]>) -> SbomCheck {
    let mut check = SbomCheck::default();
    let hex = ev.digest.trim_start_matches("sha256:");
    let mut seen = Vec::new();
    for env in ev.attestations.iter().filter(|e| e.payload_type == IN_TOTO) {
        let Ok(payload) = B64.decode(&env.payload) else { continue };
        let signed =
            env.signatures.iter().any(|s| B64.decode(&s.sig).is_ok_and(|sig| key.verifies(&pae(&env.payload_type, &payload), &sig)));
        let Some(statement) = &env.statement else { continue };
        let about = statement.subjects.iter().any(|s| s == hex);
        seen.push(format!("{} ({})", excerpt(&statement.predicate_type, 60), if signed { "signed" } else { "not by the key" }));
        let Some(ids) = statement.components.as_ref().filter(|_| signed && about) else { continue };
        check.attested = true;
        check.components = ids.len();
        if let Some(p) = pipeline {
            check.added = ids.iter().filter(|c| p.binary_search(c).is_err()).map(|c| excerpt(c, 120)).collect();
            check.missing = p.iter().filter(|c| ids.binary_search(c).is_err()).map(|c| excerpt(c, 120)).collect();
        }
        break;
    }
    check.text = match (check.attested, pipeline) {
        (false, _) if seen.is_empty() => "no SBOM attestation".into(),
        (false, _) => format!("no signed CycloneDX SBOM attestation for this digest (found: {})", seen.join(", ")),
        (true, None) => format!("SBOM attested ({} components; the pipeline produced no SBOM to compare)", check.components),
        (true, Some(_)) if check.added.is_empty() && check.missing.is_empty() => {
            format!("SBOM attested, {} components, as the pipeline's SBOM", check.components)
        }
        (true, Some(_)) => format!(
            "SBOM attested but differs from the pipeline's: {} more ({}), {} fewer ({})",
            check.added.len(),
            check.added.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            check.missing.len(),
            check.missing.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ),
    };
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_stripped_but_a_registry_port_kept() {
        assert_eq!(strip_tag("127.0.0.1:5000/shop/web:1.4.2"), "127.0.0.1:5000/shop/web");
        assert_eq!(strip_tag("127.0.0.1:5000/shop/web"), "127.0.0.1:5000/shop/web");
        assert_eq!(strip_tag("ghcr.io/acme/web@sha256:abc"), "ghcr.io/acme/web");
    }

    #[test]
    fn pae_is_as_dsse_specifies() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
