//! What a job's log is for each kind of action: a CodeBuild build's log from CloudWatch Logs
//! (read forward with its token, so a running build is followed as it writes), a manual
//! approval's message, link and deadline, and for the rest what CodePipeline says about it.

use serde_json::json;

use super::CodePipelineProvider;
use super::model::*;
use crate::aws::json_rpc::CODEBUILD;
use crate::ci::CiError;
use crate::domain::JobRecord;
use crate::logstore::{RawLine, Stream};

/// Pages of log events read at once at most (10,000 events each).
const PAGES: usize = 200;

fn meta(text: String) -> RawLine {
    RawLine { ts_ms: jiff::Timestamp::now().as_millisecond(), stream: Stream::Meta, bytes: text.into_bytes() }
}

/// The CodeBuild build an action ran, when it is a CodeBuild action that started one.
pub fn build_id(action: &ActionDeclaration, actions: &[ActionExecutionDetail], stage: &str) -> Option<String> {
    if action.action_type_id.provider != "CodeBuild" {
        return None;
    }
    actions
        .iter()
        .filter(|d| d.stage_name == stage && d.action_name == action.name)
        .max_by(|a, b| a.start_time.unwrap_or(0.0).total_cmp(&b.start_time.unwrap_or(0.0)))
        .and_then(|d| d.output.as_ref())
        .and_then(|o| o.execution_result.as_ref())
        .and_then(|r| r.external_execution_id.clone())
}

pub async fn read(
    p: &CodePipelineProvider,
    record: &JobRecord,
    stage: &StageDeclaration,
    action: &ActionDeclaration,
    actions: &[ActionExecutionDetail],
) -> Result<Vec<RawLine>, CiError> {
    if let Some(build) = build_id(action, actions, &stage.name) {
        // The build is asked where its log is once; the stream is then read to its end.
        let (stream, _) = log_stream(p, &build).await?;
        let Some((group, stream)) = stream else { return Ok(Vec::new()) };
        let events = crate::aws::logs::all(&p.inner.session, &group, &stream, PAGES).await?;
        return Ok(events.into_iter().map(line).collect());
    }
    let c = &action.configuration;
    let mut out = Vec::new();
    if action.action_type_id.category == "Approval" {
        out.push(meta(format!("manual approval `{}` in stage {}", action.name, stage.name)));
        if let Some(m) = c.get("CustomData") {
            out.push(meta(format!("message: {m}")));
        }
        if let Some(l) = c.get("ExternalEntityLink") {
            out.push(meta(format!("review: {l}")));
        }
        if let Some(t) = c.get("NotificationArn") {
            out.push(meta(format!("notifies: {t}")));
        }
        out.push(meta("who may decide: IAM (codepipeline:PutApprovalResult on this pipeline), then flightdeck's policy".into()));
        if let Some(g) = &record.gate {
            if let Some(d) = g.deadline {
                out.push(meta(format!("times out at {d}")));
            }
            if let Some(d) = &g.decision {
                let verdict = if d.approved { "approved" } else { "rejected" };
                out.push(meta(format!("{verdict} by {} at {}: {}", d.by, d.at, d.comment)));
            }
            if let Some(why) = &g.refused_by_service {
                out.push(meta(format!("AWS refused your decision: {why}")));
            }
        }
    } else {
        let t = &action.action_type_id;
        out.push(meta(format!("{} action `{}` ({} {})", t.category, action.name, t.owner, t.provider)));
        let result = actions
            .iter()
            .filter(|d| d.stage_name == stage.name && d.action_name == action.name)
            .max_by(|a, b| a.start_time.unwrap_or(0.0).total_cmp(&b.start_time.unwrap_or(0.0)))
            .and_then(|d| d.output.as_ref())
            .and_then(|o| o.execution_result.as_ref());
        if let Some(s) = result.and_then(|r| r.external_execution_summary.as_deref()) {
            out.push(meta(format!("summary: {s}")));
        }
    }
    if let Some(u) = &record.url {
        out.push(meta(format!("open: {u}")));
    }
    if let Some(e) = &record.error {
        out.push(RawLine { ts_ms: jiff::Timestamp::now().as_millisecond(), stream: Stream::Err, bytes: e.clone().into_bytes() });
    }
    // Everything here came from the pipeline's definition or AWS: shown as plain text.
    for l in &mut out {
        l.bytes = crate::logstore::sanitize::plain(&String::from_utf8_lossy(&l.bytes)).into_bytes();
    }
    Ok(out)
}

/// The build's log lines after `token` (from the start without one), the token to go on from,
/// and whether the build has finished.
pub async fn tail(p: &CodePipelineProvider, build: &str, token: Option<String>) -> Result<(Vec<RawLine>, Option<String>, bool), CiError> {
    let (stream, complete) = log_stream(p, build).await?;
    // Not writing yet (or logging to S3 only).
    let Some((group, stream)) = stream else { return Ok((Vec::new(), token, complete)) };
    let (events, next) = crate::aws::logs::forward(&p.inner.session, &group, &stream, token).await?;
    Ok((events.into_iter().map(line).collect(), next, complete))
}

/// Where a build writes its log (group, stream), if it does yet, and whether it has finished.
async fn log_stream(p: &CodePipelineProvider, build: &str) -> Result<(Option<(String, String)>, bool), CiError> {
    let got = p.inner.session.call(&CODEBUILD, "BatchGetBuilds", &json!({"ids": [build]})).await?;
    let builds: BatchGetBuildsOutput = serde_json::from_value(got).map_err(|e| CiError::Other(format!("CodeBuild's answer: {e}")))?;
    let Some(b) = builds.builds.into_iter().next() else {
        return Err(CiError::Other(format!("CodeBuild has no build {build}")));
    };
    let logs = b.logs.unwrap_or_default();
    Ok((logs.group_name.zip(logs.stream_name), b.build_complete.unwrap_or(false)))
}

fn line(e: crate::aws::logs::Event) -> RawLine {
    RawLine {
        ts_ms: e.timestamp.unwrap_or_default(),
        stream: Stream::Out,
        bytes: e.message.trim_end_matches(['\n', '\r']).as_bytes().to_vec(),
    }
}
