//! The status a person needs, computed as the Argo Rollouts plugin does (`GetRolloutPhase`,
//! `CalculateRolloutPhase`), with an explicit Aborted badge, the abort's cause, and the countdown
//! of a timed pause that the plugin does not show.

use jiff::Timestamp;

use super::model::Rollout;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// The controller has not seen the latest spec, or a person's unpause, yet.
    Syncing(String),
    /// `status.abort`: traffic is back on stable; the cause is the condition's message.
    Aborted(String),
    Degraded(String),
    /// `spec.paused`, by a person.
    PausedManual,
    /// A pause condition of the controller; `remaining` seconds for a timed pause.
    Paused {
        reason: String,
        remaining: Option<i64>,
    },
    Progressing(String),
    Healthy,
}

impl State {
    pub fn label(&self) -> &'static str {
        match self {
            State::Syncing(_) => "Syncing",
            State::Aborted(_) => "Aborted",
            State::Degraded(_) => "Degraded",
            State::PausedManual | State::Paused { .. } => "Paused",
            State::Progressing(_) => "Progressing",
            State::Healthy => "Healthy",
        }
    }

    /// What needs a human first: indefinite pauses (blue-green waiting for promotion, inconclusive
    /// analysis), then aborted and degraded, then timed pauses and progress, then healthy.
    pub fn urgency(&self) -> u8 {
        match self {
            State::Paused { remaining: None, .. } | State::PausedManual => 0,
            State::Aborted(_) | State::Degraded(_) => 1,
            State::Paused { remaining: Some(_), .. } => 2,
            State::Syncing(_) | State::Progressing(_) => 3,
            State::Healthy => 4,
        }
    }

    /// One line: the label with its detail ("Paused CanaryPauseStep 42s left").
    pub fn describe(&self) -> String {
        match self {
            State::Syncing(m) | State::Degraded(m) | State::Progressing(m) if !m.is_empty() => format!("{} ({m})", self.label()),
            State::Syncing(_) | State::Degraded(_) | State::Progressing(_) => self.label().to_string(),
            State::Aborted(cause) => format!("Aborted: {cause}"),
            State::PausedManual => "Paused (manually)".into(),
            State::Paused { reason, remaining: Some(s) } => format!("Paused ({reason}, {s}s left)"),
            State::Paused { reason, remaining: None } => format!("Paused ({reason})"),
            State::Healthy => "Healthy".into(),
        }
    }
}

fn ts(s: &Option<String>) -> Option<Timestamp> {
    s.as_deref().and_then(|s| s.parse().ok())
}

/// The rollout's state at `now`.
pub fn state(r: &Rollout, now: Timestamp) -> State {
    let st = &r.status;
    // 1–2 of GetRolloutPhase: a stale phase is worse than "syncing".
    if let (Some(o), Some(g)) = (r.observed_generation(), r.metadata.generation)
        && o < g
    {
        return State::Syncing("waiting for rollout spec update to be observed".into());
    }
    if st.controller_pause && st.pause_conditions.is_empty() && !st.abort && !r.spec.paused {
        return State::Syncing("waiting for rollout to unpause".into());
    }
    if st.abort {
        // Only the controller's own account of the abort is its cause; a message from before it
        // (a pause reason) is not.
        let cause = st
            .conditions
            .iter()
            .find(|c| c.reason == "RolloutAborted")
            .map(|c| c.message.clone())
            .or_else(|| st.message.as_ref().and_then(|m| m.strip_prefix("RolloutAborted: ")).map(str::to_string))
            .unwrap_or_else(|| "aborted; the controller has not acted on it yet".into());
        return State::Aborted(cause);
    }
    if let Some(c) = st.conditions.iter().find(|c| c.type_ == "InvalidSpec") {
        return State::Degraded(format!("InvalidSpec: {}", c.message));
    }
    if let Some(c) = st.conditions.iter().find(|c| c.reason == "ProgressDeadlineExceeded") {
        return State::Degraded(format!("ProgressDeadlineExceeded: {}", c.message));
    }
    if st.phase.as_deref() == Some("Degraded") {
        return State::Degraded(st.message.clone().unwrap_or_default());
    }
    if r.spec.paused {
        return State::PausedManual;
    }
    if let Some(p) = st.pause_conditions.first() {
        let length = match p.reason.as_str() {
            "CanaryPauseStep" => r.steps().get(r.step_index()).and_then(|s| s.pause.as_ref()).and_then(|p| p.seconds()),
            "BlueGreenPause" => r
                .spec
                .strategy
                .blue_green
                .as_ref()
                .filter(|b| b.auto_promotion_enabled != Some(false))
                .and_then(|b| b.auto_promotion_seconds)
                .filter(|s| *s > 0),
            _ => None,
        };
        let remaining = length.zip(ts(&p.start_time)).map(|(len, start)| (start.as_second() + len - now.as_second()).max(0));
        return State::Paused { reason: p.reason.clone(), remaining };
    }
    match st.phase.as_deref() {
        Some("Healthy") => State::Healthy,
        Some("Paused") => State::Paused { reason: st.message.clone().unwrap_or_else(|| "paused".into()), remaining: None },
        Some(_) => State::Progressing(st.message.clone().unwrap_or_default()),
        // Controllers before v1.0 left the phase to the client.
        None if r.fully_promoted() => State::Healthy,
        None => State::Progressing("waiting for all steps to complete".into()),
    }
}

/// The weight the steps ask for now (`GetCurrentSetWeight`).
pub fn set_weight(r: &Rollout) -> i64 {
    let max = r.spec.strategy.canary.as_ref().and_then(|c| c.max_traffic_weight).unwrap_or(100);
    if r.status.abort {
        return 0;
    }
    let i = r.step_index();
    if i >= r.steps().len() {
        return max;
    }
    r.steps()[..=i].iter().rev().find_map(|s| s.set_weight).unwrap_or(0)
}

/// The weight the traffic router reports (falls back to the desired weight without one).
pub fn actual_weight(r: &Rollout) -> i64 {
    if !r.steps().is_empty() && r.step_index() >= r.steps().len() {
        return set_weight(r);
    }
    r.status.canary.weights.as_ref().map(|w| w.canary.weight).unwrap_or_else(|| set_weight(r))
}

/// "actual/desired %" of a canary; blue-green switches whole services, so it has none.
pub fn weight_text(r: &Rollout) -> String {
    if r.is_blue_green() { "-".into() } else { format!("{}/{} %", actual_weight(r), set_weight(r)) }
}

/// "i/n" of the canary steps, when there are steps.
pub fn step_text(r: &Rollout) -> Option<String> {
    let n = r.steps().len();
    (n > 0).then(|| format!("{}/{}", r.step_index(), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rollout(v: serde_json::Value) -> Rollout {
        serde_json::from_value(v).unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-22T10:00:30Z".parse().unwrap()
    }

    #[test]
    fn an_unobserved_generation_is_syncing_not_the_stale_phase() {
        let r = rollout(json!({"metadata": {"generation": 4}, "status": {"observedGeneration": "3", "phase": "Healthy"}}));
        assert_eq!(state(&r, now()).label(), "Syncing");
    }

    #[test]
    fn an_abort_is_its_own_badge_with_the_cause() {
        let r = rollout(json!({"status": {"abort": true, "phase": "Degraded",
            "message": "RolloutAborted: metric \"web\" assessed Failed",
            "conditions": [{"type": "Progressing", "status": "False", "reason": "RolloutAborted", "message": "Rollout aborted update to revision 3: metric \"web\" assessed Failed"}]}}));
        assert_eq!(state(&r, now()), State::Aborted("Rollout aborted update to revision 3: metric \"web\" assessed Failed".into()));
    }

    #[test]
    fn an_abort_not_handled_yet_does_not_borrow_the_pause_reason() {
        let r = rollout(json!({"status": {"abort": true, "phase": "Paused", "message": "CanaryPauseStep"}}));
        assert_eq!(state(&r, now()), State::Aborted("aborted; the controller has not acted on it yet".into()));
    }

    #[test]
    fn a_timed_pause_counts_down_and_an_indefinite_one_does_not() {
        let mut v = json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}, {"pause": {}}]}}},
            "status": {"currentStepIndex": 1, "phase": "Paused", "controllerPause": true,
                       "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T10:00:00Z"}]}});
        assert_eq!(state(&rollout(v.clone()), now()), State::Paused { reason: "CanaryPauseStep".into(), remaining: Some(30) });
        v["status"]["currentStepIndex"] = json!(2);
        let s = state(&rollout(v), now());
        assert_eq!(s, State::Paused { reason: "CanaryPauseStep".into(), remaining: None });
        assert_eq!(s.urgency(), 0);
    }

    #[test]
    fn a_cleared_pause_waits_for_the_controller() {
        let r = rollout(json!({"status": {"controllerPause": true, "phase": "Paused"}}));
        assert_eq!(state(&r, now()), State::Syncing("waiting for rollout to unpause".into()));
    }

    #[test]
    fn weights_follow_the_steps_and_the_router() {
        let mut v = json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]}}},
            "status": {"currentStepIndex": 1, "canary": {"weights": {"canary": {"weight": 15}, "stable": {"weight": 85}}}}});
        assert_eq!((set_weight(&rollout(v.clone())), actual_weight(&rollout(v.clone()))), (20, 15));
        v["status"]["currentStepIndex"] = json!(3);
        assert_eq!((set_weight(&rollout(v.clone())), actual_weight(&rollout(v.clone()))), (100, 100));
        v["status"]["abort"] = json!(true);
        assert_eq!(set_weight(&rollout(v)), 0);
    }

    #[test]
    fn blue_green_waiting_for_promotion_needs_a_human() {
        let r = rollout(json!({"spec": {"strategy": {"blueGreen": {"activeService": "a", "autoPromotionEnabled": false}}},
            "status": {"pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2026-11-22T10:00:00Z"}], "controllerPause": true}}));
        let s = state(&r, now());
        assert_eq!(s, State::Paused { reason: "BlueGreenPause".into(), remaining: None });
        assert_eq!(s.urgency(), 0);
    }
}
