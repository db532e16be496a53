//! A certificate authority made for one test run, and a server certificate for 127.0.0.1 and
//! localhost signed by it: what the TLS doubles serve and what the client under test trusts.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub struct TestCa {
    /// The CA's certificate, for the client to trust.
    pub ca_pem: String,
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

pub fn issue() -> TestCa {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "flightdeck test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    TestCa { ca_pem, cert, key }
}
