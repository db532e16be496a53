//! Private registries: the real registry (Debian's docker-registry) asking for credentials the way
//! GHCR and Docker Hub do (a token service and signed JWTs) and the way ECR does (Basic), read with
//! what `docker login` leaves behind — a `config.json` entry, an identity token, a credential
//! helper — and refusing, closed, when none is configured or the one configured is wrong.

mod support;

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use flightdeck::findings::registry_auth::Keychain;
use flightdeck::findings::signature::{ImageEvidence, Signed, TrustedKey};
use flightdeck::findings::{judge_signatures, registry};
use support::registry::{Access, Registry, TestKey};
use support::registry_token::{TokenServer, TokenSigner};

const USER: &str = "ci-bot";
const PASSWORD: &str = "s3cret-pass-7f1c";
const REFRESH: &str = "refresh-9d2e-token";

/// A docker config directory with `config` as its `config.json`.
fn docker_config(config: serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    dir
}

fn login(host: &str, user: &str, password: &str) -> tempfile::TempDir {
    docker_config(serde_json::json!({"auths": {host: {"auth": B64.encode(format!("{user}:{password}"))}}}))
}

async fn read(registry: &Registry, repo: &str, digest: &str, keychain: &Keychain) -> ImageEvidence {
    let mut ev = ImageEvidence { image: format!("{}/{repo}", registry.host()), digest: digest.into(), ..ImageEvidence::default() };
    registry::read(&mut ev, keychain, std::time::Duration::from_secs(10)).await;
    ev
}

/// A signed image in a registry behind a token service.
async fn token_registry() -> (Registry, TokenServer, TestKey, String) {
    let signer = Arc::new(TokenSigner::new());
    let tokens = TokenServer::start(signer.clone(), USER, PASSWORD, REFRESH).await;
    let registry = Registry::start_with(Access::Token { realm: tokens.realm(), signer });
    let key = TestKey::new();
    let digest = registry.push_image("team/web", "2.3.0", b"layer of 2.3.0").await;
    registry.sign("team/web", &digest, &key, &digest).await;
    (registry, tokens, key, digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_registry_is_read_with_the_credentials_docker_login_left() {
    let (registry, tokens, key, digest) = token_registry().await;
    let trusted = TrustedKey::from_pem("release.pub", &key.public_pem()).unwrap();

    let config = login(&registry.host(), USER, PASSWORD);
    let ev = read(&registry, "team/web", &digest, &Keychain::docker_config(config.path())).await;
    assert_eq!((ev.problem.as_deref(), ev.signatures.len()), (None, 1), "{ev:?}");
    let v = judge_signatures(std::slice::from_ref(&ev), &trusted, false, None);
    assert_eq!(v.images[0].signed, Signed::By("release.pub".into()), "{}", v.summary);
    // One token, asked for with the login, for pulling this repository only.
    let asked = tokens.requests.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!((asked[0].method.as_str(), asked[0].user.as_deref(), asked[0].status), ("GET", Some(USER), 200));
    assert_eq!(asked[0].scope, "repository:team/web:pull");

    // An identity token (what `docker login` keeps for OAuth2 registries) is traded by refresh.
    let config = docker_config(serde_json::json!({"auths": {format!("http://{}", registry.host()): {"identitytoken": REFRESH}}}));
    let ev = read(&registry, "team/web", &digest, &Keychain::docker_config(config.path())).await;
    assert_eq!((ev.problem.as_deref(), ev.signatures.len()), (None, 1), "{ev:?}");
    let last = tokens.requests.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.method.as_str(), last.grant_type.as_deref(), last.status), ("POST", Some("refresh_token"), 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_or_with_wrong_ones_the_signature_rule_fails_closed_and_says_why() {
    let (registry, tokens, key, digest) = token_registry().await;
    let trusted = TrustedKey::from_pem("release.pub", &key.public_pem()).unwrap();

    // None configured: the anonymous token grants nothing, and the message says how to log in.
    let nothing = docker_config(serde_json::json!({"auths": {}}));
    let ev = read(&registry, "team/web", &digest, &Keychain::docker_config(nothing.path())).await;
    let problem = ev.problem.clone().unwrap_or_default();
    assert!(problem.contains("wants credentials") && problem.contains("docker login"), "{problem}");
    let v = judge_signatures(&[ev], &trusted, false, None);
    assert!(!v.pass && matches!(v.images[0].signed, Signed::Unreachable(_)), "{}", v.summary);

    // A wrong password: refused, naming where the credentials came from, never the password.
    let wrong = login(&registry.host(), USER, "not-the-password");
    let ev = read(&registry, "team/web", &digest, &Keychain::docker_config(wrong.path())).await;
    let problem = ev.problem.clone().unwrap_or_default();
    assert!(problem.contains("refused the credentials") && problem.contains("config.json"), "{problem}");
    assert!(!problem.contains("not-the-password"), "{problem}");
    assert!(!judge_signatures(&[ev], &trusted, false, None).pass);
    assert!(tokens.requests.lock().unwrap().iter().any(|r| r.status == 401), "the token service was asked and refused");

    // A config that is not JSON is named, not guessed around.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("config.json"), "{\"auths\": {").unwrap();
    let ev = read(&registry, "team/web", &digest, &Keychain::docker_config(broken.path())).await;
    assert!(ev.problem.as_deref().is_some_and(|p| p.contains("is not valid JSON")), "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_registry_as_ecr_answers_takes_the_login_and_refuses_a_wrong_one() {
    let registry = Registry::start_with(Access::Htpasswd { user: "AWS", password: PASSWORD });
    let key = TestKey::new();
    let digest = registry.push_image("team/api", "1.0.0", b"layer of api").await;
    registry.sign("team/api", &digest, &key, &digest).await;
    let trusted = TrustedKey::from_pem("release.pub", &key.public_pem()).unwrap();

    let config = login(&registry.host(), "AWS", PASSWORD);
    let ev = read(&registry, "team/api", &digest, &Keychain::docker_config(config.path())).await;
    let v = judge_signatures(std::slice::from_ref(&ev), &trusted, false, None);
    assert!(v.pass, "{}", v.summary);

    let wrong = login(&registry.host(), "AWS", "expired-token");
    let ev = read(&registry, "team/api", &digest, &Keychain::docker_config(wrong.path())).await;
    let problem = ev.problem.clone().unwrap_or_default();
    assert!(problem.contains("does not let the credentials from") && !problem.contains("expired-token"), "{problem}");

    let ev = read(&registry, "team/api", &digest, &Keychain::default()).await;
    assert!(ev.problem.as_deref().is_some_and(|p| p.contains("none are configured")), "{ev:?}");
}

/// `docker-credential-NAME`: answers `get` for `host` with the login, else "credentials not
/// found" as the helpers do, and leaves what it was asked in `asked`.
fn helper(dir: &Path, name: &str, host: &str, user: &str, secret: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("docker-credential-{name}"));
    let asked = dir.join("asked");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\necho \"$server\" >> '{}'\n\
             if [ \"$server\" = '{host}' ]; then printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"; \
             else echo 'credentials not found in native keychain'; exit 1; fi\n",
            asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_reads_a_private_registry_through_a_credential_helper() {
    let (registry, tokens, key, digest) = token_registry().await;
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "fdtest", &registry.host(), USER, PASSWORD);
    let config = docker_config(serde_json::json!({"credHelpers": {registry.host(): "fdtest"}}));
    let image = format!("{}/team/web", registry.host());
    let metadata = format!("{{\\\"containerimage.digest\\\": \\\"{digest}\\\", \\\"image.name\\\": \\\"{image}:2.3.0\\\"}}");
    let env = support::cli_env::Env::new(&format!(
        "[environments.prod]\nproduction = true\nfour_eyes = false\n[environments.prod.release]\nmax_severity = \"critical\"\nsigned_by = \"release.pub\"\n\
         [[pipelines.release.stages]]\nname = \"build\"\nrun = \"mkdir -p out && printf '%s' '{metadata}' > out/metadata.json\"\nreports = [\"out/metadata.json\"]\n\
         [[pipelines.release.stages]]\nname = \"approve-prod\"\nneeds = [\"build\"]\nenvironment = \"prod\"\ngate = true\n"
    ));
    std::fs::write(env.dir.path().join("release.pub"), key.public_pem()).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let (bin_dir, config_dir) = (bin.path().to_path_buf(), config.path().to_path_buf());
    let (gate, journal) = tokio::task::spawn_blocking(move || {
        let out = env.cmd(&["run", "release"]).env("USER", "tester").env("PATH", &path).env("DOCKER_CONFIG", &config_dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        env.wait_status(1, "waiting");
        let (code, out, err) = env.run(&["approvals", "--json"]);
        assert_eq!(code, 0, "{err}");
        let gate = serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["release_gate"].clone();
        let written = env.written();
        assert!(written.contains("approve-prod"), "the data directory holds the run");
        (gate, written)
    })
    .await
    .unwrap();
    assert_eq!(gate["signature"]["images"][0]["signed"]["verdict"], "by", "{gate:#}");
    assert_eq!(std::fs::read_to_string(bin_dir.join("asked")).unwrap().trim(), registry.host());
    assert!(tokens.requests.lock().unwrap().iter().any(|r| r.user.as_deref() == Some(USER) && r.status == 200));
    // The helper's secret is in nothing flightdeck answered or wrote.
    assert!(!gate.to_string().contains(PASSWORD) && !journal.contains(PASSWORD));
}
