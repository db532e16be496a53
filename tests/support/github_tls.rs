//! The GitHub double behind TLS, with a certificate from a test CA made for the run: how the real
//! `gh` reaches it as an Enterprise Server (it trusts the CA through `SSL_CERT_FILE`).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::GithubDouble;

/// The double's API on a TLS port of its own (the plain port keeps serving), and the CA's PEM.
pub async fn serve_tls(gh: &GithubDouble) -> (u16, String, tokio::task::JoinHandle<()>) {
    let super::test_ca::TestCa { ca_pem, cert, key } = super::test_ca::issue();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (state, enterprise, storage_port) = (gh.state.clone(), gh.enterprise, gh.storage_port);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, state) = (acceptor.clone(), state.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let _ = super::serve(tls, state, enterprise, true, storage_port).await;
                }
            });
        }
    });
    (port, ca_pem, task)
}
