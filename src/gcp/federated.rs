//! Workload identity federation (an `external_account` credentials file, as CI systems and other
//! clouds use): a token from elsewhere (a file, or a URL such as a CI's OIDC endpoint) traded at
//! Google's Security Token Service, then, when the file says so, for a service account's token.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::GcpError;
use super::adc::{SCOPE, Token};
use crate::logstore::sanitize::plain;

#[derive(Clone, Debug, Deserialize)]
pub struct External {
    pub audience: String,
    pub subject_token_type: String,
    pub token_url: String,
    pub credential_source: CredentialSource,
    pub service_account_impersonation_url: Option<String>,
    #[serde(skip)]
    pub origin: PathBuf,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CredentialSource {
    pub file: Option<String>,
    pub url: Option<String>,
    pub headers: std::collections::BTreeMap<String, String>,
    pub format: Option<Format>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Format {
    /// `text` (default) or `json`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub subject_token_field_name: Option<String>,
}

impl External {
    /// The service account it acts as, when it impersonates one.
    pub fn service_account(&self) -> Option<String> {
        let url = self.service_account_impersonation_url.as_deref()?;
        let tail = url.rsplit("/serviceAccounts/").next()?;
        Some(plain(tail.split(':').next().unwrap_or(tail)))
    }

    pub fn describe(&self) -> String {
        match self.service_account() {
            Some(sa) => format!("service account {sa} through workload identity federation ({})", self.origin.display()),
            None => format!("workload identity federation ({})", self.origin.display()),
        }
    }

    /// The subject token: the file's or the URL's text, or a field of its JSON.
    async fn subject_token(&self, http: &reqwest::Client) -> Result<String, GcpError> {
        let fail = |why: String| GcpError::Credentials(format!("cannot read the subject token of {}: {why}", self.origin.display()));
        let text = match (&self.credential_source.file, &self.credential_source.url) {
            (Some(file), _) => std::fs::read_to_string(file).map_err(|e| fail(format!("{file}: {e}")))?,
            (None, Some(url)) => {
                let mut request = http.get(url).timeout(Duration::from_secs(10));
                for (k, v) in &self.credential_source.headers {
                    request = request.header(k, v);
                }
                let response = request.send().await.map_err(|e| fail(format!("{url}: {e}")))?;
                if !response.status().is_success() {
                    return Err(fail(format!("{url} answered HTTP {}", response.status().as_u16())));
                }
                response.text().await.map_err(|e| fail(format!("{url}: {e}")))?
            }
            (None, None) => return Err(fail("its credential_source names neither a file nor a URL".into())),
        };
        let format = self.credential_source.format.clone().unwrap_or_default();
        match format.kind.as_deref() {
            Some("json") => {
                let field = format.subject_token_field_name.unwrap_or_default();
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| fail("it is not JSON".into()))?;
                v.get(&field)
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| fail(format!("it has no field `{}`", plain(&field))))
            }
            _ => Ok(text.trim().to_string()),
        }
    }

    /// A token: the subject token traded at STS, then for the service account's when impersonating.
    pub async fn token(&self, http: &reqwest::Client) -> Result<Token, GcpError> {
        let refused = |why: String| GcpError::Credentials(format!("Google refused the credentials of {}: {why}", self.describe()));
        let subject = self.subject_token(http).await?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("audience", self.audience.as_str()),
            ("scope", SCOPE),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("subject_token", subject.as_str()),
            ("subject_token_type", self.subject_token_type.as_str()),
        ];
        #[derive(Deserialize)]
        struct Sts {
            access_token: Option<String>,
            expires_in: Option<u64>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let response =
            http.post(&self.token_url).form(&form).send().await.map_err(|e| refused(format!("STS could not be reached ({e})")))?;
        let status = response.status().as_u16();
        let sts: Sts = response.json().await.map_err(|_| refused(format!("STS answered HTTP {status} without a token")))?;
        let (federated, lifetime) = match sts {
            Sts { access_token: Some(t), expires_in, .. } if status == 200 => (t, Duration::from_secs(expires_in.unwrap_or(3600))),
            Sts { error, error_description, .. } => {
                let why = format!("{} {}", error.unwrap_or_else(|| format!("HTTP {status}")), error_description.unwrap_or_default());
                return Err(refused(plain(why.trim())));
            }
        };
        let Some(url) = &self.service_account_impersonation_url else {
            return Ok(Token { secret: federated, lifetime });
        };
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Impersonated {
            access_token: String,
            expire_time: String,
        }
        let body = serde_json::json!({"scope": [SCOPE], "lifetime": "3600s"});
        let response = http
            .post(url)
            .bearer_auth(&federated)
            .json(&body)
            .send()
            .await
            .map_err(|e| refused(format!("IAM could not be reached ({e})")))?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["error"]["message"].as_str().map(plain));
            return Err(refused(format!("impersonation answered HTTP {status}: {}", message.unwrap_or_else(|| "no message".into()))));
        }
        let got: Impersonated = response.json().await.map_err(|e| refused(format!("impersonation answered without a token ({e})")))?;
        let left = got.expire_time.parse::<jiff::Timestamp>().ok().map(|t| t.as_second() - jiff::Timestamp::now().as_second());
        Ok(Token { secret: got.access_token, lifetime: Duration::from_secs(left.unwrap_or(3600).max(0) as u64) })
    }
}
