//! `sts:GetCallerIdentity`: who AWS takes flightdeck to be, recorded with every action.

use super::json_rpc::{AwsError, Session};
use super::query::STS;
use crate::logstore::sanitize::plain;

/// The caller's ARN (`arn:aws:sts::123456789012:assumed-role/release/alice`).
pub async fn caller_arn(session: &Session) -> Result<String, AwsError> {
    let text = session.query(&STS, "GetCallerIdentity", &[]).await?;
    super::xml_tag(&text, "Arn").map(plain).filter(|a| !a.is_empty()).ok_or_else(|| AwsError::Service {
        service: "STS",
        operation: "GetCallerIdentity".into(),
        code: "MalformedResponse".into(),
        message: "no Arn in the answer".into(),
        status: 200,
    })
}
