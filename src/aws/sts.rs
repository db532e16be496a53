//! `sts:GetCallerIdentity`: who AWS takes flightdeck to be, recorded with every action. STS speaks
//! the query protocol (a form POST, an XML answer).

use super::json_rpc::{AwsError, Session};
use super::sigv4::{Post, sign_post};
use crate::logstore::sanitize::{excerpt, plain};

/// The caller's ARN (`arn:aws:sts::123456789012:assumed-role/release/alice`).
pub async fn caller_arn(session: &Session) -> Result<String, AwsError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let endpoint = session
        .endpoint_override()
        .or_else(|| env("AWS_ENDPOINT_URL_STS"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://sts.{}.amazonaws.com", session.region))
        .trim_end_matches('/')
        .to_string();
    let unreachable = |why: String| AwsError::Unreachable { service: "STS", endpoint: endpoint.clone(), why };
    let url = reqwest::Url::parse(&format!("{endpoint}/")).map_err(|e| unreachable(e.to_string()))?;
    let host = super::host_header(&url).ok_or_else(|| unreachable("no host".into()))?;
    let body = b"Action=GetCallerIdentity&Version=2011-06-15".to_vec();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let creds = session.credentials(false).await?;
    let post = Post { region: &session.region, service: "sts", host: &host, content_type, extra: &[], body: &body };
    let mut req = session.http().post(url).header("content-type", content_type);
    for (k, v) in sign_post(&creds, &post, jiff::Timestamp::now()) {
        req = req.header(k, v);
    }
    let resp = req.body(body).send().await.map_err(|e| unreachable(plain(&e.to_string())))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| unreachable(e.to_string()))?;
    let tag = |t: &str| super::xml_tag(&text, t);
    if status != 200 {
        let code = plain(tag("Code").unwrap_or("unknown"));
        let message = excerpt(&plain(tag("Message").unwrap_or_default()), 300);
        if code.contains("Expired") {
            return Err(AwsError::Expired { code });
        }
        return Err(AwsError::Service { service: "STS", operation: "GetCallerIdentity".into(), code, message, status });
    }
    tag("Arn").map(plain).filter(|a| !a.is_empty()).ok_or_else(|| AwsError::Service {
        service: "STS",
        operation: "GetCallerIdentity".into(),
        code: "MalformedResponse".into(),
        message: "no Arn in the answer".into(),
        status,
    })
}
