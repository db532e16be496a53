//! The Cloud Deploy rollout provider: every target of every configured delivery pipeline is a
//! release (`clouddeploy:PIPELINE/TARGET`), polled fast only while a rollout is under way or waits.
//! Each key sends exactly the request the confirmation showed, after reading the rollout again and
//! checking that it has not moved on (its etag and its phase).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use jiff::Timestamp;
use reqwest::Method;
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::reader::Reader;
use super::view::{Call, Place, TargetView, mark};
use crate::config::CloudDeploySettings;
use crate::delivery::polling::{self, Polling, same_picture};
use crate::delivery::{
    By, DeliveryError, Denials, Detail, Health, Native, Permissions, Plan, PlanError, Release, ReleaseEvent, Revision, RolloutAction,
    RolloutProvider, Section, TimelineEntry,
};
use crate::domain::{RolloutRef, RunRef};
use crate::gcp::{GcpError, Session};
use crate::logstore::sanitize::{excerpt, plain};

/// The provider's name, the prefix of its references (`clouddeploy:payments-api/prod`).
pub const CLOUDDEPLOY_PROVIDER: &str = "clouddeploy";
/// The release annotation naming the pipeline run that built it (`gcb:us-central1/BUILD_ID`), set
/// where the release is created: `gcloud deploy releases create … --annotations=flightdeck-run=…`.
pub const RUN_ANNOTATION: &str = "flightdeck-run";
/// Releases whose run was looked up, kept (releases do not change what built them).
const RELEASES_KEPT: usize = 512;

#[derive(Clone)]
pub struct CloudDeployProvider {
    inner: Arc<Inner>,
}

struct Inner {
    reader: Reader,
    /// What Google refused this user, on which rollout.
    denied: Denials,
    /// Release name → the run its annotation names.
    runs: Mutex<BTreeMap<String, Option<RunRef>>>,
    /// Told after each action: the watch reads again at once (a promotion changes another row).
    acted: Arc<tokio::sync::Notify>,
}

fn backend(e: GcpError) -> DeliveryError {
    DeliveryError::Backend(e.to_string())
}

impl CloudDeployProvider {
    pub fn new(settings: CloudDeploySettings) -> CloudDeployProvider {
        CloudDeployProvider::with_session(settings, Session::new())
    }

    /// With a session of the caller's making (a test's key file).
    pub fn with_session(settings: CloudDeploySettings, session: Session) -> CloudDeployProvider {
        CloudDeployProvider {
            inner: Arc::new(Inner {
                reader: Reader::new(session, settings),
                denied: Denials::default(),
                runs: Mutex::default(),
                acted: Arc::new(tokio::sync::Notify::new()),
            }),
        }
    }

    fn settings(&self) -> &CloudDeploySettings {
        &self.inner.reader.settings
    }

    fn reference(pipeline: &str, target: &str) -> RolloutRef {
        RolloutRef { provider: CLOUDDEPLOY_PROVIDER.into(), scope: pipeline.into(), name: target.into() }
    }

    /// Every target of every configured pipeline, read now. A pipeline that cannot be read is a
    /// row saying why; the whole read fails only when none could be.
    async fn read_all(&self) -> Result<Vec<Release>, DeliveryError> {
        let approvals = self.inner.reader.approvals().await.map_err(backend)?;
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for pipeline in &self.settings().pipelines {
            match self.inner.reader.pipeline(pipeline, &approvals).await {
                Ok((places, rollouts)) => {
                    for place in places {
                        let view = TargetView::of(place, &rollouts);
                        let run = self.run_of(&view).await;
                        out.push(self.release(view, run));
                    }
                }
                Err(e) => {
                    failures.push(e.to_string());
                    out.push(self.unread(pipeline, &e.to_string()));
                }
            }
        }
        if !failures.is_empty() && failures.len() == self.settings().pipelines.len() {
            return Err(DeliveryError::Backend(failures.join("; ")));
        }
        Ok(out)
    }

    async fn read_one(&self, r: &RolloutRef) -> Result<TargetView, DeliveryError> {
        if !self.settings().pipelines.contains(&r.scope) {
            return Err(DeliveryError::Unknown(r.to_string()));
        }
        let approvals = self.inner.reader.approvals().await.map_err(backend)?;
        let (places, rollouts) = self.inner.reader.pipeline(&r.scope, &approvals).await.map_err(backend)?;
        let place = places.into_iter().find(|p| p.target == r.name).ok_or_else(|| DeliveryError::Unknown(r.to_string()))?;
        Ok(TargetView::of(place, &rollouts))
    }

    fn unread(&self, pipeline: &str, why: &str) -> Release {
        let view = TargetView {
            place: Place { pipeline: pipeline.into(), target: "*".into(), ..Place::default() },
            health: Health::Unknown,
            urgency: 5,
            state: "Not read".into(),
            message: Some(plain(why)),
            ..TargetView::default()
        };
        self.release(view, None)
    }

    /// The run that built the release rolling out, as its annotation names it (read once).
    async fn run_of(&self, view: &TargetView) -> Option<RunRef> {
        let release = view.rollout.as_ref().map(|r| r.name.split("/rollouts/").next().unwrap_or_default().to_string())?;
        if let Some(known) = self.inner.runs.lock().ok()?.get(&release) {
            return known.clone();
        }
        // Not readable now: asked again next time rather than remembered as none.
        let read: super::model::Release = self.inner.reader.get(&release).await.ok()?;
        let run = read.annotations.get(RUN_ANNOTATION).and_then(|r| r.trim().parse::<RunRef>().ok());
        let mut kept = self.inner.runs.lock().ok()?;
        if kept.len() >= RELEASES_KEPT {
            kept.clear();
        }
        kept.insert(release, run.clone());
        run
    }

    fn release(&self, view: TargetView, run: Option<RunRef>) -> Release {
        let key = format!("{}/{}", view.place.pipeline, view.place.target);
        let rollout = view.rollout.as_ref();
        Release {
            reference: Self::reference(&view.place.pipeline, &view.place.target),
            kind: if view.place.strategy.starts_with("canary") { "Cloud Deploy canary".into() } else { "Cloud Deploy".into() },
            environment: self.settings().environment_of(&view.place.pipeline, &view.place.target),
            service: self.settings().judged_by.get(&key).cloned(),
            health: view.health,
            state: view.state.clone(),
            message: view.message.clone(),
            urgency: view.urgency,
            step: view.step(),
            weight: view.weight,
            desired_weight: view.desired_weight,
            version: rollout.map(|r| plain(r.release())),
            stable_version: view.earlier.first().map(|e| plain(e)),
            run,
            analysis_run: None,
            pause_until: None,
            supports: view.calls.keys().copied().collect(),
            seen: view.seen(),
            measured_on: None,
            native: Native::new(view),
        }
    }

    async fn permissions_for(&self, r: &RolloutRef, view: &TargetView) -> Permissions {
        Permissions {
            denied: self.inner.denied.of(r, Some(view.rollout.as_ref().map(|r| r.name.as_str()).unwrap_or_default())),
            notes: BTreeMap::new(),
            authenticated: Some(("google".to_string(), self.inner.reader.session.principal().await)),
        }
    }
}

/// The request `action` sends on `view`, or why there is none.
fn call_for(view: &TargetView, action: &RolloutAction) -> Result<Call, PlanError> {
    let verb = action.verb();
    if let RolloutAction::Undo { to_revision: Some(n) } = action {
        return usize::try_from(*n)
            .ok()
            .and_then(|n| view.rollback_to(n))
            .ok_or_else(|| PlanError::Invalid(format!("{} has no earlier release number {n} to roll back to", plain(&view.place.target))));
    }
    if let Some(call) = view.calls.get(verb) {
        return Ok(call.clone());
    }
    if let Some(why) = view.not_offered.get(verb) {
        return Err(PlanError::Invalid(why.clone()));
    }
    let name = format!("{}/{}", plain(&view.place.pipeline), plain(&view.place.target));
    Err(match (verb, view.health) {
        // Decided already (by someone else a moment ago, or long since).
        ("approve" | "reject", Health::Progressing | Health::Degraded | Health::Paused) => {
            PlanError::Invalid(format!("{name} is not waiting for approval: {}", view.state))
        }
        ("approve" | "reject" | "promote" | "cancel" | "retry" | "ignore-job", Health::Healthy | Health::Aborted) => {
            PlanError::NothingToDo(format!("{name}: nothing to {verb}: {}", view.state))
        }
        _ => PlanError::Invalid(format!("{verb} is not something a Cloud Deploy rollout can do now ({})", view.state)),
    })
}

impl RolloutProvider for CloudDeployProvider {
    fn name(&self) -> &str {
        CLOUDDEPLOY_PROVIDER
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<Release>, DeliveryError>> {
        self.read_all().boxed()
    }

    fn get(&self, r: RolloutRef) -> BoxFuture<'_, Result<Release, DeliveryError>> {
        async move {
            let view = self.read_one(&r).await?;
            let run = self.run_of(&view).await;
            Ok(self.release(view, run))
        }
        .boxed()
    }

    fn watch(&self, events: UnboundedSender<ReleaseEvent>, stop: CancellationToken) {
        let me = self.clone();
        let s = self.settings();
        let poll = Polling {
            provider: CLOUDDEPLOY_PROVIDER,
            label: format!("Cloud Deploy · {} · {}", s.project, s.region),
            active: s.active_poll,
            idle: s.idle_poll,
            nudge: Some(self.inner.acted.clone()),
        };
        polling::spawn(
            poll,
            move || {
                let me = me.clone();
                async move { me.read_all().await }
            },
            same_picture::<TargetView>,
            events,
            stop,
        );
    }

    fn detail(&self, r: RolloutRef) -> BoxFuture<'_, Result<Detail, DeliveryError>> {
        async move {
            let view = self.read_one(&r).await?;
            let permissions = self.permissions_for(&r, &view).await;
            let runs = match &view.rollout {
                Some(ro) => self.inner.reader.job_runs(&ro.name).await.map_err(backend)?,
                None => Vec::new(),
            };
            let approval = if view.place.require_approval { "approval required" } else { "no approval" };
            let mut about = vec![
                format!("Pipeline {} · target {} (stage {})", plain(&view.place.pipeline), plain(&view.place.target), view.place.stage + 1),
                format!("Strategy: {} · {approval}", plain(&view.place.strategy)),
            ];
            if let Some(ro) = &view.rollout {
                let rollback =
                    ro.rollback_of_rollout.as_deref().map(|of| format!(" · a rollback of {}", plain(of.rsplit('/').next().unwrap_or(of))));
                about.push(format!("Rollout {} of release {}{}", plain(ro.id()), plain(ro.release()), rollback.unwrap_or_default()));
                if self.run_of(&view).await.is_none() {
                    about.push(format!(
                        "No run is linked: annotate the release with {RUN_ANNOTATION}=RUN to judge it by that run's findings"
                    ));
                }
            }
            let mut sections = Vec::new();
            if let Some(ro) = &view.rollout {
                let approval = ro.approval_state.as_deref().unwrap_or("APPROVAL_STATE_UNSPECIFIED");
                let when = ro.approve_time.as_deref().map(|t| format!(" at {}", plain(t))).unwrap_or_default();
                sections.push(Section { title: "Approval".into(), lines: vec![format!("{}{when}", plain(approval))] });
            }
            let verification: Vec<String> = runs
                .iter()
                .filter(|j| j.job_id == "verify" || j.job_id == "analysis")
                .map(|j| {
                    let res = j.result();
                    let why = res
                        .and_then(|x| x.failure_message.as_deref().or(x.failure_cause.as_deref()))
                        .map(|m| format!(" — {}", excerpt(m, 300)))
                        .unwrap_or_default();
                    let artifacts =
                        res.and_then(|x| x.artifact_uri.as_deref()).map(|u| format!(" · artifacts {}", plain(u))).unwrap_or_default();
                    format!(
                        "{} {}: {} {}{why}{artifacts}",
                        plain(&j.phase_id),
                        plain(&j.job_id),
                        mark(&j.state),
                        plain(&j.state.to_lowercase())
                    )
                })
                .collect();
            sections.push(Section {
                title: "Verification".into(),
                lines: if verification.is_empty() { vec!["no verification has run".into()] } else { verification },
            });
            if !view.history.is_empty() {
                let lines = view
                    .history
                    .iter()
                    .map(|(id, release, state, created)| {
                        let when = created.as_deref().map(|c| format!("  {}", plain(c.get(..19).unwrap_or(c)))).unwrap_or_default();
                        format!("{:<24} {:<18} {}{when}", plain(release), plain(&state.to_lowercase()), plain(id))
                    })
                    .collect();
                sections.push(Section { title: format!("Rollouts to {}", plain(&view.place.target)), lines });
            }
            let mut keys: Vec<String> = view.calls.iter().map(|(verb, call)| format!("{verb}: {}", call.text())).collect();
            keys.extend(view.not_offered.iter().map(|(verb, why)| format!("{verb}: not offered — {why}")));
            sections.push(Section { title: "What the keys send".into(), lines: keys });
            let mut revisions: Vec<Revision> = Vec::new();
            if let Some(ro) = &view.rollout {
                revisions.push(Revision {
                    number: 0,
                    label: format!("{} · {}", plain(ro.release()), view.state),
                    current: true,
                    created: None,
                });
                revisions.extend(view.earlier.iter().enumerate().map(|(i, rel)| Revision {
                    number: i as i64 + 1,
                    label: format!("{} · succeeded here before", plain(rel)),
                    current: false,
                    created: None,
                }));
            }
            let mut timeline = Vec::new();
            if let Some(ro) = &view.rollout {
                let at = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
                timeline.push(TimelineEntry { at: at(&ro.create_time), text: format!("rollout {} created", plain(ro.id())) });
                if ro.approve_time.is_some() {
                    timeline.push(TimelineEntry {
                        at: at(&ro.approve_time),
                        text: format!("approval: {}", plain(ro.approval_state.as_deref().unwrap_or(""))),
                    });
                }
                for j in &runs {
                    timeline.push(TimelineEntry {
                        at: at(&j.start_time).or(at(&j.create_time)),
                        text: format!("{} {} started", plain(&j.phase_id), plain(&j.job_id)),
                    });
                    if j.end_time.is_some() {
                        timeline.push(TimelineEntry {
                            at: at(&j.end_time),
                            text: format!("{} {} {}", plain(&j.phase_id), plain(&j.job_id), plain(&j.state.to_lowercase())),
                        });
                    }
                }
                timeline.sort_by_key(|t| t.at);
            }
            Ok(Detail {
                reference: Some(r),
                loaded: true,
                error: None,
                about,
                steps: view.steps(),
                revisions,
                sections,
                timeline,
                permissions: Some(permissions),
                native: Native::new(view),
                parts: Vec::new(),
                related: Vec::new(),
            })
        }
        .boxed()
    }

    fn detail_changes(&self, _r: RolloutRef) -> futures::stream::BoxStream<'static, ()> {
        self.inner.denied.changes()
    }

    fn permissions(&self, r: RolloutRef) -> BoxFuture<'_, Result<Permissions, DeliveryError>> {
        async move {
            let view = self.read_one(&r).await?;
            Ok(self.permissions_for(&r, &view).await)
        }
        .boxed()
    }

    fn plan(&self, release: &Release, detail: Option<&Detail>, action: &RolloutAction, _now: Timestamp) -> Result<Plan, PlanError> {
        let view = release.native.get::<TargetView>().ok_or_else(|| PlanError::Invalid(format!("{}: not read yet", release.reference)))?;
        let call = call_for(view, action)?;
        let rollout = view.rollout.as_ref();
        let phase = view
            .current_phase()
            .and_then(|i| rollout?.phases.get(i))
            .filter(|p| !view.state.contains(&p.id))
            .map(|p| format!(", at {}", plain(&p.id)))
            .unwrap_or_default();
        Ok(Plan {
            effect: vec![
                format!("Now: {}{phase}.", view.state),
                format!("{}.", crate::util::capitalised(&call.does)),
                format!("Sends: {}", call.text()),
            ],
            parameters: json!({
                "pipeline": view.place.pipeline,
                "target": view.place.target,
                "rollout": rollout.map(|r| r.name.clone()),
                "etag": rollout.and_then(|r| r.etag.clone()),
                "request": {"method": call.method, "path": call.path, "body": call.body},
            }),
            denied: detail.and_then(|d| d.permissions.as_ref()).and_then(|p| p.denies(action)).map(str::to_string),
            // A release promoted to the next target is held to that target's environment too.
            reaches: match (call.method, &view.place.next_target) {
                ("rollouts.create", Some(next)) => self.settings().environment_of(&view.place.pipeline, next).into_iter().collect(),
                _ => Vec::new(),
            },
            run_link: Some(format!(
                "annotate the release where it is created (`gcloud deploy releases create … --annotations={RUN_ANNOTATION}=RUN`)"
            )),
        })
    }

    fn execute(
        &self,
        r: RolloutRef,
        action: RolloutAction,
        seen: Option<crate::delivery::Seen>,
        _by: By,
    ) -> BoxFuture<'_, Result<String, DeliveryError>> {
        async move {
            let view = self.read_one(&r).await?;
            crate::delivery::Seen::still(seen.as_ref(), &view.seen(), &r.short())?;
            let call = call_for(&view, &action).map_err(|e| DeliveryError::Refused(format!("{}: {e}; nothing was sent", r.short())))?;
            let rollout = view.rollout.as_ref().map(|r| r.name.clone()).unwrap_or_default();
            match self.inner.reader.session.call(Method::POST, &self.inner.reader.url(&call.path), Some(&call.body)).await {
                Ok(_) => {
                    self.inner.acted.notify_one();
                    Ok(format!("{}: asked Cloud Deploy to {} ({})", r.short(), call.does, call.method))
                }
                Err(e @ GcpError::PermissionDenied { .. }) => {
                    let why = e.to_string();
                    self.inner.denied.remember(&r, action.verb(), &rollout, why.clone());
                    Err(DeliveryError::Refused(why))
                }
                // Google said no to the request itself (another person acted first, the phase moved on).
                Err(e @ GcpError::Api { status: 400..=499, .. }) => Err(DeliveryError::Refused(e.to_string())),
                Err(e) => Err(backend(e)),
            }
        }
        .boxed()
    }
}
