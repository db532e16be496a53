//! A real OCI registry for tests (Debian's `docker-registry`, the distribution project's
//! registry) on a free loopback port with its storage in a temporary directory, and what cosign
//! would push to it: images, signatures (`sha256-<hex>.sig`, simple signing payloads) and
//! attestations (`.att`, DSSE envelopes), signed with keys made here.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;
use sha2::Digest;

use super::registry_token::{ISSUER, SERVICE, TokenSigner};

pub struct Registry {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
    /// How the test itself is let in to push, when the registry wants credentials.
    pusher: Pusher,
}

/// Who may read the registry.
pub enum Access<'a> {
    /// Anyone, as the registry's default.
    Anonymous,
    /// Tokens from `realm`, signed by `signer` (the `auth.token` mode).
    Token { realm: String, signer: Arc<TokenSigner> },
    /// `user`:`password` sent as Basic (the `auth.htpasswd` mode, as ECR answers).
    Htpasswd { user: &'a str, password: &'a str },
}

enum Pusher {
    Nobody,
    Token(Arc<TokenSigner>),
    Basic(String),
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(Access::Anonymous)
    }

    pub fn start_with(access: Access) -> Registry {
        let binary = flightdeck::util::which("docker-registry").unwrap_or_else(|| {
            panic!("`docker-registry` is not installed; install it with: apt-get install -y --no-install-recommends docker-registry")
        });
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("config.yml");
        let (auth, pusher) = match access {
            Access::Anonymous => (String::new(), Pusher::Nobody),
            Access::Token { realm, signer } => {
                let bundle = dir.path().join("token-issuer.pem");
                std::fs::write(&bundle, &signer.cert_pem).unwrap();
                let auth = format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                    bundle.display()
                );
                (auth, Pusher::Token(signer))
            }
            Access::Htpasswd { user, password } => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{}\n", bcrypt(password))).unwrap();
                let auth = format!("auth:\n  htpasswd:\n    realm: flightdeck-test\n    path: {}\n", file.display());
                (auth, Pusher::Basic(format!("Basic {}", B64.encode(format!("{user}:{password}")))))
            }
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(binary).arg("serve").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let registry = Registry { port, child, _dir: dir, pusher };
        let deadline = Instant::now() + Duration::from_secs(20);
        let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        while !(listening() && super::python_tools::get(port, "/v2/").starts_with('{')) {
            assert!(Instant::now() < deadline, "docker-registry did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/v2/{path}", self.port)
    }

    /// The `Authorization` the test pushes to `repo` with, if the registry wants one.
    fn push_authorization(&self, repo: &str) -> Option<String> {
        match &self.pusher {
            Pusher::Nobody => None,
            Pusher::Token(signer) => Some(format!("Bearer {}", signer.mint("pusher", repo, &["pull", "push"]))),
            Pusher::Basic(header) => Some(header.clone()),
        }
    }

    fn authorized(&self, req: reqwest::RequestBuilder, repo: &str) -> reqwest::RequestBuilder {
        match self.push_authorization(repo) {
            Some(a) => req.header("Authorization", a),
            None => req,
        }
    }

    /// Uploads a blob (monolithically); returns its digest.
    pub async fn blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let http = reqwest::Client::new();
        let start = self.authorized(http.post(self.url(&format!("{repo}/blobs/uploads/"))), repo).send().await.unwrap();
        assert_eq!(start.status().as_u16(), 202, "upload refused");
        let location = start.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") { location } else { format!("http://127.0.0.1:{}{location}", self.port) };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = self.authorized(http.put(format!("{location}{sep}digest={digest}")), repo).body(bytes.to_vec()).send().await.unwrap();
        assert_eq!(put.status().as_u16(), 201, "blob not stored: {}", put.text().await.unwrap_or_default());
        digest
    }

    /// Stores an OCI manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn manifest(&self, repo: &str, reference: &str, manifest: &serde_json::Value) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let resp = self
            .authorized(reqwest::Client::new().put(self.url(&format!("{repo}/manifests/{reference}"))), repo)
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "manifest refused: {}", resp.text().await.unwrap_or_default());
        sha256(&bytes)
    }

    /// An OCI manifest of a config and these layers (media type, bytes, annotations).
    async fn image_of(&self, repo: &str, layers: &[(&str, Vec<u8>, serde_json::Value)]) -> serde_json::Value {
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let config_digest = self.blob(repo, config).await;
        let mut out = Vec::new();
        for (media_type, bytes, annotations) in layers {
            let digest = self.blob(repo, bytes).await;
            out.push(json!({"mediaType": media_type, "size": bytes.len(), "digest": digest, "annotations": annotations}));
        }
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": config_digest},
               "layers": out})
    }

    /// Pushes an image with one layer of `content`; returns its digest.
    pub async fn push_image(&self, repo: &str, tag: &str, content: &[u8]) -> String {
        let m = self.image_of(repo, &[("application/vnd.oci.image.layer.v1.tar+gzip", content.to_vec(), json!({}))]).await;
        self.manifest(repo, tag, &m).await
    }

    /// Signs `digest` as `cosign sign --key` does: a simple signing payload naming it, signed.
    /// `payload_for` names the digest written in the payload (another one: a tampered signature).
    pub async fn sign(&self, repo: &str, digest: &str, key: &TestKey, payload_for: &str) {
        let payload = simple_signing(&format!("{}/{repo}", self.host()), payload_for);
        let signature = key.sign(&payload);
        self.store_signature(repo, digest, payload, &signature).await;
    }

    /// Stores a signature layer as it is (to tamper with payload or signature).
    pub async fn store_signature(&self, repo: &str, digest: &str, payload: Vec<u8>, signature: &[u8]) {
        let annotation = json!({"dev.cosignproject.cosign/signature": B64.encode(signature)});
        let m = self.image_of(repo, &[("application/vnd.dev.cosign.simplesigning.v1+json", payload, annotation)]).await;
        self.manifest(repo, &format!("{}.sig", digest.replacen(':', "-", 1)), &m).await;
    }

    /// Attests `digest` with an SBOM as `cosign attest --type cyclonedx` (or `spdxjson`) does: an in-toto
    /// statement in a DSSE envelope, signed over its pre-authentication encoding.
    pub async fn attest_sbom(&self, repo: &str, digest: &str, key: &TestKey, sbom: &serde_json::Value) {
        // cosign's predicate types for `--type cyclonedx` and `--type spdxjson`.
        let predicate_type = if sbom.get("spdxVersion").is_some() { "https://spdx.dev/Document" } else { "https://cyclonedx.org/bom" };
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": predicate_type,
            "subject": [{"name": format!("{}/{repo}", self.host()), "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
            "predicate": sbom,
        });
        let payload = serde_json::to_vec(&statement).unwrap();
        let pae = flightdeck::findings::signature::pae("application/vnd.in-toto+json", &payload);
        let envelope = json!({"payloadType": "application/vnd.in-toto+json", "payload": B64.encode(&payload),
                              "signatures": [{"keyid": "", "sig": B64.encode(key.sign(&pae))}]});
        let layer =
            ("application/vnd.dsse.envelope.v1+json", serde_json::to_vec(&envelope).unwrap(), json!({"predicateType": predicate_type}));
        let m = self.image_of(repo, &[layer]).await;
        self.manifest(repo, &format!("{}.att", digest.replacen(':', "-", 1)), &m).await;
    }
}

/// cosign's simple signing payload for an image digest.
pub fn simple_signing(reference: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {"identity": {"docker-reference": reference}, "image": {"docker-manifest-digest": digest},
                     "type": "cosign container image signature"},
        "optional": null,
    }))
    .unwrap()
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// An ECDSA P-256 key pair, as `cosign generate-key-pair` makes (its public half in cosign's PEM).
pub struct TestKey(EcdsaKeyPair);

impl TestKey {
    pub fn new() -> TestKey {
        TestKey(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap())
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec()
    }

    pub fn public_pem(&self) -> String {
        let der = AsDer::<PublicKeyX509Der>::as_der(self.0.public_key()).unwrap();
        let body = B64.encode(der.as_ref());
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }
}

/// A bcrypt hash as htpasswd writes it (the registry accepts nothing else), by the system's
/// crypt(3) through Python, which every Debian has.
fn bcrypt(password: &str) -> String {
    let out = Command::new("python3")
        .args(["-W", "ignore", "-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))", password])
        .output()
        .expect("python3 is needed to hash a test password: apt-get install -y python3");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$2"), "crypt(3) made no bcrypt hash: {}", String::from_utf8_lossy(&out.stderr));
    hash
}
