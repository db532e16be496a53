//! What every AWS API flightdeck speaks needs: credentials from the standard chain, SigV4, and the
//! JSON protocol with its errors, retries and endpoints.

mod chained;
pub mod credentials;
mod federated;
pub mod json_rpc;
pub mod logs;
pub mod profile;
pub mod query;
pub mod s3;
pub mod sigv4;
pub mod sts;
pub mod time;

pub use credentials::{Credentials, credentials};

/// The `Host` a request to `url` is signed with: `host`, or `host:port` when it names one.
pub fn host_header(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// The text of the first `<t>…</t>` of an XML answer (STS's and SNS's are flat and small).
pub fn xml_tag<'a>(xml: &'a str, t: &str) -> Option<&'a str> {
    xml.split(&format!("<{t}>")).nth(1).and_then(|r| r.split(&format!("</{t}>")).next()).map(str::trim)
}
