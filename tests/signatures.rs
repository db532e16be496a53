//! Signatures and SBOM attestations of the image being promoted, against a real OCI registry on
//! loopback (Debian's docker-registry) holding images signed and attested in cosign's format with
//! keys made here: signed by the release key, tampered, by another key, not signed, an SBOM that
//! matches or differs from the pipeline's, and a registry that is down — which fails closed.

mod support;

use std::path::Path;

use flightdeck::findings::registry_auth::Keychain;
use flightdeck::findings::signature::{ImageEvidence, Signed, TrustedKey};
use flightdeck::findings::{judge_signatures, parse_report, registry};
use support::registry::{Registry, TestKey, simple_signing};

fn corpus(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The image as the build's metadata names it, with the registry read.
async fn evidence(registry: &Registry, repo: &str, digest: &str) -> ImageEvidence {
    let metadata = serde_json::json!({"containerimage.digest": digest, "image.name": format!("{}/{repo}:1.4.2", registry.host())});
    let report = parse_report(metadata.to_string().as_bytes(), "out/metadata.json").unwrap_or_else(|e| panic!("{e}"));
    let mut image = report.image.expect("an image");
    assert_eq!(image.image, format!("{}/{repo}", registry.host()));
    registry::read(&mut image, &Keychain::default(), std::time::Duration::from_secs(10)).await;
    image
}

fn sbom_ids(name: &str) -> Vec<String> {
    let bytes = serde_json::to_vec(&corpus(name)).unwrap();
    parse_report(&bytes, name).unwrap().sbom.unwrap().component_ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_signature_verdict_from_a_real_registry() {
    let registry = Registry::start();
    let release = TestKey::new();
    let other = TestKey::new();
    let trusted = TrustedKey::from_pem("release.pub", &release.public_pem()).unwrap();

    // Signed by the release key, with a CycloneDX SBOM attestation (Trivy's own SBOM of a pom).
    let sbom = corpus("trivy-pom-cyclonedx.cdx.json");
    let good = registry.push_image("shop/web", "1.4.2", b"layer of 1.4.2").await;
    registry.sign("shop/web", &good, &release, &good).await;
    registry.attest_sbom("shop/web", &good, &release, &sbom).await;
    let ev = evidence(&registry, "shop/web", &good).await;
    assert_eq!((ev.signatures.len(), ev.attestations.len(), ev.problem.as_deref()), (1, 1, None));
    let pipeline = sbom_ids("trivy-pom-cyclonedx.cdx.json");
    assert!(!pipeline.is_empty());
    let v = judge_signatures(std::slice::from_ref(&ev), &trusted, true, Some(&pipeline));
    assert!(v.pass, "{}", v.summary);
    assert_eq!(v.images[0].signed, Signed::By("release.pub".into()));
    assert!(v.summary.contains("signed by release.pub") && v.summary.contains("as the pipeline's SBOM"), "{}", v.summary);

    // The pipeline's SBOM without jackson-databind: the attested image has a component it does not.
    let fewer: Vec<String> = pipeline.iter().filter(|c| !c.contains("jackson-databind")).cloned().collect();
    let v = judge_signatures(std::slice::from_ref(&ev), &trusted, true, Some(&fewer));
    assert!(
        !v.pass && v.summary.contains("differs from the pipeline's: 1 more (pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1)"),
        "{}",
        v.summary
    );

    // An SPDX attestation (syft's or Trivy's `spdx-json`) is compared with a CycloneDX pipeline SBOM
    // of the same scan package by package.
    let conda = registry.push_image("shop/conda", "1.0.0", b"layer of conda").await;
    registry.sign("shop/conda", &conda, &release, &conda).await;
    registry.attest_sbom("shop/conda", &conda, &release, &corpus("trivy-conda.spdx.json")).await;
    let ev = evidence(&registry, "shop/conda", &conda).await;
    let v = judge_signatures(std::slice::from_ref(&ev), &trusted, true, Some(&sbom_ids("trivy-conda.cdx.json")));
    assert!(v.pass && v.summary.contains("as the pipeline's SBOM"), "{}", v.summary);
    let v = judge_signatures(std::slice::from_ref(&ev), &trusted, true, Some(&sbom_ids("syft-image.cdx.json")));
    assert!(!v.pass && v.summary.contains("pkg:conda/openssl@1.1.1q"), "{}", v.summary);

    // Tampered: the payload names another digest than the one its signature covers.
    let tampered = registry.push_image("shop/api", "2.0.0", b"layer of api").await;
    let payload = simple_signing(&format!("{}/shop/api", registry.host()), &tampered);
    let signature = release.sign(&payload);
    let mut changed = payload.clone();
    let at = changed.iter().position(|b| *b == b'c').unwrap();
    changed[at] = b'C';
    registry.store_signature("shop/api", &tampered, changed, &signature).await;
    let v = judge_signatures(&[evidence(&registry, "shop/api", &tampered).await], &trusted, false, None);
    assert!(!v.pass && matches!(v.images[0].signed, Signed::Invalid(_)), "{}", v.summary);
    assert!(v.summary.contains("signature invalid"), "{}", v.summary);

    // A signature made for another image, moved onto this one: valid by the key, wrong digest.
    let moved = registry.push_image("shop/cart", "1.0.0", b"layer of cart").await;
    registry.sign("shop/cart", &moved, &release, &good).await;
    let v = judge_signatures(&[evidence(&registry, "shop/cart", &moved).await], &trusted, false, None);
    assert!(!v.pass && v.summary.contains("for another image"), "{}", v.summary);

    // By another key.
    let foreign = registry.push_image("shop/auth", "3.1.0", b"layer of auth").await;
    registry.sign("shop/auth", &foreign, &other, &foreign).await;
    let v = judge_signatures(&[evidence(&registry, "shop/auth", &foreign).await], &trusted, false, None);
    assert!(!v.pass && v.summary.contains("not by release.pub"), "{}", v.summary);

    // Not signed at all; and signed but without the SBOM attestation the environment wants.
    let bare = registry.push_image("shop/bare", "0.1.0", b"layer of bare").await;
    let v = judge_signatures(&[evidence(&registry, "shop/bare", &bare).await], &trusted, false, None);
    assert_eq!(v.images[0].signed, Signed::NotSigned);
    assert!(!v.pass && v.summary.contains("not signed"), "{}", v.summary);
    registry.sign("shop/bare", &bare, &release, &bare).await;
    let v = judge_signatures(&[evidence(&registry, "shop/bare", &bare).await], &trusted, true, Some(&pipeline));
    assert!(!v.pass && v.summary.contains("no SBOM attestation"), "{}", v.summary);

    // An image the registry does not hold.
    let ghost = support::registry::sha256(b"never pushed");
    let ev = evidence(&registry, "shop/web", &ghost).await;
    assert!(ev.problem.as_deref().is_some_and(|p| p.contains("is not in the registry")), "{ev:?}");

    // The registry down: nothing is known, and the rule fails closed.
    drop(registry);
    let down = ImageEvidence { image: ev.image.clone(), digest: good.clone(), ..ImageEvidence::default() };
    let mut down = down;
    registry::read(&mut down, &Keychain::default(), std::time::Duration::from_secs(5)).await;
    let v = judge_signatures(&[down], &trusted, false, None);
    assert!(!v.pass && matches!(v.images[0].signed, Signed::Unreachable(_)), "{}", v.summary);
    assert!(v.summary.contains("registry unreachable"), "{}", v.summary);
    // No image at all: fails closed too.
    assert!(!judge_signatures(&[], &trusted, false, None).pass);
}

#[test]
fn a_key_that_is_not_cosign_s_is_refused_when_the_config_is_read() {
    assert!(TrustedKey::from_pem("k", "not a key").unwrap_err().contains("not a PEM public key"));
    // An RSA key (PKIX) is not ECDSA P-256.
    let rsa = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMx5y5U9mR1nB3Vh1bXb8bq1Z0V0p2o9\nXq3n0bW9g8C0Jr2QWgG1q0k9m4z8tB2ZQ5Qn7nJ1Y7q1Qv3n8N0pE6ECAwEAAQ==\n-----END PUBLIC KEY-----\n";
    assert!(TrustedKey::from_pem("rsa.pub", rsa).unwrap_err().contains("not an ECDSA P-256"));
}

/// A pipeline whose build stage leaves buildx's metadata for `image@digest` and the SBOM it made,
/// and a production gate that wants the release key's signature and SBOM attestation.
fn pipeline(image: &str, digest: &str) -> support::cli_env::Env {
    let metadata = format!("{{\\\"containerimage.digest\\\": \\\"{digest}\\\", \\\"image.name\\\": \\\"{image}:1.4.2\\\"}}");
    let sbom = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus/trivy-pom-cyclonedx.cdx.json");
    support::cli_env::Env::new(&format!(
        "[environments.prod]\nproduction = true\nfour_eyes = false\n[environments.prod.release]\nmax_severity = \"critical\"\nsigned_by = \"release.pub\"\nsbom_attested = true\n\
         [[pipelines.release.stages]]\nname = \"build\"\nrun = \"mkdir -p out && printf '%s' '{metadata}' > out/metadata.json && cp {} out/sbom.cdx.json\"\nreports = [\"out/metadata.json\", \"out/sbom.cdx.json\"]\n\
         [[pipelines.release.stages]]\nname = \"approve-prod\"\nneeds = [\"build\"]\nenvironment = \"prod\"\ngate = true\n",
        sbom.display()
    ))
}

fn release_gate(e: &support::cli_env::Env) -> serde_json::Value {
    let (code, _, err) = e.run(&["run", "release"]);
    assert_eq!(code, 0, "{err}");
    e.wait_status(1, "waiting");
    let (code, out, err) = e.run(&["approvals", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["release_gate"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_s_image_must_be_signed_and_attested_by_the_release_key() {
    let registry = Registry::start();
    let release = TestKey::new();
    let good = registry.push_image("shop/web", "1.4.2", b"layer of 1.4.2").await;
    registry.sign("shop/web", &good, &release, &good).await;
    registry.attest_sbom("shop/web", &good, &release, &corpus("trivy-pom-cyclonedx.cdx.json")).await;
    let unsigned = registry.push_image("shop/web", "1.4.3", b"layer of 1.4.3").await;
    let image = format!("{}/shop/web", registry.host());

    let signed = pipeline(&image, &good);
    std::fs::write(signed.dir.path().join("release.pub"), release.public_pem()).unwrap();
    let gate = tokio::task::spawn_blocking(move || release_gate(&signed)).await.unwrap();
    assert_eq!(gate["signature"]["pass"], true, "{gate:#}");
    assert_eq!(gate["signature"]["images"][0]["signed"]["verdict"], "by", "{gate:#}");

    let bare = pipeline(&image, &unsigned);
    std::fs::write(bare.dir.path().join("release.pub"), release.public_pem()).unwrap();
    let gate = tokio::task::spawn_blocking(move || release_gate(&bare)).await.unwrap();
    assert_eq!((gate["pass"].as_bool(), gate["signature"]["pass"].as_bool()), (Some(false), Some(false)), "{gate:#}");
    assert!(gate["summary"].as_str().is_some_and(|s| s.contains("signature: ✗") && s.contains("not signed")), "{gate:#}");
}
