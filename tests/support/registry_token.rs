//! A token service for the registry's `auth.token` mode, as GHCR, Docker Hub and Harbor run one:
//! it trades a login (Basic, or an OAuth2 refresh token) for a JWT the registry verifies against
//! the certificate it was given (`rootcertbundle`, the token's `x5c` header). What was asked of it
//! is recorded, to check what flightdeck sent.

use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde_json::json;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub const ISSUER: &str = "flightdeck-test-issuer";
pub const SERVICE: &str = "flightdeck-test-registry";

/// The key the tokens are signed with, and its self-signed certificate.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    pub cert_pem: String,
}

impl TokenSigner {
    pub fn new() -> TokenSigner {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, ISSUER);
        let cert = params.self_signed(&key).unwrap();
        let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der()).unwrap();
        TokenSigner { key: signer, cert_der: cert.der().to_vec(), cert_pem: cert.pem() }
    }

    /// A registry token for `subject` granting `actions` on `repo` (none: an anonymous token).
    pub fn mint(&self, subject: &str, repo: &str, actions: &[&str]) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [B64.encode(&self.cert_der)]});
        let access = if actions.is_empty() { json!([]) } else { json!([{"type": "repository", "name": repo, "actions": actions}]) };
        let claims = json!({"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                            "jti": format!("{now}-{subject}-{repo}"), "access": access});
        let signing_input = format!("{}.{}", B64URL.encode(header.to_string()), B64URL.encode(claims.to_string()));
        let signature = self.key.sign(&SystemRandom::new(), signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", B64URL.encode(signature.as_ref()))
    }
}

/// One request the token service answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub method: String,
    /// The user of a Basic login, if one was sent.
    pub user: Option<String>,
    pub scope: String,
    pub grant_type: Option<String>,
    pub status: u16,
}

pub struct TokenServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl TokenServer {
    /// Serves tokens: to `user`:`password` and to the refresh token `refresh`, pull and push on the
    /// repository asked; to anyone else, an anonymous token granting nothing.
    pub async fn start(signer: Arc<TokenSigner>, user: &str, password: &str, refresh: &str) -> TokenServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, login, refresh) = (requests.clone(), format!("Basic {}", B64.encode(format!("{user}:{password}"))), refresh.to_string());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (signer, seen, login, refresh) = (signer.clone(), seen.clone(), login.clone(), refresh.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    while let Ok(Some(req)) = super::http1::read_request(&mut reader).await {
                        let form = super::http1::parse_query(&String::from_utf8_lossy(&req.body));
                        let params = if req.method == "POST" { &form } else { &req.query };
                        let scope = params.get("scope").cloned().unwrap_or_default();
                        let repo = scope.split(':').nth(1).unwrap_or_default().to_string();
                        let authorization = req.headers.get("authorization").cloned();
                        let user = authorization
                            .as_deref()
                            .and_then(|a| a.strip_prefix("Basic "))
                            .and_then(|b| B64.decode(b).ok())
                            .and_then(|b| String::from_utf8(b).ok())
                            .map(|s| s.split(':').next().unwrap_or_default().to_string());
                        let grant_type = params.get("grant_type").cloned();
                        let (status, body) = if req.method == "POST" {
                            if grant_type.as_deref() == Some("refresh_token") && params.get("refresh_token") == Some(&refresh) {
                                (200, json!({"access_token": signer.mint("robot", &repo, &["pull", "push"]), "expires_in": 300}))
                            } else {
                                (401, json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid refresh token"}]}))
                            }
                        } else {
                            match authorization {
                                Some(a) if a == login => (
                                    200,
                                    json!({"token": signer.mint(user.as_deref().unwrap_or(""), &repo, &["pull", "push"]), "expires_in": 300}),
                                ),
                                Some(_) => (401, json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})),
                                None => (200, json!({"token": signer.mint("", &repo, &[]), "expires_in": 300})),
                            }
                        };
                        seen.lock().unwrap().push(TokenRequest { method: req.method.clone(), user, scope, grant_type, status });
                        let body = body.to_string();
                        let head = format!(
                            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                            if status == 200 { "OK" } else { "Unauthorized" },
                            body.len()
                        );
                        if write.write_all(head.as_bytes()).await.is_err() || write.write_all(body.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        TokenServer { port, requests, _task: task }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}
