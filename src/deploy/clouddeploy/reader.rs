//! Reading Cloud Deploy: a pipeline's progression, its targets' approval settings, every rollout
//! of the pipeline (all releases at once, `releases/-`), and a rollout's job runs.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;

use super::model::{DeliveryPipeline, JobRun, ListJobRuns, ListRollouts, ListTargets, Rollout, Target};
use super::view::Place;
use crate::config::CloudDeploySettings;
use crate::gcp::{GcpError, Session};

/// Pages read of a pipeline's rollouts at most: the newest 500 say where every target stands.
const MAX_PAGES: usize = 5;

/// How long the targets' approval settings are kept: they change with the pipeline's setup, not
/// with each rollout, and every read of a row needs them.
const TARGETS_KEPT: Duration = Duration::from_secs(60);

pub struct Reader {
    pub session: Session,
    pub settings: CloudDeploySettings,
    approvals: Mutex<Option<(BTreeMap<String, bool>, Instant)>>,
}

impl Reader {
    pub fn new(session: Session, settings: CloudDeploySettings) -> Reader {
        Reader { session, settings, approvals: Mutex::new(None) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.settings.endpoint)
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, GcpError> {
        let v = self.session.call(Method::GET, &self.url(path), None).await?;
        serde_json::from_value(v).map_err(|e| GcpError::Api { status: 200, code: "MALFORMED".into(), message: format!("{path}: {e}") })
    }

    pub fn pipeline_path(&self, pipeline: &str) -> String {
        format!("{}/deliveryPipelines/{pipeline}", self.settings.parent())
    }

    /// Whether each target of the region needs an approval (read once a minute).
    pub async fn approvals(&self) -> Result<BTreeMap<String, bool>, GcpError> {
        if let Ok(kept) = self.approvals.lock()
            && let Some((known, _)) = kept.as_ref().filter(|(_, at)| at.elapsed() < TARGETS_KEPT)
        {
            return Ok(known.clone());
        }
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = token.as_deref().map(|t| format!("?pageToken={}", query_value(t))).unwrap_or_default();
            let list: ListTargets = self.get(&format!("{}/targets{page}", self.settings.parent())).await?;
            out.extend(list.targets.into_iter().map(|t: Target| (t.target_id, t.require_approval)));
            token = list.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        if let Ok(mut kept) = self.approvals.lock() {
            *kept = Some((out.clone(), Instant::now()));
        }
        Ok(out)
    }

    /// Every rollout of the pipeline, newest first.
    pub async fn rollouts(&self, pipeline: &str) -> Result<Vec<Rollout>, GcpError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = token.as_deref().map(|t| format!("&pageToken={}", query_value(t))).unwrap_or_default();
            let list: ListRollouts = self.get(&format!("{}/releases/-/rollouts?pageSize=100{page}", self.pipeline_path(pipeline))).await?;
            out.extend(list.rollouts);
            token = list.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        // RFC 3339 times in UTC sort as text.
        out.sort_by(|a, b| b.create_time.cmp(&a.create_time));
        Ok(out)
    }

    /// The pipeline's targets in the order of its progression, and every rollout of it (newest
    /// first).
    pub async fn pipeline(&self, pipeline: &str, approvals: &BTreeMap<String, bool>) -> Result<(Vec<Place>, Vec<Rollout>), GcpError> {
        let p: DeliveryPipeline = self.get(&self.pipeline_path(pipeline)).await?;
        let rollouts = self.rollouts(pipeline).await?;
        let stages = &p.serial_pipeline.stages;
        let places = stages
            .iter()
            .enumerate()
            .map(|(i, s)| Place {
                pipeline: pipeline.to_string(),
                pipeline_path: self.pipeline_path(pipeline),
                target: s.target_id.clone(),
                stage: i,
                next_target: stages.get(i + 1).map(|n| n.target_id.clone()),
                require_approval: approvals.get(&s.target_id).copied().unwrap_or(false),
                strategy: strategy(s),
            })
            .collect();
        Ok((places, rollouts))
    }

    /// The job runs of a rollout, oldest first.
    pub async fn job_runs(&self, rollout: &str) -> Result<Vec<JobRun>, GcpError> {
        let list: ListJobRuns = self.get(&format!("{rollout}/jobRuns")).await?;
        let mut runs = list.job_runs;
        runs.sort_by(|a, b| a.create_time.cmp(&b.create_time));
        Ok(runs)
    }
}

fn strategy(s: &super::model::Stage) -> String {
    match s.strategy.as_ref().and_then(|st| st.canary.as_ref()).and_then(|c| c.canary_deployment.as_ref()) {
        Some(c) => {
            let steps: Vec<String> = c.percentages.iter().map(|p| format!("{p} %")).collect();
            let verify = if c.verify { ", verified" } else { "" };
            format!("canary {} → stable{verify}", steps.join(" → "))
        }
        None if s.strategy.as_ref().is_some_and(|st| st.canary.is_some()) => "canary (custom)".into(),
        None => "standard".into(),
    }
}

/// A page token as a query value (tokens are opaque; they may hold `=` or `+`).
fn query_value(t: &str) -> String {
    form_urlencoded::byte_serialize(t.as_bytes()).collect()
}
