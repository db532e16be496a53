//! The reducer's part for releases of every provider: the providers' feeds into state, the
//! selection, the opened release (screen 7), undo's revision picker, `:ctx`/`:ns`, and the
//! operation a rollout key asks for.

use crate::app::effect::Effect;
use crate::app::state::{Screen, State};
use crate::delivery::{Release, ReleaseEvent, RolloutAction};
use crate::domain::RolloutRef;
use crate::keymap::{Command, RolloutKey};
use crate::ops::Operation;

/// The feeds, when providers are configured and nothing watches them yet (both releases screens
/// show what they report).
pub fn start_watching(state: &mut State) -> Option<Effect> {
    (state.releases.enabled() && !state.releases.watching).then(|| {
        state.releases.watching = true;
        Effect::WatchReleases
    })
}

/// What a provider reported.
pub fn on_event(state: &mut State, event: ReleaseEvent) -> Vec<Effect> {
    let v = &mut state.releases;
    v.last_update = Some(state.now);
    let mut selected_changed = false;
    let mut reread = None;
    match event {
        ReleaseEvent::Reset { provider, releases } => {
            v.rows.retain(|r, _| r.provider != provider);
            v.rows.extend(releases.into_iter().map(|r| (r.reference.clone(), r)));
        }
        ReleaseEvent::Changed(r) => {
            if v.rows.get(&r.reference) == Some(&*r) {
                return Vec::new();
            }
            selected_changed = v.selected.as_ref() == Some(&r.reference);
            // The opened release moved: its detail (history, revisions) is read again.
            let moved = v.rows.get(&r.reference).is_none_or(|old| old.seen != r.seen);
            if moved && v.detail.as_ref().is_some_and(|d| d.reference.as_ref() == Some(&r.reference)) {
                reread = Some(r.reference.clone());
            }
            v.rows.insert(r.reference.clone(), *r);
        }
        ReleaseEvent::Gone(r) => {
            v.rows.remove(&r);
        }
        ReleaseEvent::Feed { provider, feed } => {
            // While a feed reconnects, its rows stay, shown as data of the age the title says.
            v.feeds.insert(provider, feed);
        }
    }
    if v.selected.is_none() {
        // The first row stays selected when the order changes later.
        let first = state.releases().first().map(|r| r.reference.clone());
        state.releases.selected = first;
    }
    state.dirty = true;
    // A release screen waiting for its first rows opens the selected one now.
    if state.releases.detail.is_none() && state.selected_release().is_some() && matches!(state.screen, Screen::Release | Screen::Overview) {
        let mut fx = if state.screen == Screen::Overview { super::overview_refresh(state) } else { open(state) };
        fx.extend(super::canary_refresh(state));
        return fx;
    }
    let mut fx: Vec<Effect> = reread.map(|r| Effect::FollowRelease { reference: Some(r) }).into_iter().collect();
    // The selected row's numbers and evidence follow it.
    if selected_changed && state.screen == Screen::Overview {
        fx.extend(super::overview_refresh(state));
    }
    fx
}

/// The opened release's detail was read (again).
pub fn on_detail(state: &mut State, detail: crate::delivery::Detail) -> Vec<Effect> {
    let v = &mut state.releases;
    // Only the release still open, and only when something changed.
    if v.detail.as_ref().is_none_or(|open| open.reference != detail.reference || *open == detail) {
        return Vec::new();
    }
    v.detail = Some(detail);
    state.dirty = true;
    let pending = state.releases.picker.is_none() && state.pending_undo.take().is_some();
    if pending {
        return match undo(state) {
            Ok(Some(op)) => super::request(state, op),
            Ok(None) => Vec::new(),
            Err(e) => {
                state.toast_error(e);
                Vec::new()
            }
        };
    }
    Vec::new()
}

/// Key 7 (and Enter on the list): the selected release in full.
pub fn show(state: &mut State) -> Vec<Effect> {
    state.screen = Screen::Release;
    let mut fx: Vec<Effect> = start_watching(state).into_iter().collect();
    fx.extend(open(state));
    fx
}

/// Reads the selected release's detail, and again whenever it changes, until another is opened.
pub fn open(state: &mut State) -> Vec<Effect> {
    let Some(r) = state.selected_release() else { return Vec::new() };
    let reference = r.reference.clone();
    let run = r.run.clone();
    if state.releases.detail.as_ref().is_some_and(|d| d.reference.as_ref() == Some(&reference)) {
        return Vec::new();
    }
    state.releases.selected = Some(reference.clone());
    close_picker(state);
    state.releases.detail = Some(crate::delivery::Detail { reference: Some(reference.clone()), ..Default::default() });
    // Its canary's numbers when a service judges it, and the journal for its timeline (read
    // once; after an action the journal is read again anyway).
    let mut fx = vec![Effect::FollowRelease { reference: Some(reference) }];
    fx.extend(super::canary_refresh(state));
    if state.audit.records.is_empty() && state.pending_audit.is_none() {
        fx.extend(super::load_audit(state));
    }
    // The findings of the run behind it judge its promotions.
    if let Some(run) = run {
        fx.extend(super::ensure_evidence(state, run, false));
    }
    fx
}

/// Up, down … on either releases screen; the opened detail follows the selection.
pub fn navigate(state: &mut State, cmd: Command) -> Vec<Effect> {
    let (cursor, chosen) = {
        let rows = state.releases();
        let cursor = super::step(state.release_cursor(&rows), rows.len(), cmd);
        (cursor, rows.get(cursor).map(|r| r.reference.clone()))
    };
    let moved = chosen != state.releases.selected;
    state.releases.cursor = cursor;
    state.releases.selected = chosen;
    if state.screen == Screen::Release && moved {
        return open(state);
    }
    super::overview_refresh(state)
}

/// Esc on screen 7: stop following the opened release.
pub fn close(state: &mut State) -> Vec<Effect> {
    state.releases.detail = None;
    close_picker(state);
    state.screen = Screen::Overview;
    vec![Effect::FollowRelease { reference: None }]
}

/// `:ctx NAME` and `:ns NAME|all`.
pub fn switch(state: &mut State, change: String) -> Vec<Effect> {
    if !state.releases.enabled() {
        state.toast_error("no rollout provider is configured: add [kubernetes] or [rollouts.NAME] (see config.example.toml)");
        return Vec::new();
    }
    if let Some(context) = change.strip_prefix("context=") {
        let known: Vec<&String> = state.releases.feeds.values().flat_map(|f| &f.scopes).collect();
        if !known.is_empty() && !known.iter().any(|c| *c == context) {
            state.toast_error(format!("no context `{context}` in the kubeconfig (Tab lists them)"));
            return Vec::new();
        }
    }
    state.releases.detail = None;
    close_picker(state);
    state.releases.selected = None;
    // A new scope: what the scoped feeds showed is not there any more (their next list refills it).
    let scoped: Vec<String> = state.releases.feeds.iter().filter(|(_, f)| !f.scopes.is_empty()).map(|(p, _)| p.clone()).collect();
    state.releases.rows.retain(|r, _| !scoped.contains(&r.provider));
    state.screen = Screen::Overview;
    state.dirty = true;
    let mut fx: Vec<Effect> = start_watching(state).into_iter().collect();
    fx.push(Effect::Rescope { change });
    fx
}

/// The operation on `release` with what the user sees now; refused when the provider said this
/// user may not.
pub fn op_on(state: &State, release: &Release, action: RolloutAction) -> Result<Operation, String> {
    // What this user may do is read with the release's detail; until then no key is offered (a
    // forbidden change would be sent, and come back refused by the server).
    match state.detail_of(release) {
        Some(d) if d.loaded => {
            if let Some(why) = d.permissions.as_ref().and_then(|p| p.denies(&action)) {
                return Err(why.to_string());
            }
        }
        _ => return Err(format!("{}: still reading what you may do there; a moment", release.reference.short())),
    }
    // Our last change is not observed yet: the same press again would act on a state about to
    // move (a second promote could skip a pause).
    let stops = matches!(action, RolloutAction::Abort | RolloutAction::TerminateAnalysis { .. });
    if let Some(pending) = release.seen.pending.as_ref().filter(|_| !stops) {
        return Err(format!("{}: {pending}", release.reference.short()));
    }
    if !release.offers(&action) {
        return Err(format!("{} cannot {} ({})", release.reference.short(), action.verb(), release.kind));
    }
    Ok(Operation::Rollout { target: release.reference.clone(), action, seen: Some(release.seen.clone()) })
}

/// What a rollout key asks for on the selected release: an operation, or None when undo opened
/// the revision picker (or waits for the revisions to be read).
pub fn op_for(state: &mut State, key: RolloutKey) -> Result<Option<Operation>, String> {
    match key {
        RolloutKey::Undo => undo(state),
        key => preview_op(state, key).transpose(),
    }
}

/// The operation a key would ask for, without opening anything (the footer greys keys by it).
pub fn preview_op(state: &State, key: RolloutKey) -> Option<Result<Operation, String>> {
    let release = match state.selected_release() {
        Some(r) => r,
        None => return Some(Err("no release is selected".into())),
    };
    let action = match key {
        RolloutKey::Undo => return None,
        RolloutKey::TerminateAnalysis => match &release.analysis_run {
            Some(run) => RolloutAction::TerminateAnalysis { run: run.clone() },
            None => return Some(Err(format!("{} has no running analysis", release.reference.short()))),
        },
        // Auto-sync flips what the app has now: the provider offers turning it off when it is on.
        RolloutKey::AutoSync => RolloutAction::AutoSync { on: !release.offers_verb("auto-sync-off") },
        other => simple(other)?,
    };
    Some(op_on(state, release, action))
}

fn simple(key: RolloutKey) -> Option<RolloutAction> {
    Some(match key {
        RolloutKey::Promote => RolloutAction::Promote,
        RolloutKey::PromoteFull => RolloutAction::PromoteFull,
        RolloutKey::Pause => RolloutAction::Pause,
        RolloutKey::Resume => RolloutAction::Resume,
        RolloutKey::Abort => RolloutAction::Abort,
        RolloutKey::Retry => RolloutAction::Retry,
        RolloutKey::Restart => RolloutAction::Restart,
        RolloutKey::Sync => RolloutAction::whole_sync(),
        RolloutKey::Refresh => RolloutAction::Refresh { hard: false },
        RolloutKey::HardRefresh => RolloutAction::Refresh { hard: true },
        RolloutKey::TerminateOperation => RolloutAction::TerminateOperation,
        RolloutKey::Approve => RolloutAction::Approve,
        RolloutKey::Reject => RolloutAction::Reject,
        RolloutKey::Cancel => RolloutAction::Cancel,
        RolloutKey::IgnoreJob => RolloutAction::IgnoreJob,
        RolloutKey::Undo | RolloutKey::TerminateAnalysis | RolloutKey::AutoSync => return None,
    })
}

/// Undo: with revisions to choose from, the picker; without (an NGINX canary goes back to stable),
/// the operation; before the detail is read, it is opened and undo goes on when it arrives.
fn undo(state: &mut State) -> Result<Option<Operation>, String> {
    let release = state.selected_release().ok_or("no release is selected")?;
    let reference = release.reference.clone();
    match state.detail_of(release).filter(|d| d.loaded) {
        Some(d) if d.revisions.len() >= 2 => {
            // The picker sits over the release in full, with its revisions.
            state.screen = Screen::Release;
            state.releases.picker = Some(1);
            state.releases.picking_owned = false;
            state.dirty = true;
            Ok(None)
        }
        Some(d) if !d.revisions.is_empty() => Err(format!("{} has no earlier revision to go back to", reference.short())),
        Some(_) => op_on(state, release, RolloutAction::Undo { to_revision: None }).map(Some),
        None => {
            state.pending_undo = Some(reference);
            state.toast_info("reading its revisions…");
            Ok(None)
        }
    }
}

/// Whether undo waits for a detail that is not being read: open it.
pub fn undo_needs_detail(state: &State) -> bool {
    state.pending_undo.is_some() && state.selected_release().is_some_and(|r| state.detail_of(r).is_none())
}

/// `L`: the release the opened one owns (an Argo CD app's Argo Rollout), opened in full; a
/// picker when it owns several.
pub fn open_owned(state: &mut State) -> Vec<Effect> {
    let Some(release) = state.selected_release() else { return Vec::new() };
    let related = match state.detail_of(release).filter(|d| d.loaded) {
        Some(d) => d.related.clone(),
        None => {
            state.toast_info("reading what it owns… press again in a moment");
            return if state.releases.detail.is_none() { open(state) } else { Vec::new() };
        }
    };
    match related.as_slice() {
        [] => {
            state.toast_info(format!("{} owns no Argo Rollout", release.reference.short()));
            Vec::new()
        }
        [one] => go_to_owned(state, &one.clone()),
        _ => {
            state.screen = Screen::Release;
            state.releases.picker = Some(0);
            state.releases.picking_owned = true;
            state.dirty = true;
            Vec::new()
        }
    }
}

/// Enter in the picker of owned releases: the chosen one, opened.
pub fn choose_owned(state: &mut State) -> Vec<Effect> {
    let chosen = state.releases.picker.and_then(|i| state.releases.detail.as_ref().and_then(|d| d.related.get(i)).cloned());
    close_picker(state);
    match chosen {
        Some(r) => go_to_owned(state, &r),
        None => Vec::new(),
    }
}

fn go_to_owned(state: &mut State, owned: &RolloutRef) -> Vec<Effect> {
    let Some(row) = state.owned_row(owned).map(|r| r.reference.clone()) else {
        state.toast_error(format!(
            "{} is not among the releases: flightdeck watches Argo Rollouts through [kubernetes] (its context and namespaces)",
            owned.short()
        ));
        return Vec::new();
    };
    state.releases.selected = Some(row);
    show(state)
}

/// Keys while a picker is open: Enter asks to undo to the chosen revision (the owned releases'
/// picker opens its choice in `choose_owned`).
pub fn picker_key(state: &mut State, cmd: Option<Command>) -> Option<Result<Operation, String>> {
    let i = state.releases.picker?;
    let owned = state.releases.picking_owned;
    let n = state.releases.detail.as_ref().map(|d| if owned { d.related.len() } else { d.revisions.len() }).unwrap_or(0);
    match cmd {
        Some(Command::PickerClose | Command::Back) => close_picker(state),
        Some(Command::Up) => state.releases.picker = Some(i.saturating_sub(1)),
        Some(Command::Down) => state.releases.picker = Some((i + 1).min(n.saturating_sub(1))),
        Some(Command::PickerChoose) => {
            close_picker(state);
            let revision = state.releases.detail.as_ref().and_then(|d| d.revisions.get(i)).map(|r| r.number);
            let release = state.selected_release()?;
            return Some(op_on(state, release, RolloutAction::Undo { to_revision: revision }));
        }
        _ => {}
    }
    state.dirty = true;
    None
}

fn close_picker(state: &mut State) {
    state.releases.picker = None;
    state.releases.picking_owned = false;
}

/// The release an operation targets, when the cockpit shows it.
pub fn target<'s>(state: &'s State, r: &RolloutRef) -> Result<&'s Release, String> {
    state.release(r).ok_or_else(|| format!("{} is not in the releases list any more", r.short()))
}
