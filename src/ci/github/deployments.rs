//! Which version is in which environment, as the repository's deployments say: one release per
//! repository and environment on the Releases overview, with the workflow run that deployed it
//! (whose evidence is one key away). Shown, not driven: GitHub deploys through workflow runs,
//! which are acted on as runs.

use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use serde::Deserialize;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::GithubProvider;
use crate::delivery::{
    By, DeliveryError, Detail, Feed, FeedState, Health, Native, Plan, PlanError, Release, ReleaseEvent, RolloutAction, RolloutProvider,
    Seen, TimelineEntry,
};
use crate::domain::{RolloutRef, RunRef};
use crate::logstore::sanitize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
struct Deployment {
    id: u64,
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    environment: String,
    created_at: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
struct Status {
    state: String,
    #[serde(default)]
    log_url: Option<String>,
    #[serde(default)]
    target_url: Option<String>,
    created_at: String,
}

/// One environment of one repository: its latest deployment and the ones before.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Environment {
    repo: String,
    name: String,
    /// Newest first, each with its latest status.
    history: Vec<(Deployment, Option<Status>)>,
}

/// How many deployments of an environment its timeline shows.
const HISTORY: usize = 10;

#[derive(Clone)]
pub struct GithubDeployments {
    gh: GithubProvider,
    name: String,
}

impl GithubDeployments {
    /// The deployments of a GitHub provider's repositories, as `NAME-deployments`.
    pub fn of(gh: GithubProvider) -> GithubDeployments {
        let name = format!("{}-deployments", gh.inner.settings.name);
        GithubDeployments { gh, name }
    }

    async fn environments(&self) -> Result<Vec<Environment>, DeliveryError> {
        let mut out = Vec::new();
        for repo in &self.gh.inner.settings.repos {
            let all: Vec<Deployment> = self
                .gh
                .inner
                .api
                .get(&format!("/repos/{repo}/deployments?per_page=100"))
                .await
                .map_err(|e| DeliveryError::Backend(e.to_string()))?;
            let mut names: Vec<String> = all.iter().map(|d| d.environment.clone()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let mut history = Vec::new();
                for d in all.iter().filter(|d| d.environment == name).take(HISTORY) {
                    let statuses: Vec<Status> = self
                        .gh
                        .inner
                        .api
                        .get(&format!("/repos/{repo}/deployments/{}/statuses?per_page=1", d.id))
                        .await
                        .map_err(|e| DeliveryError::Backend(e.to_string()))?;
                    history.push((d.clone(), statuses.into_iter().next()));
                }
                out.push(Environment { repo: repo.clone(), name, history });
            }
        }
        Ok(out)
    }

    fn release(&self, env: &Environment) -> Release {
        let reference = RolloutRef { provider: self.name.clone(), scope: env.repo.clone(), name: env.name.clone() };
        let latest = env.history.first();
        let state = latest.and_then(|(_, s)| s.as_ref()).map(|s| s.state.as_str()).unwrap_or("pending");
        let version = |d: &Deployment| format!("{} @ {}", sanitize::excerpt(&d.git_ref, 80), d.sha.get(..7).unwrap_or(&d.sha));
        let previous = env.history.iter().skip(1).find(|(_, s)| s.as_ref().is_some_and(|s| s.state == "success")).map(|(d, _)| version(d));
        let (health, urgency) = match state {
            "success" => (Health::Healthy, 4),
            "failure" | "error" => (Health::Degraded, 1),
            "inactive" => (Health::Unknown, 4),
            _ => (Health::Progressing, 3),
        };
        let run = latest.and_then(|(_, s)| s.as_ref()).and_then(|s| run_of(&self.gh.inner.settings.name, &env.repo, s));
        Release {
            reference,
            kind: "GitHub deployment".into(),
            environment: Some(sanitize::excerpt(&env.name, 100)),
            service: None,
            health,
            state: sanitize::excerpt(&state.replace('_', " "), 40),
            message: latest.map(|(d, _)| format!("deployed {}", d.created_at)),
            urgency,
            step: None,
            weight: None,
            desired_weight: None,
            version: latest.map(|(d, _)| version(d)),
            stable_version: previous,
            run,
            analysis_run: None,
            pause_until: None,
            supports: Vec::new(),
            seen: Seen {
                revision: latest.map(|(d, _)| d.id.to_string()).unwrap_or_default(),
                step: None,
                state: state.to_string(),
                pending: None,
            },
            native: Native::new(env.clone()),
            measured_on: None,
        }
    }
}

/// The workflow run a deployment status links to (`…/actions/runs/123`), as a run reference.
fn run_of(provider: &str, repo: &str, s: &Status) -> Option<RunRef> {
    let url = s.log_url.as_deref().or(s.target_url.as_deref())?;
    let id: u64 = url.split("/actions/runs/").nth(1)?.split(['/', '?']).next()?.parse().ok()?;
    Some(super::run_ref(provider, repo, id))
}

impl RolloutProvider for GithubDeployments {
    fn name(&self) -> &str {
        &self.name
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        async move { Ok(self.environments().await?.iter().map(|e| self.release(e)).collect()) }.boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move {
            let envs = self.environments().await?;
            envs.iter().find(|e| e.repo == r.scope && e.name == r.name).map(|e| self.release(e)).ok_or(DeliveryError::Unknown(r.text()))
        }
        .boxed()
    }

    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move {
            let label = format!("GitHub deployments · {}", me.gh.inner.settings.repos.join(", "));
            let mut last: Option<Vec<Release>> = None;
            loop {
                let (state, rows) = match me.list().await {
                    Ok(rows) => (FeedState::Live, Some(rows)),
                    Err(e) => (FeedState::Retrying(e.to_string()), None),
                };
                let feed = Feed { label: label.clone(), state, scopes: Vec::new() };
                if events.send(ReleaseEvent::Feed { provider: me.name.clone(), feed }).is_err() {
                    return;
                }
                if let Some(rows) = rows
                    && last.as_ref() != Some(&rows)
                {
                    if events.send(ReleaseEvent::Reset { provider: me.name.clone(), releases: rows.clone() }).is_err() {
                        return;
                    }
                    last = Some(rows);
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(me.gh.inner.settings.idle_poll) => {}
                }
            }
        });
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move {
            let release = self.get(r.clone()).await?;
            let env = release.native.get::<Environment>().cloned().ok_or(DeliveryError::Unknown(r.text()))?;
            let timeline = env
                .history
                .iter()
                .map(|(d, s)| TimelineEntry {
                    at: d.created_at.parse().ok(),
                    text: format!(
                        "{} @ {}  {}",
                        sanitize::excerpt(&d.git_ref, 80),
                        d.sha.get(..7).unwrap_or(&d.sha),
                        s.as_ref().map(|s| format!("{} at {}", s.state, s.created_at)).unwrap_or_else(|| "no status".into())
                    ),
                })
                .collect();
            Ok(Detail {
                reference: Some(r),
                loaded: true,
                about: vec![
                    format!("GitHub deployments of {} to {}", env.repo, sanitize::excerpt(&env.name, 100)),
                    "GitHub deploys through workflow runs: act on the run (runs screen), not here.".into(),
                ],
                timeline,
                native: release.native,
                ..Detail::default()
            })
        }
        .boxed()
    }

    fn plan(&self, release: &Release, _detail: Option<&Detail>, action: &RolloutAction, _now: Timestamp) -> Result<Plan, PlanError> {
        Err(PlanError::Invalid(format!(
            "{}: GitHub deployments are shown, not driven; `{}` acts on a workflow run (see {})",
            release.reference,
            action.verb(),
            release.run.as_ref().map(|r| r.text()).unwrap_or_else(|| "the runs screen".into())
        )))
    }

    fn execute(&self, r: RolloutRef, action: RolloutAction, _seen: Option<Seen>, _by: By) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move { Err(DeliveryError::Refused(format!("{r}: GitHub deployments are shown, not driven (`{}` refused)", action.verb()))) }
            .boxed()
    }
}
