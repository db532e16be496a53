//! One picture of a Cloud Deploy target in its delivery pipeline: the latest rollout there, its
//! phases and jobs, what waits for a person, and the exact request each key would send. The release
//! row, the detail view, the plan and the check before acting are all made from it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::model::{Phase, Rollout};
use crate::delivery::{Health, Seen, StepState, StepView};
use crate::logstore::sanitize::{excerpt, plain};

/// A request a key sends: the API method, the resource path (with its query) and the body, shown
/// as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The discovery document's method (`rollouts.advance`).
    pub method: &'static str,
    /// `projects/…/rollouts/ID:advance`, relative to the API's `/v1/`.
    pub path: String,
    pub body: Value,
    /// What it does, for people ("advance to canary-50").
    pub does: String,
}

impl Call {
    pub fn text(&self) -> String {
        format!("POST {} {}", self.path, self.body)
    }
}

/// One target of one pipeline: where it stands in the pipeline's progression.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Place {
    pub pipeline: String,
    /// `projects/P/locations/R/deliveryPipelines/NAME`.
    pub pipeline_path: String,
    pub target: String,
    /// Where the target stands in the pipeline's progression, counting from 0.
    pub stage: usize,
    pub next_target: Option<String>,
    pub require_approval: bool,
    /// "canary 25 % → 50 % → stable", "standard".
    pub strategy: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetView {
    pub place: Place,
    /// The latest rollout to this target.
    pub rollout: Option<Rollout>,
    /// Releases that succeeded here before the current one, newest first (what undo goes back to).
    pub earlier: Vec<String>,
    /// The newest rollouts to this target: (rollout id, release, state, created).
    pub history: Vec<(String, String, String, Option<String>)>,
    pub health: Health,
    pub urgency: u8,
    pub state: String,
    pub message: Option<String>,
    pub weight: Option<u8>,
    pub desired_weight: Option<u8>,
    pub calls: BTreeMap<&'static str, Call>,
    pub not_offered: BTreeMap<&'static str, String>,
    /// How many rollouts of each release each target has had (for the next rollout's id).
    pub counts: BTreeMap<(String, String), usize>,
}

const DONE: [&str; 2] = ["SUCCEEDED", "SKIPPED"];
/// Rollouts to a target shown in its detail.
const HISTORY: usize = 8;

impl TargetView {
    /// The picture of `place` from every rollout of its pipeline (newest first).
    pub fn of(place: Place, rollouts: &[Rollout]) -> TargetView {
        let mine: Vec<&Rollout> = rollouts.iter().filter(|r| r.target_id == place.target).collect();
        let rollout = mine.first().map(|r| (*r).clone());
        let mut earlier: Vec<String> = Vec::new();
        for r in mine.iter().skip(1).filter(|r| r.state == "SUCCEEDED") {
            let rel = r.release().to_string();
            if Some(rel.as_str()) != rollout.as_ref().map(|c| c.release()) && !earlier.contains(&rel) {
                earlier.push(rel);
            }
        }
        let history = mine
            .iter()
            .take(HISTORY)
            .map(|r| (r.id().to_string(), r.release().to_string(), r.state.clone(), r.create_time.clone()))
            .collect();
        let mut counts = BTreeMap::new();
        for r in rollouts {
            *counts.entry((r.release().to_string(), r.target_id.clone())).or_insert(0) += 1;
        }
        let mut v = TargetView {
            place,
            rollout,
            earlier,
            history,
            health: Health::Unknown,
            urgency: 4,
            state: "No rollout yet".into(),
            counts,
            ..TargetView::default()
        };
        v.judge(rollouts);
        v
    }

    /// The phase the rollout is at: the one under way or failed, else the first still to come.
    pub fn current_phase(&self) -> Option<usize> {
        let r = self.rollout.as_ref()?;
        r.phases
            .iter()
            .position(|p| matches!(p.state.as_str(), "IN_PROGRESS" | "FAILED" | "ABORTED"))
            .or_else(|| r.phases.iter().position(|p| !DONE.contains(&p.state.as_str())))
            .or(if r.phases.is_empty() { None } else { Some(r.phases.len() - 1) })
    }

    /// The phase waiting for `advance`: the rollout is under way, nothing runs, the phase before it
    /// succeeded.
    pub fn waiting_to_advance(&self) -> Option<&Phase> {
        let r = self.rollout.as_ref().filter(|r| r.state == "IN_PROGRESS")?;
        if r.phases.iter().any(|p| p.state == "IN_PROGRESS") {
            return None;
        }
        let i = r.phases.iter().position(|p| p.state == "PENDING")?;
        (i > 0 && DONE.contains(&r.phases[i - 1].state.as_str())).then(|| &r.phases[i])
    }

    /// The failed job of a failed rollout: (phase, job).
    pub fn failed_job(&self) -> Option<(&str, &str)> {
        let r = self.rollout.as_ref()?;
        r.phases.iter().find_map(|p| p.jobs().into_iter().find(|j| j.state == "FAILED").map(|j| (p.id.as_str(), j.id.as_str())))
    }

    fn judge(&mut self, all: &[Rollout]) {
        let Some(r) = self.rollout.clone() else {
            self.not_offered.insert("promote", format!("nothing has been rolled out to {} yet", self.place.target));
            return;
        };
        let release = plain(r.release());
        let path = &r.name;
        let phase_label = |i: Option<usize>| i.and_then(|i| r.phases.get(i)).map(|p| plain(&p.id)).unwrap_or_default();
        // Traffic shares are a canary's; a standard rollout replaces the whole target.
        let canary = self.place.strategy.starts_with("canary");
        self.weight = r.phases.iter().rev().find(|p| canary && DONE.contains(&p.state.as_str())).map(|p| p.percent().unwrap_or(100));
        self.desired_weight = r.phases.iter().find(|p| canary && p.state == "IN_PROGRESS").map(|p| p.percent().unwrap_or(100));
        self.message = r.failure_reason.as_deref().filter(|m| !m.is_empty()).map(|m| excerpt(m, 300));
        match r.state.as_str() {
            "PENDING_APPROVAL" => {
                (self.health, self.urgency, self.state) = (Health::Paused, 0, "Waiting for approval".into());
                self.message = Some(format!("{release} to {} needs an approval", plain(&self.place.target)));
                self.offer(
                    "approve",
                    "rollouts.approve",
                    format!("{path}:approve"),
                    json!({"approved": true}),
                    format!("approve {release} to {}", plain(&self.place.target)),
                );
                self.offer(
                    "reject",
                    "rollouts.approve",
                    format!("{path}:approve"),
                    json!({"approved": false}),
                    format!("reject {release} to {}", plain(&self.place.target)),
                );
            }
            "IN_PROGRESS" => {
                if let Some(next) = self.waiting_to_advance().map(|p| p.id.clone()) {
                    let next_label = plain(&next);
                    (self.health, self.urgency) = (Health::Paused, 0);
                    self.state = format!("Waiting to advance to {next_label}");
                    self.offer(
                        "promote",
                        "rollouts.advance",
                        format!("{path}:advance"),
                        json!({"phaseId": next}),
                        format!("advance {release} to {next_label}"),
                    );
                } else {
                    let at = self.current_phase();
                    let job = at
                        .and_then(|i| r.phases.get(i))
                        .and_then(|p| p.jobs().into_iter().find(|j| j.state == "IN_PROGRESS"))
                        .map(|j| format!(" ({})", plain(&j.id)));
                    (self.health, self.urgency) = (Health::Progressing, 3);
                    self.state = format!("Deploying {}{}", phase_label(at), job.unwrap_or_default());
                    self.not_offered.insert("promote", "a phase is under way; advance once it has succeeded".into());
                }
                self.offer(
                    "cancel",
                    "rollouts.cancel",
                    format!("{path}:cancel"),
                    json!({}),
                    format!("cancel the rollout of {release} where it is"),
                );
            }
            "FAILED" | "HALTED" => {
                (self.health, self.urgency) = (Health::Degraded, 1);
                self.state = match self.failed_job() {
                    Some((phase, job)) => format!("Failed at {} ({})", plain(phase), plain(job)),
                    None if r.state == "HALTED" => "Halted".into(),
                    None => "Failed".into(),
                };
                if let Some((phase, job)) = self.failed_job().map(|(p, j)| (p.to_string(), j.to_string())) {
                    let body = json!({"phaseId": phase, "jobId": job});
                    let what = format!("the {} job of {}", plain(&job), plain(&phase));
                    self.offer("retry", "rollouts.retryJob", format!("{path}:retryJob"), body.clone(), format!("run {what} again"));
                    self.offer(
                        "ignore-job",
                        "rollouts.ignoreJob",
                        format!("{path}:ignoreJob"),
                        body,
                        format!("ignore the failed {what} and go on"),
                    );
                }
                self.offer_rollback();
            }
            "SUCCEEDED" => {
                (self.health, self.urgency) = (Health::Healthy, 4);
                self.state = match r.rollback_of_rollout.as_deref() {
                    Some(_) => format!("Rolled back to {release}"),
                    None => "Succeeded".into(),
                };
                self.weight = canary.then_some(100);
                self.offer_promotion(&r, all);
                self.offer_rollback();
            }
            "APPROVAL_REJECTED" => {
                (self.health, self.urgency, self.state) = (Health::Aborted, 4, "Rejected".into());
            }
            "CANCELLED" | "CANCELLING" => {
                (self.health, self.urgency) = (if r.state == "CANCELLED" { Health::Aborted } else { Health::Progressing }, 4);
                self.state = if r.state == "CANCELLED" { "Cancelled".into() } else { "Cancelling".into() };
                self.offer_rollback();
            }
            other => {
                // PENDING (behind another rollout), PENDING_RELEASE (rendering).
                (self.health, self.urgency) = (Health::Progressing, 3);
                self.state = crate::util::capitalised(&plain(&other.to_lowercase().replace('_', " ")));
            }
        }
    }

    fn offer(&mut self, verb: &'static str, method: &'static str, path: String, body: Value, does: String) {
        self.calls.insert(verb, Call { method, path, body, does });
    }

    /// The next rollout's id for `release` on `target`, as gcloud names them.
    fn next_rollout_id(&self, release: &str, target: &str) -> String {
        let n = self.counts.get(&(release.to_string(), target.to_string())).copied().unwrap_or(0) + 1;
        let id = format!("{release}-to-{target}-{n:04}");
        // Rollout ids are at most 63 characters.
        id.chars().take(63).collect::<String>().trim_end_matches('-').to_string()
    }

    fn offer_promotion(&mut self, r: &Rollout, all: &[Rollout]) {
        let Some(next) = self.place.next_target.clone() else {
            self.not_offered
                .insert("promote", format!("{} is the last target of {}", plain(&self.place.target), plain(&self.place.pipeline)));
            return;
        };
        let release = r.release().to_string();
        let there = all.iter().find(|o| o.target_id == next);
        if there
            .is_some_and(|o| o.release() == release && !matches!(o.state.as_str(), "FAILED" | "CANCELLED" | "APPROVAL_REJECTED" | "HALTED"))
        {
            self.not_offered.insert(
                "promote",
                format!(
                    "{} is already rolled out to {} ({})",
                    plain(&release),
                    plain(&next),
                    there.map(|o| plain(&o.state)).unwrap_or_default()
                ),
            );
            return;
        }
        let id = self.next_rollout_id(&release, &next);
        let path = format!("{}/releases/{release}/rollouts?rolloutId={id}", self.place.pipeline_path);
        self.offer(
            "promote",
            "rollouts.create",
            path,
            json!({"targetId": next}),
            format!("promote {} to {}", plain(&release), plain(&next)),
        );
    }

    fn offer_rollback(&mut self) {
        match self.rollback_to(1) {
            Some(call) => {
                self.calls.insert("undo", call);
            }
            None => {
                self.not_offered.insert("undo", format!("no earlier release succeeded on {}", plain(&self.place.target)));
            }
        }
    }

    /// Roll the target back to the `n`th earlier release that succeeded there (1: the latest).
    pub fn rollback_to(&self, n: usize) -> Option<Call> {
        let release = self.earlier.get(n.checked_sub(1)?)?;
        let id = self.next_rollout_id(release, &self.place.target);
        Some(Call {
            method: "deliveryPipelines.rollbackTarget",
            path: format!("{}:rollbackTarget", self.place.pipeline_path),
            body: json!({"targetId": self.place.target, "releaseId": release, "rolloutId": id}),
            does: format!("roll {} back to {} (a new rollout of it)", plain(&self.place.target), plain(release)),
        })
    }

    /// The phases as steps, each with its jobs' states.
    pub fn steps(&self) -> Vec<StepView> {
        let Some(r) = &self.rollout else { return Vec::new() };
        let at = self.current_phase();
        r.phases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let jobs = p.jobs().iter().map(|j| format!("{} {}", plain(&j.id), mark(&j.state))).collect::<Vec<_>>().join(", ");
                let share = p.percent().map(|n| format!(" ({n} %)")).unwrap_or_default();
                StepView {
                    label: format!("{}{share}: {}", plain(&p.id), if jobs.is_empty() { plain(&p.state.to_lowercase()) } else { jobs }),
                    state: if DONE.contains(&p.state.as_str()) {
                        StepState::Done
                    } else if Some(i) == at {
                        StepState::Current
                    } else {
                        StepState::Todo
                    },
                }
            })
            .collect()
    }

    pub fn step(&self) -> Option<(usize, usize)> {
        let r = self.rollout.as_ref()?;
        Some((self.current_phase()? + 1, r.phases.len()))
    }

    /// What the check before an action compares: the rollout and its etag (Google changes it with
    /// every change of the rollout), its phase, its state as people read it.
    pub fn seen(&self) -> Seen {
        match &self.rollout {
            Some(r) => Seen {
                revision: format!("{}@{}", r.id(), r.etag.as_deref().unwrap_or_default()),
                step: self.step().map(|(i, _)| i),
                state: self.state.clone(),
                pending: None,
            },
            None => Seen { revision: String::new(), step: None, state: "NONE".into(), pending: None },
        }
    }
}

/// A job's state as a mark.
pub fn mark(state: &str) -> &'static str {
    match state {
        "SUCCEEDED" => "✓",
        "FAILED" => "✗",
        "IN_PROGRESS" => "…",
        "IGNORED" => "ignored",
        "SKIPPED" | "DISABLED" => "skipped",
        "ABORTED" => "aborted",
        _ => "·",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(release: &str, target: &str, state: &str, phases: &[(&str, &str)]) -> Rollout {
        serde_json::from_value(json!({
            "name": format!("projects/p/locations/r/deliveryPipelines/api/releases/{release}/rollouts/{release}-to-{target}-0001"),
            "targetId": target, "state": state, "etag": "e1",
            "phases": phases.iter().map(|(id, st)| json!({"id": id, "state": st,
                "deploymentJobs": {"deployJob": {"id": "deploy", "state": if *st == "PENDING" { "PENDING" } else { "SUCCEEDED" }}}})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn view(target: &str, next: Option<&str>, rollouts: Vec<Rollout>) -> TargetView {
        let place = Place {
            pipeline: "api".into(),
            pipeline_path: "projects/p/locations/r/deliveryPipelines/api".into(),
            target: target.into(),
            next_target: next.map(str::to_string),
            strategy: "canary 25 % → stable".into(),
            ..Place::default()
        };
        TargetView::of(place, &rollouts)
    }

    #[test]
    fn a_rollout_between_phases_waits_for_advance_to_the_next_one() {
        let v = view("prod", None, vec![rollout("r2", "prod", "IN_PROGRESS", &[("canary-25", "SUCCEEDED"), ("stable", "PENDING")])]);
        assert_eq!((v.health, v.urgency, v.state.as_str()), (Health::Paused, 0, "Waiting to advance to stable"));
        assert_eq!(v.calls["promote"].body, json!({"phaseId": "stable"}));
        assert_eq!((v.weight, v.step()), (Some(25), Some((2, 2))));
        assert!(v.calls["promote"].path.ends_with("/rollouts/r2-to-prod-0001:advance"));
    }

    #[test]
    fn promotion_names_the_next_rollout_as_gcloud_does_and_refuses_a_duplicate() {
        let done = rollout("r2", "staging", "SUCCEEDED", &[("stable", "SUCCEEDED")]);
        let v = view("staging", Some("prod"), vec![done.clone()]);
        assert!(v.calls["promote"].path.ends_with("/releases/r2/rollouts?rolloutId=r2-to-prod-0001"), "{:?}", v.calls["promote"]);
        // Already on prod (waiting for approval there): promoting again is not offered.
        let there = rollout("r2", "prod", "PENDING_APPROVAL", &[("canary-25", "PENDING"), ("stable", "PENDING")]);
        let v = view("staging", Some("prod"), vec![there, done]);
        assert!(!v.calls.contains_key("promote"));
        assert!(v.not_offered["promote"].contains("already rolled out to prod"), "{:?}", v.not_offered);
        // A long release id still makes a valid rollout id (at most 63 characters, no trailing -).
        let long = "r".repeat(70);
        let v = view("staging", Some("prod"), vec![rollout(&long, "staging", "SUCCEEDED", &[("stable", "SUCCEEDED")])]);
        let id = v.calls["promote"].path.rsplit('=').next().unwrap().to_string();
        assert!(id.len() <= 63 && !id.ends_with('-'), "{id}");
    }

    #[test]
    fn undo_goes_back_to_the_releases_that_succeeded_there_newest_first() {
        let v = view(
            "prod",
            None,
            vec![
                rollout("r3", "prod", "FAILED", &[("stable", "FAILED")]),
                rollout("r2", "prod", "SUCCEEDED", &[("stable", "SUCCEEDED")]),
                rollout("r1", "prod", "SUCCEEDED", &[("stable", "SUCCEEDED")]),
            ],
        );
        assert_eq!(v.earlier, ["r2", "r1"]);
        assert_eq!(v.calls["undo"].body, json!({"targetId": "prod", "releaseId": "r2", "rolloutId": "r2-to-prod-0002"}));
        assert_eq!(v.rollback_to(2).unwrap().body["releaseId"], "r1");
        assert!(v.rollback_to(3).is_none());
        // It failed without a failed job (the render failed): nothing to retry or ignore.
        assert!(!v.calls.contains_key("retry") && !v.calls.contains_key("ignore-job"));
    }
}
