//! The safety core: every change is described as the user sees it, judged by the policy, confirmed
//! at the tier the policy asks for, checked again on confirmation, and journaled by its execution.

use super::*;

pub(crate) fn request_trigger(state: &mut State, pipeline: Option<String>) -> Vec<Effect> {
    request_trigger_with(state, pipeline, Default::default())
}

/// `:run PIPELINE [ref=REF] [NAME=VALUE]…`: the pipeline, and for a workflow its ref and inputs.
pub(crate) fn request_trigger_line(state: &mut State, line: &str) -> Vec<Effect> {
    let mut words = line.split_whitespace();
    let Some(pipeline) = words.next().map(str::to_string) else { return request_trigger(state, None) };
    let mut with = crate::ops::TriggerWith::default();
    let mut any = false;
    for w in words {
        any = true;
        match w.split_once('=') {
            Some(("ref", r)) => with.git_ref = Some(r.to_string()),
            Some((k, v)) if !k.is_empty() => {
                with.inputs.insert(k.to_string(), v.to_string());
            }
            _ => {
                state.toast_error(format!("`{w}` is not NAME=VALUE (e.g. :run {pipeline} ref=main env=prod)"));
                return Vec::new();
            }
        }
    }
    // Checked against what the workflow declares before anything is asked or sent.
    if let Some(form) = state.trigger_form.as_ref().filter(|f| f.pipeline == pipeline && any)
        && let Err(problems) = crate::ci::form::check_inputs(&form.inputs, &with.inputs)
    {
        state.toast_error(format!("{pipeline}: {problems}"));
        open_input(state, InputKind::Command, &format!("run {line}"));
        return Vec::new();
    }
    if !any {
        // Only the name: a workflow that asks for more is asked about first.
        return request_trigger(state, Some(pipeline));
    }
    request_trigger_with(state, Some(pipeline), with)
}

/// The ref and inputs a workflow asks for came back: offer them on the command line, at their
/// defaults, or start it at once when it asks for nothing.
pub(crate) fn trigger_form_loaded(
    state: &mut State,
    pipeline: String,
    result: Result<Option<crate::ci::form::TriggerForm>, String>,
) -> Vec<Effect> {
    state.dirty = true;
    match result {
        Err(e) => {
            state.toast_error(format!("cannot read what {pipeline} asks for: {e}"));
            Vec::new()
        }
        Ok(None) => request(state, Operation::Trigger { pipeline, with: Default::default() }),
        Ok(Some(form)) if form.inputs.is_empty() => {
            let with = crate::ops::TriggerWith { git_ref: Some(form.git_ref.clone()), ..Default::default() };
            state.trigger_form = Some(form);
            request(state, Operation::Trigger { pipeline, with })
        }
        Ok(Some(form)) => {
            let line = form.prefilled();
            state.trigger_form = Some(form);
            state.toast_info(format!("{pipeline} takes inputs: edit them, Tab completes, Enter starts it"));
            open_input(state, InputKind::Command, &line);
            Vec::new()
        }
    }
}

fn request_trigger_with(state: &mut State, pipeline: Option<String>, with: crate::ops::TriggerWith) -> Vec<Effect> {
    let Some(pipeline) = pipeline else {
        if state.pipelines.is_empty() {
            state.toast_error("no pipeline is configured; see config.example.toml");
        } else {
            open_input(state, InputKind::Command, "run ");
        }
        return Vec::new();
    };
    // A configured pipeline, or a CI service's workflow (`owner/repo:file.yml`) that has runs here.
    let known = state.pipelines.contains(&pipeline) || state.runs.iter().any(|r| r.record.pipeline == pipeline);
    if !known {
        state.toast_error(format!("no pipeline named `{pipeline}` (configured: {})", state.pipelines.join(", ")));
        return Vec::new();
    }
    // A CI service's workflow with nothing chosen yet: ask what it takes first.
    let remote = pipeline.split_once(':').is_some_and(|(repo, _)| repo.contains('/'));
    if remote && with == crate::ops::TriggerWith::default() {
        return vec![Effect::LoadTriggerForm { pipeline }];
    }
    request(state, Operation::Trigger { pipeline, with })
}

/// Describes the target as the user sees it now.
pub(crate) fn describe(state: &State, op: &Operation) -> Result<ops::Target, String> {
    let (run, envs) = match op {
        Operation::Rollout { target, action, seen } => {
            let release = super::release::target(state, target)?;
            // Changed on screen since the key was pressed (a dialog was open): not what was seen.
            let changes = seen.as_ref().map(|then| then.changes(&release.seen)).unwrap_or_default();
            if !changes.is_empty() {
                return Err(format!("{} moved on since you looked ({})", target.short(), changes.join(", ")));
            }
            return ops::describe_release(&state.releases.providers, release, state.detail_of(release), action, state.now)
                .map_err(|e| e.to_string());
        }
        Operation::Trigger { pipeline, .. } => {
            // The CI service already said this user may not start it.
            if let Some(why) = state.runs.iter().filter(|r| &r.record.pipeline == pipeline).find_map(|r| r.record.refused.get("trigger")) {
                return Err(why.clone());
            }
            (None, state.pipeline_envs.get(pipeline).cloned().unwrap_or_default())
        }
        Operation::Cancel { run, .. } | Operation::Retry { run, .. } | Operation::Gate { run, .. } | Operation::AcceptRisk { run, .. } => {
            (state.run(run).map(|r| &r.record), Vec::new())
        }
    };
    ops::describe(op, run, &envs)
}

pub(crate) fn verdict(state: &State, op: &Operation, target: &ops::Target, break_glass: bool) -> Verdict {
    state.policy.evaluate(&Request {
        kind: op.kind(),
        environments: target.environments.clone(),
        actor: &state.identity.actor,
        run_triggered_by: &target.triggered_by,
        now: state.now,
        break_glass,
        security: match op {
            Operation::Gate { run, .. } => state.run(run).and_then(|r| r.evidence.as_ref()),
            // A promotion is judged by the evidence of the run that built the release.
            Operation::Rollout { target, .. } => {
                state.release(target).and_then(|r| r.run.as_ref()).and_then(|id| state.run(id)).and_then(|r| r.evidence.as_ref())
            }
            _ => None,
        },
    })
}

/// The single entry point for a change: policy first, then the confirmation it asks for.
pub(crate) fn request(state: &mut State, op: Operation) -> Vec<Effect> {
    if state.in_flight.contains(&op.key()) {
        state.toast_info(format!("{} is already in progress", op.key()));
        return Vec::new();
    }
    let target = match describe(state, &op) {
        Ok(t) => t,
        Err(e) => {
            state.toast_error(e);
            return Vec::new();
        }
    };
    let title = confirm_title(&op, &target);
    match verdict(state, &op, &target, false) {
        Verdict::Refused { rule, message, break_glass_possible: true } => {
            let lines = target.effect.clone();
            let mut c =
                Confirm::new(title, lines, ConfirmOp::Op(Box::new(op)), Tier::Typed, Some(target), vec![format!("refused by {rule}")]);
            c.frozen = Some(message);
            state.overlay = Some(Overlay::Confirm(Box::new(c)));
            Vec::new()
        }
        Verdict::Refused { rule, message, .. } => {
            let why = target.explain_refusal(&rule, &message);
            refuse(state, &op, &target, &why)
        }
        Verdict::Allowed { tier: Tier::None, .. } => execute(state, op, target, Tier::None, String::new(), false),
        Verdict::Allowed { tier, notes, .. } => {
            let needs_expiry = matches!(op, Operation::AcceptRisk { .. });
            let mut c = Confirm::new(
                title,
                target.effect.clone(),
                ConfirmOp::Op(Box::new(op)),
                tier.max(if needs_expiry { Tier::Typed } else { Tier::None }),
                Some(target),
                notes,
            );
            if needs_expiry {
                let default = state
                    .now
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .date()
                    .checked_add(jiff::Span::new().days(30))
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                c.expiry = Some(single_line(&default));
            }
            state.overlay = Some(Overlay::Confirm(Box::new(c)));
            Vec::new()
        }
    }
}

/// Starts a pipeline on the user's behalf without a dialog (the demo's opening move); the policy
/// still decides and the journal still records it.
pub fn start_without_dialog(state: &mut State, pipeline: &str) -> Vec<Effect> {
    let op = Operation::Trigger { pipeline: pipeline.to_string(), with: Default::default() };
    let Ok(target) = describe(state, &op) else { return Vec::new() };
    match verdict(state, &op, &target, false) {
        // No dialog appears, and the journal says so.
        Verdict::Allowed { tier, .. } if tier < Tier::Typed => execute(state, op, target, Tier::None, "demo start".into(), false),
        _ => request(state, op),
    }
}

pub(crate) fn confirm_title(op: &Operation, target: &ops::Target) -> String {
    match op {
        Operation::Trigger { pipeline, .. } => format!("Run pipeline `{pipeline}`?"),
        Operation::Cancel { run, .. } => format!("Cancel run #{run}?"),
        Operation::Retry { run, .. } => format!("Retry run #{run}?"),
        Operation::Gate { approve: true, .. } => format!("Approve gate `{}`?", target.name),
        Operation::Gate { approve: false, .. } => format!("Reject gate `{}`?", target.name),
        Operation::AcceptRisk { id, target, .. } if id.starts_with(crate::findings::RULE_PREFIX) => format!(
            "Except the {} rule in {}?",
            id.trim_start_matches(crate::findings::RULE_PREFIX),
            target.as_deref().unwrap_or("every environment")
        ),
        Operation::AcceptRisk { id, .. } => format!("Accept the risk of {id}?"),
        Operation::Rollout { action: crate::delivery::RolloutAction::Deploy { version, .. }, .. } => {
            format!("Roll out {version} on `{}`?", target.name)
        }
        Operation::Rollout { action, .. } => format!("{} `{}`?", capitalised(action.verb()), target.name),
    }
}

pub(crate) fn refuse(state: &mut State, op: &Operation, target: &ops::Target, why: &str) -> Vec<Effect> {
    state.toast_error(format!("refused: {why}"));
    let draft = ops::refusal(op, &state.identity, &target.name, &target.environments, target.parameters.clone(), why);
    vec![Effect::Journal(Box::new(draft))]
}

pub(crate) fn execute(state: &mut State, op: Operation, target: ops::Target, tier: Tier, reason: String, break_glass: bool) -> Vec<Effect> {
    state.in_flight.insert(op.key());
    let approved = Approved { op, identity: state.identity.clone(), via: "tui".into(), target, reason, break_glass, tier };
    vec![Effect::Execute(Box::new(approved))]
}

/// The user confirmed. Check the target is still what they saw and the policy still agrees, then
/// act once.
pub(crate) fn confirmed(state: &mut State, c: Confirm) -> Vec<Effect> {
    let reason = c.reason_text();
    let typed = c.typed_name();
    let expiry = c.expiry_date().and_then(Result::ok);
    let op = match c.op {
        ConfirmOp::Op(op) => match *op {
            Operation::AcceptRisk { run, id, package, target, severity, file, .. } => {
                Operation::AcceptRisk { run, id, package, target, severity, expires: expiry, file }
            }
            op => op,
        },
    };
    if state.in_flight.contains(&op.key()) {
        state.toast_info(format!("{} is already in progress", op.key()));
        return Vec::new();
    }
    let seen = c.target.clone();
    let target = match describe(state, &op) {
        Ok(t) => t,
        Err(e) => {
            let t = seen.unwrap_or_else(|| ops::Target {
                name: op.key(),
                environments: vec![],
                triggered_by: Vec::new(),
                parameters: serde_json::json!({}),
                effect: vec![],
                evidence_hint: None,
            });
            return refuse(state, &op, &t, &format!("stale: {e}; nothing was done"));
        }
    };
    match verdict(state, &op, &target, c.break_glass) {
        Verdict::Allowed { tier, break_glass_used, notes, .. } => {
            // What the approver was shown the gates say (per rule, with counts) goes on record.
            let mut target = target;
            if let Some(p) = target.parameters.as_object_mut().filter(|_| !notes.is_empty()) {
                p.insert("policy_said".into(), serde_json::json!(notes));
            }
            if tier == Tier::Typed && (reason.is_empty() || typed != target.name) {
                // The policy tightened while the dialog was open: ask again at the new tier.
                let title = confirm_title(&op, &target);
                let mut again = Confirm::new(
                    title,
                    target.effect.clone(),
                    ConfirmOp::Op(Box::new(op)),
                    tier,
                    Some(target),
                    vec!["the policy now requires a typed confirmation".into()],
                );
                again.break_glass = c.break_glass;
                state.overlay = Some(Overlay::Confirm(Box::new(again)));
                return Vec::new();
            }
            execute(state, op, target, tier, reason, break_glass_used)
        }
        Verdict::Refused { rule, message, .. } => {
            let why = target.explain_refusal(&rule, &message);
            refuse(state, &op, &target, &why)
        }
    }
}
