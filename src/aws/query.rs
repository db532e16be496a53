//! AWS's query protocol: a signed form POST naming `Action` and `Version`, an XML answer (STS,
//! ELBv2). Errors carry their code and message in `<Error>`.

use super::json_rpc::{AwsError, Session};
use super::sigv4::{Post, sign_post};
use crate::logstore::sanitize::{excerpt, plain};

/// One API spoken in the query protocol.
#[derive(Clone, Copy, Debug)]
pub struct QueryService {
    pub signing_name: &'static str,
    /// The SDKs' service id for `AWS_ENDPOINT_URL_<ID>`.
    pub env_id: &'static str,
    pub title: &'static str,
    pub version: &'static str,
}

pub const STS: QueryService = QueryService { signing_name: "sts", env_id: "STS", title: "STS", version: "2011-06-15" };
pub const ELBV2: QueryService =
    QueryService { signing_name: "elasticloadbalancing", env_id: "ELASTIC_LOAD_BALANCING_V2", title: "ELBv2", version: "2015-12-01" };

impl Session {
    /// Calls `action` with `params` (already flattened: `RuleArns.member.1`); the answer's XML.
    pub async fn query(&self, service: &QueryService, action: &str, params: &[(&str, String)]) -> Result<String, AwsError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let endpoint = self
            .endpoint_override()
            .or_else(|| env(&format!("AWS_ENDPOINT_URL_{}", service.env_id)))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://{}.{}.amazonaws.com", service.signing_name, self.region))
            .trim_end_matches('/')
            .to_string();
        let unreachable = |why: String| AwsError::Unreachable { service: service.title, endpoint: endpoint.clone(), why };
        let url = reqwest::Url::parse(&format!("{endpoint}/")).map_err(|e| unreachable(e.to_string()))?;
        let host = super::host_header(&url).ok_or_else(|| unreachable("no host".into()))?;
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action).append_pair("Version", service.version);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish().into_bytes()
        };
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let creds = self.credentials(false).await?;
        let post = Post { region: &self.region, service: service.signing_name, host: &host, content_type, extra: &[], body: &body };
        let mut req = self.http().post(url).header("content-type", content_type);
        for (k, v) in sign_post(&creds, &post, jiff::Timestamp::now()) {
            req = req.header(k, v);
        }
        let resp = req.body(body).send().await.map_err(|e| unreachable(plain(&e.to_string())))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| unreachable(e.to_string()))?;
        if status == 200 {
            return Ok(text);
        }
        let tag = |t: &str| super::xml_tag(&text, t);
        let code = plain(tag("Code").unwrap_or("unknown"));
        let message = excerpt(&plain(tag("Message").unwrap_or_default()), 300);
        Err(match code.as_str() {
            c if c.contains("Expired") => AwsError::Expired { code },
            c if c.contains("AccessDenied") => AwsError::AccessDenied { service: service.title, operation: action.into(), message },
            _ => AwsError::Service { service: service.title, operation: action.into(), code, message, status },
        })
    }
}
