//! Scan reports among a CodeBuild build's artifacts in S3 (those named in `report_artifacts`): a
//! zip archive is unpacked, a single file read, a folder's files read one by one, each parsed like
//! a local report. An artifact that cannot be read is an unreadable report: the gate fails closed.

use crate::aws::json_rpc::{AwsError, Session};
use crate::ci::RunEvidence;
use crate::findings::ReportError;
use crate::logstore::sanitize::plain;

/// The most an artifact (or one file of a folder artifact) may be.
const OBJECT_LIMIT: u64 = 256 * 1024 * 1024;
/// Files of a folder artifact read at most.
const FILES_READ: usize = 100;

pub async fn read(session: &Session, id: &str, location: &str, out: &mut RunEvidence) {
    let shown = format!("artifact {id}");
    let problem = |p: String| ReportError { path: shown.clone(), problem: p };
    let Some((bucket, key)) = crate::aws::s3::parse_arn(location) else {
        out.unreadable.push(problem(format!("its location {} is not an S3 object", plain(location))));
        return;
    };
    match session.s3_object(&bucket, &key, OBJECT_LIMIT).await {
        Ok(bytes) => add(out, &bytes, &format!("s3://{bucket}/{}", plain(&key))),
        // Not an object: a folder (CodeBuild's packaging NONE), read file by file.
        Err(AwsError::Service { code, .. }) if code == "NoSuchKey" => {
            let prefix = format!("{}/", key.trim_end_matches('/'));
            match session.s3_keys(&bucket, &prefix).await {
                Ok(keys) if keys.is_empty() => out.unreadable.push(problem(format!("s3://{bucket}/{} holds nothing", plain(&key)))),
                Ok(keys) => {
                    for k in keys.iter().filter(|k| !k.ends_with('/')).take(FILES_READ) {
                        let name = format!("s3://{bucket}/{}", plain(k));
                        match session.s3_object(&bucket, k, OBJECT_LIMIT).await {
                            Ok(bytes) => add(out, &bytes, &name),
                            Err(e) => out.unreadable.push(ReportError { path: name, problem: e.to_string() }),
                        }
                    }
                }
                Err(e) => out.unreadable.push(problem(e.to_string())),
            }
        }
        Err(e) => out.unreadable.push(problem(e.to_string())),
    }
}

/// One object: a zip archive's reports, or one report.
fn add(out: &mut RunEvidence, bytes: &[u8], shown: &str) {
    if bytes.starts_with(b"PK\x03\x04") {
        let (reports, errors) = crate::findings::archive::unpack(bytes, shown);
        for r in reports {
            out.add(r);
        }
        out.unreadable.extend(errors);
    } else {
        match crate::findings::parse_report(bytes, shown) {
            Ok(r) => out.add(r),
            Err(e) => out.unreadable.push(e),
        }
    }
}
