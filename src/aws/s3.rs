//! Reading objects from S3 (a build's artifacts): a signed GET of an object, and the keys under a
//! prefix (`ListObjectsV2`). Path-style addressing where an endpoint is overridden (as the SDKs do
//! for a local S3), virtual-hosted otherwise.

use sha2::{Digest, Sha256};

use super::json_rpc::{AwsError, Session};
use super::sigv4::{Request, sign};
use crate::logstore::sanitize::{excerpt, plain};

/// Keys listed under a prefix at most.
const KEYS_LISTED: usize = 1000;

/// `arn:aws:s3:::bucket/some/key` → (bucket, key).
pub fn parse_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn
        .strip_prefix("arn:aws:s3:::")
        .or_else(|| arn.strip_prefix("arn:aws-us-gov:s3:::"))
        .or_else(|| arn.strip_prefix("arn:aws-cn:s3:::"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    Some((bucket.to_string(), key.to_string()))
}

/// A key or prefix encoded as S3 wants it in a path: every byte but unreserved ones and `/`.
fn encode_path(key: &str) -> String {
    key.split('/')
        .map(|seg| form_urlencoded::byte_serialize(seg.as_bytes()).collect::<String>().replace('+', "%20"))
        .collect::<Vec<_>>()
        .join("/")
}

/// A query value encoded for the canonical request (spaces as %20, `*` and `~` as AWS wants).
fn encode_query(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>().replace('+', "%20").replace('*', "%2A").replace("%7E", "~")
}

impl Session {
    /// GETs `bucket/key?query` signed; the body, at most `limit` bytes.
    async fn s3_get(&self, bucket: &str, key: &str, query: &str, limit: u64) -> Result<Vec<u8>, AwsError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let custom = self.endpoint_override().or_else(|| env("AWS_ENDPOINT_URL_S3")).or_else(|| env("AWS_ENDPOINT_URL"));
        let (base, path) = match custom {
            Some(e) => (e.trim_end_matches('/').to_string(), format!("/{bucket}/{}", encode_path(key))),
            None => (format!("https://{bucket}.s3.{}.amazonaws.com", self.region), format!("/{}", encode_path(key))),
        };
        let unreachable = |why: String| AwsError::Unreachable { service: "S3", endpoint: base.clone(), why };
        let url = reqwest::Url::parse(&format!("{base}{path}{}", if query.is_empty() { String::new() } else { format!("?{query}") }))
            .map_err(|e| unreachable(e.to_string()))?;
        let host = super::host_header(&url).ok_or_else(|| unreachable("no host".into()))?;
        let creds = self.credentials(false).await?;
        let empty = hex::encode(Sha256::digest(b""));
        let request = Request {
            method: "GET",
            path: &path,
            query,
            region: &self.region,
            service: "s3",
            host: &host,
            headers: vec![("x-amz-content-sha256", empty.clone())],
            payload_hash: empty.clone(),
        };
        let mut req = self.http().get(url).header("x-amz-content-sha256", &empty);
        for (k, v) in sign(&creds, &request, jiff::Timestamp::now()) {
            req = req.header(k, v);
        }
        let mut resp = req.send().await.map_err(|e| unreachable(plain(&e.to_string())))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.text().await.unwrap_or_default();
            let tag = |t: &str| super::xml_tag(&text, t);
            let code = plain(tag("Code").unwrap_or(if status == 404 { "NoSuchKey" } else { "unknown" }));
            let message = excerpt(&plain(tag("Message").unwrap_or_default()), 300);
            return Err(match code.as_str() {
                "AccessDenied" => AwsError::AccessDenied { service: "S3", operation: "GetObject".into(), message },
                c if c.contains("Expired") => AwsError::Expired { code },
                _ => AwsError::Service { service: "S3", operation: "GetObject".into(), code, message, status },
            });
        }
        let too_large = || AwsError::Service {
            service: "S3",
            operation: "GetObject".into(),
            code: "TooLarge".into(),
            message: format!("s3://{bucket}/{} is over the {} MiB limit", plain(key), limit >> 20),
            status,
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(too_large());
            }
        }
        Ok(body)
    }

    /// An object's bytes, at most `limit`.
    pub async fn s3_object(&self, bucket: &str, key: &str, limit: u64) -> Result<Vec<u8>, AwsError> {
        self.s3_get(bucket, key, "", limit).await
    }

    /// The keys under `prefix` (the first thousand).
    pub async fn s3_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
        let query = format!("list-type=2&max-keys={KEYS_LISTED}&prefix={}", encode_query(prefix));
        let xml = self.s3_get(bucket, "", &query, 16 << 20).await?;
        let text = String::from_utf8_lossy(&xml);
        Ok(text.split("<Key>").skip(1).filter_map(|r| r.split("</Key>").next()).map(|k| k.replace("&amp;", "&")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_artifact_arn_names_its_bucket_and_key() {
        assert_eq!(
            parse_arn("arn:aws:s3:::artifacts/payments/build-1/reports.zip"),
            Some(("artifacts".into(), "payments/build-1/reports.zip".into()))
        );
        assert_eq!(parse_arn("s3://nope"), None);
        assert_eq!(encode_path("a b/c+d"), "a%20b/c%2Bd");
    }
}
