//! Reducer tests: action sequences in, state and effects out. No terminal, no I/O.

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flightdeck::app::action::Action;
use flightdeck::app::effect::Effect;
use flightdeck::app::selectors::current_top;
use flightdeck::app::state::{Overlay, Pane, State, ToastLevel};
use flightdeck::app::update::update;
use flightdeck::ci::RunEvent;
use flightdeck::domain::JobStatus;
use flightdeck::logstore::{RawLine, Stream};
use flightdeck::ops::{Operation, Report};
use flightdeck::policy::Tier;
use support::fixtures::{runs, state};

fn key(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}
fn code(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}
fn keys(st: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| update(st, key(c))).collect()
}
fn lines(n: usize) -> Vec<RawLine> {
    (0..n).map(|i| RawLine { ts_ms: i as i64, stream: Stream::Out, bytes: format!("new {i}").into_bytes() }).collect()
}

#[test]
fn selecting_finished_jobs_loads_their_logs_and_stale_answers_are_dropped() {
    let mut st = state(200, 50);
    st.focus = Pane::Runs;
    // Move to the finished nightly run: its log is requested from disk.
    let fx = update(&mut st, code(KeyCode::Down));
    assert!(fx.is_empty(), "the waiting run's default job is a live gate: nothing to load: {fx:?}");
    let fx = update(&mut st, code(KeyCode::Down));
    let Some(Effect::LoadLog { request: first, job, .. }) = fx.first().cloned() else { panic!("expected a log load, got {fx:?}") };
    assert_eq!(job, "fuzz");
    // The user moves on before the answer arrives.
    st.focus = Pane::Jobs;
    let fx = update(&mut st, code(KeyCode::Right));
    let Some(Effect::LoadLog { request: second, job, .. }) = fx.first().cloned() else { panic!("{fx:?}") };
    assert_eq!(job, "report");
    assert!(second > first);
    // The stale answer for `fuzz` is dropped; the current one is kept.
    update(
        &mut st,
        Action::LogLoaded { request: first, run: flightdeck::domain::RunRef::local(1), job: "fuzz".into(), result: Ok(lines(3)) },
    );
    assert!(!st.run(&flightdeck::domain::RunRef::local(1)).unwrap().logs.contains_key("fuzz"));
    update(
        &mut st,
        Action::LogLoaded { request: second, run: flightdeck::domain::RunRef::local(1), job: "report".into(), result: Ok(lines(2)) },
    );
    assert_eq!(st.run(&flightdeck::domain::RunRef::local(1)).unwrap().logs["report"].store.len(), 2);
}

#[test]
fn a_stale_run_list_is_dropped() {
    let mut st = state(80, 24);
    st.pending_runs = Some(7);
    update(&mut st, Action::RunsLoaded { request: 6, result: Ok(Vec::new()) });
    assert_eq!(st.pending_runs, Some(7));
    update(&mut st, Action::RunsLoaded { request: 7, result: Err("disk on fire".into()) });
    assert!(st.toasts.iter().any(|t| t.level == ToastLevel::Error && t.text.contains("disk on fire")));
}

#[test]
fn follow_mode_turns_off_on_scroll_counts_new_lines_and_g_resumes() {
    let mut st = state(80, 24);
    st.focus = Pane::Log;
    assert!(st.log.follow);
    let end = st.current_log().unwrap().store.end_seq();
    update(&mut st, code(KeyCode::Up));
    assert!(!st.log.follow, "scrolling up stops following");
    let top = current_top(&st);
    update(&mut st, Action::Run(RunEvent::Log { run: flightdeck::domain::RunRef::local(3), job: "unit-test[18]".into(), lines: lines(5) }));
    assert_eq!(st.log.new_lines, 5);
    assert_eq!(current_top(&st), top, "the view does not move while paused");
    assert_eq!(st.current_log().unwrap().store.end_seq(), end + 5);
    update(&mut st, key('G'));
    assert!(st.log.follow);
    assert_eq!(st.log.new_lines, 0);
    // Scrolling back down to the end resumes following too.
    update(&mut st, code(KeyCode::PageUp));
    assert!(!st.log.follow);
    for _ in 0..5 {
        update(&mut st, code(KeyCode::PageDown));
    }
    assert!(st.log.follow);
}

#[test]
fn lines_of_other_jobs_do_not_redraw() {
    let mut st = state(80, 24);
    st.dirty = false;
    update(&mut st, Action::Run(RunEvent::Log { run: flightdeck::domain::RunRef::local(3), job: "lint".into(), lines: lines(3) }));
    assert!(!st.dirty);
    assert_eq!(st.run(&flightdeck::domain::RunRef::local(3)).unwrap().logs["lint"].store.len(), 3);
}

#[test]
fn search_finds_counts_and_cycles_matches() {
    let mut st = state(80, 24);
    st.focus = Pane::Log;
    keys(&mut st, "/ERROR");
    update(&mut st, code(KeyCode::Enter));
    let s = st.log.search.clone().unwrap();
    assert_eq!(s.matches.len(), 3, "lines 7, 57 and 107 carry ERROR");
    assert_eq!(s.current, Some(0));
    keys(&mut st, "n");
    assert_eq!(st.log.search.as_ref().unwrap().current, Some(1));
    keys(&mut st, "NN");
    assert_eq!(st.log.search.as_ref().unwrap().current, Some(2), "N wraps around");
    // New matching lines extend the match list.
    update(
        &mut st,
        Action::Run(RunEvent::Log {
            run: flightdeck::domain::RunRef::local(3),
            job: "unit-test[18]".into(),
            lines: vec![RawLine { ts_ms: 0, stream: Stream::Err, bytes: b"ERROR again".to_vec() }],
        }),
    );
    assert_eq!(st.log.search.as_ref().unwrap().matches.len(), 4);
    update(&mut st, code(KeyCode::Esc));
    assert!(st.log.search.is_none(), "Esc clears the search");
}

#[test]
fn mutations_need_confirmation_and_run_once() {
    let mut st = state(80, 24);
    assert!(keys(&mut st, "c").is_empty());
    assert!(matches!(st.overlay, Some(Overlay::Confirm(_))));
    // Enter chooses the focused button, which is No.
    assert!(update(&mut st, code(KeyCode::Enter)).is_empty());
    assert!(st.overlay.is_none());
    keys(&mut st, "c");
    let fx = keys(&mut st, "y");
    assert!(
        matches!(&fx[..], [Effect::Execute(a)] if a.op == Operation::Cancel { run: flightdeck::domain::RunRef::local(3), force: false } && a.tier == Tier::YesNo),
        "{fx:?}"
    );
    // Pressed again before the first cancel finished: nothing is sent twice.
    let fx = keys(&mut st, "cy");
    assert!(fx.is_empty(), "{fx:?}");
    assert!(st.toasts.iter().any(|t| t.text.contains("already in progress")));
    update(
        &mut st,
        Action::OpDone { op: "cancel #3".into(), result: Ok(Report { message: "cancelling run #3".into(), new_run: None, warning: None }) },
    );
    assert!(st.in_flight.is_empty());
}

#[test]
fn a_stale_confirmation_is_refused() {
    let mut st = state(80, 24);
    st.selected_run = Some(flightdeck::domain::RunRef::local(2));
    st.selected_job = Some("approve-prod".into());
    keys(&mut st, "a");
    assert!(matches!(st.overlay, Some(Overlay::Confirm(_))));
    // Meanwhile someone else approved it.
    let mut rec = runs().remove(1);
    rec.job_mut("approve-prod").unwrap().status = JobStatus::Success;
    update(&mut st, Action::Run(RunEvent::Updated(Box::new(rec))));
    let fx = keys(&mut st, "y");
    assert!(fx.iter().all(|e| matches!(e, Effect::Journal(_))), "nothing is executed: {fx:?}");
    let err = st.toasts.iter().find(|t| t.level == ToastLevel::Error).unwrap();
    assert!(err.text.contains("stale") && err.text.contains("is not waiting (it is success)"), "{}", err.text);
    assert!(matches!(&fx[..], [] | [Effect::Journal(_)]), "the refusal is journaled: {fx:?}");
}

#[test]
fn read_only_refuses_mutations_with_the_reason() {
    let mut st = state(80, 24);
    st.read_only = true;
    for c in ['r', 'c', 'R', 'a', 'x'] {
        assert!(keys(&mut st, &c.to_string()).is_empty());
        assert!(st.overlay.is_none());
    }
    assert!(st.toasts.iter().all(|t| t.text.contains("read-only")));
}

#[test]
fn trigger_asks_then_starts_the_selected_pipeline() {
    let mut st = state(80, 24);
    keys(&mut st, "r");
    let fx = keys(&mut st, "y");
    assert!(
        matches!(&fx[..], [Effect::Execute(a)] if a.op == Operation::Trigger { pipeline: "release".into(), with: Default::default() } && a.identity.actor == "alice@ops" && a.via == "tui"),
        "{fx:?}"
    );
    update(
        &mut st,
        Action::OpDone {
            op: "run release".into(),
            result: Ok(Report { message: "started".into(), new_run: Some(flightdeck::domain::RunRef::local(4)), warning: None }),
        },
    );
    assert_eq!(st.selected_run, Some(flightdeck::domain::RunRef::local(4)), "the new run is selected");
}

#[test]
fn quitting_never_asks_about_runs_still_going() {
    let mut st = state(80, 24);
    let running = st.runs.iter().filter(|r| !r.record.status.is_terminal()).count();
    assert!(running > 0, "the fixture has a run still going");
    // The supervisor executes them, not the cockpit: they go on after it quits.
    assert_eq!(keys(&mut st, "q"), vec![Effect::Quit]);
    assert!(st.overlay.is_none());
}

#[test]
fn the_filter_applies_as_you_type_and_esc_restores_it() {
    let mut st = state(80, 24);
    keys(&mut st, "/night");
    assert_eq!(st.visible_runs().len(), 1);
    assert_eq!(st.selected_run, Some(flightdeck::domain::RunRef::local(1)), "the selection follows the filter");
    update(&mut st, code(KeyCode::Esc));
    assert_eq!(st.filter, "");
    keys(&mut st, "/!night");
    update(&mut st, code(KeyCode::Enter));
    assert_eq!(st.visible_runs().len(), 2);
}

#[test]
fn the_command_line_completes_and_runs_commands() {
    let mut st = state(80, 24);
    keys(&mut st, ":ru");
    update(&mut st, code(KeyCode::Tab));
    let Some(Overlay::Input(i)) = &st.overlay else { panic!() };
    assert_eq!(i.value(), "run ");
    keys(&mut st, "r");
    update(&mut st, code(KeyCode::Tab));
    let Some(Overlay::Input(i)) = &st.overlay else { panic!() };
    assert_eq!(i.value(), "run release ");
    update(&mut st, code(KeyCode::Enter));
    assert!(matches!(st.overlay, Some(Overlay::Confirm(_))), "running a pipeline still asks");

    let mut st = state(80, 24);
    keys(&mut st, ":open 1");
    update(&mut st, code(KeyCode::Enter));
    assert_eq!(st.selected_run, Some(flightdeck::domain::RunRef::local(1)));
    keys(&mut st, ":bogus");
    update(&mut st, code(KeyCode::Enter));
    assert!(st.toasts.iter().any(|t| t.text.contains("unknown command `bogus`")));
}

#[test]
fn rebound_keys_drive_the_reducer() {
    let mut st = state(80, 24);
    let overrides =
        [("trigger".to_string(), (0..1, vec!["ctrl-t".to_string()])), ("cancel".to_string(), (0..1, vec![]))].into_iter().collect();
    st.keymap = flightdeck::keymap::Keymap::with_overrides(&overrides).unwrap();
    keys(&mut st, "r");
    assert!(st.overlay.is_none(), "r is no longer bound");
    keys(&mut st, "c");
    assert!(st.overlay.is_none(), "cancel is unbound");
    update(&mut st, Action::Key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL)));
    assert!(matches!(st.overlay, Some(Overlay::Confirm(_))));
}

#[test]
fn errors_stay_until_dismissed_and_info_fades() {
    let mut st = state(80, 24);
    st.toast_error("boom");
    st.toast_info("hello");
    let later = jiff::Timestamp::from_second(st.now.as_second() + 60).unwrap();
    update(&mut st, Action::Tick(later));
    assert_eq!(st.toasts.len(), 1);
    assert_eq!(st.toasts[0].text, "boom");
    update(&mut st, code(KeyCode::Esc));
    assert!(st.toasts.is_empty());
}

#[test]
fn a_retried_job_starts_a_fresh_log_on_screen() {
    let mut st = state(80, 24);
    let mut rec = runs().remove(0);
    rec.job_mut("unit-test[18]").unwrap().status = JobStatus::Failed;
    update(&mut st, Action::Run(RunEvent::Updated(Box::new(rec.clone()))));
    assert!(st.run(&flightdeck::domain::RunRef::local(3)).unwrap().logs.contains_key("unit-test[18]"));
    rec.job_mut("unit-test[18]").unwrap().status = JobStatus::Pending;
    update(&mut st, Action::Run(RunEvent::Updated(Box::new(rec))));
    assert!(!st.run(&flightdeck::domain::RunRef::local(3)).unwrap().logs.contains_key("unit-test[18]"));
}

#[test]
fn the_canary_screen_queries_on_the_data_cadence_not_per_frame() {
    let mut st = state(120, 40);
    st.canary.services = vec![("payments".into(), 15)];
    let fx = keys(&mut st, "5");
    assert!(matches!(&fx[..], [Effect::Analyse { service, window: 300, .. }] if service == "payments"), "{fx:?}");
    assert!(st.needs_clock(), "the screen keeps time while it shows live data");
    // Ticks within the interval, and while the answer is outstanding, ask nothing more.
    for s in 1..30 {
        let t = jiff::Timestamp::from_second(st.now.as_second() + s).unwrap();
        assert!(update(&mut st, Action::Tick(t)).is_empty() || s >= 15, "asked again after {s}s");
    }
    // A stale answer (another window) is dropped; the current one lands.
    let fx = keys(&mut st, "l");
    let Some(Effect::Analyse { request, window: 900, .. }) = fx.first().cloned() else { panic!("{fx:?}") };
    let result = flightdeck::metrics::AnalysisResult {
        service: "payments".into(),
        phase: flightdeck::metrics::Phase::Running,
        reason: String::new(),
        metrics: vec![],
        alerts: vec![],
        end: 0,
        score: None,
    };
    update(&mut st, Action::CanaryLoaded { request: request - 1, service: "payments".into(), result: Box::new(result.clone()) });
    assert!(st.canary.data["payments"].result.is_none());
    update(&mut st, Action::CanaryLoaded { request, service: "payments".into(), result: Box::new(result) });
    assert!(st.canary.data["payments"].result.is_some());
}

#[test]
fn the_fault_key_cycles_through_the_faults_a_canary_offers_and_shows_what_it_does() {
    use flightdeck::app::state::Screen;
    use flightdeck::metrics::inject::{Fault, FaultControl};
    let fault = |name: &str, aliases: &[&str]| Fault {
        name: name.into(),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        description: format!("{name} on purpose"),
    };
    let mut st = state(120, 40);
    st.screen = Screen::Canary;
    // Where no canary offers faults there is nothing to inject into: said so, nothing sent.
    let fx = keys(&mut st, "i");
    assert!(fx.iter().all(|e| !matches!(e, Effect::InjectFault(_))), "{fx:?}");
    assert!(st.toasts.iter().any(|t| t.text.contains("only be injected")));

    st.canary.faults = FaultControl::new(vec![fault("healthy", &["off"]), fault("slow", &[]), fault("errors", &["5xx"])]);
    assert_eq!(keys(&mut st, "i"), vec![Effect::InjectFault("slow".into())]);
    assert_eq!(st.canary.faults.as_ref().unwrap().pending, Some(1));
    // A second press before the answer moves on from what is pending, not from what was.
    assert_eq!(keys(&mut st, "i"), vec![Effect::InjectFault("errors".into())]);
    update(&mut st, Action::FaultInjected(Ok("errors".into())));
    let f = st.canary.faults.as_ref().unwrap();
    assert_eq!((f.current, f.pending), (2, None));
    assert!(st.toasts.iter().any(|t| t.text.contains("errors on purpose")));
    // A failure is shown and the last known state kept.
    keys(&mut st, "i");
    update(&mut st, Action::FaultInjected(Err("cannot reach the demo canary".into())));
    let f = st.canary.faults.as_ref().unwrap();
    assert_eq!((f.current, f.pending), (2, None));
    assert!(st.toasts.iter().any(|t| t.level == ToastLevel::Error && t.text.contains("cannot reach")));
    // And from the command line, by name or alias; an unknown name is refused with the choices.
    let mut fx = keys(&mut st, ":");
    fx.extend(keys(&mut st, "inject off"));
    fx.extend(update(&mut st, code(KeyCode::Enter)));
    assert_eq!(fx, vec![Effect::InjectFault("healthy".into())]);
    let mut fx = keys(&mut st, ":");
    fx.extend(keys(&mut st, "inject lava"));
    fx.extend(update(&mut st, code(KeyCode::Enter)));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(st.toasts.iter().any(|t| t.text.contains("healthy, slow, errors")));
}

#[test]
fn a_production_promote_is_judged_by_the_findings_of_the_run_that_started_the_rollout() {
    use flightdeck::keymap::Command;
    use flightdeck::keymap::RolloutKey;
    use flightdeck::rollout::Phase;
    let mut st = state(120, 40);
    support::fixtures::with_prod_policy(&mut st, false);
    let spec = support::fixtures::rollout_spec("payments-api", "prod", None);
    let mut rec = support::fixtures::rollout_record("payments-api", Phase::Paused, 1, 20);
    rec.run = Some(flightdeck::domain::RunRef::local(2));
    support::fixtures::show_nginx(&mut st, &[spec], &[rec], Some("payments-api"));
    st.run_mut(&flightdeck::domain::RunRef::local(2)).unwrap().evidence = None;
    let promote = Command::Rollout(RolloutKey::Promote);
    // Not read yet: the gate cannot be judged, so promote is greyed with the reason.
    let why = flightdeck::app::selectors::preview(&st, promote).unwrap_err();
    assert!(why.contains("security findings have not been read"), "{why}");
    // Opening the overview asks for that run's findings (or finds it declares no reports).
    let fx = keys(&mut st, "6");
    if fx.contains(&Effect::LoadFindings { run: flightdeck::domain::RunRef::local(2) }) {
        update(&mut st, Action::FindingsLoaded { run: flightdeck::domain::RunRef::local(2), result: Ok(Default::default()) });
    }
    assert!(st.run(&flightdeck::domain::RunRef::local(2)).unwrap().evidence.is_some());
    assert_eq!(flightdeck::app::selectors::preview(&st, promote), Ok(()), "clean findings: promote is allowed");
    // Abort is never held back by findings.
    assert_eq!(flightdeck::app::selectors::preview(&st, Command::Rollout(RolloutKey::Abort)), Ok(()));
}

#[test]
fn from_a_release_one_key_opens_its_run_its_findings_or_its_waiting_approval() {
    use flightdeck::app::state::Screen;
    use flightdeck::rollout::Phase;
    let mut st = state(120, 40);
    let specs = [support::fixtures::rollout_spec("payments-api", "prod", None), support::fixtures::rollout_spec("search", "qa", None)];
    let mut rec = support::fixtures::rollout_record("payments-api", Phase::Paused, 1, 20);
    rec.run = Some(flightdeck::domain::RunRef::local(2));
    let idle = support::fixtures::rollout_record("search", Phase::Healthy, 3, 0);
    support::fixtures::show_nginx(&mut st, &specs, &[rec, idle], None);
    keys(&mut st, "6");
    assert_eq!(st.selected_release().unwrap().reference.short(), "payments-api");

    // Enter opens the release in full; Enter again opens the run behind it.
    update(&mut st, code(KeyCode::Enter));
    assert_eq!(st.screen, Screen::Release);
    update(&mut st, code(KeyCode::Enter));
    assert_eq!((st.screen, st.selected_run.clone(), st.focus), (Screen::Pipelines, Some(flightdeck::domain::RunRef::local(2)), Pane::Jobs));

    keys(&mut st, "6");
    st.run_mut(&flightdeck::domain::RunRef::local(2)).unwrap().evidence = None;
    let fx = keys(&mut st, "f");
    assert_eq!((st.screen, st.selected_run.clone()), (Screen::Findings, Some(flightdeck::domain::RunRef::local(2))));
    // Its findings are asked for (or known at once when the run declares no reports).
    assert!(
        fx.contains(&Effect::LoadFindings { run: flightdeck::domain::RunRef::local(2) })
            || st.run(&flightdeck::domain::RunRef::local(2)).unwrap().evidence.is_some(),
        "{fx:?}"
    );

    keys(&mut st, "6");
    keys(&mut st, "w");
    assert_eq!(st.screen, Screen::Approvals);
    let (run, job) = st.waiting_gates()[st.approvals_cursor];
    assert_eq!((run.id.clone(), job.key.as_str()), (flightdeck::domain::RunRef::local(2), "approve-prod"));

    // A rollout with nothing behind it says so instead of jumping somewhere unrelated.
    keys(&mut st, "6");
    keys(&mut st, "j");
    assert_eq!(st.selected_release().unwrap().reference.short(), "search");
    keys(&mut st, "w");
    assert_eq!(st.screen, Screen::Overview);
    assert!(st.toasts.iter().any(|t| t.text.contains("nothing is waiting for approval in qa")), "{:?}", st.toasts);
}

#[test]
fn keys_do_nothing_while_the_terminal_is_too_small_to_show_what_they_would_do() {
    let mut st = state(40, 10);
    // `r` then `y` would start a production run nobody could see.
    assert!(keys(&mut st, "ry").is_empty());
    assert!(st.overlay.is_none());
    // Quitting still works.
    let fx = keys(&mut st, "q");
    assert!(st.quit || fx.contains(&Effect::Quit) || matches!(st.overlay, Some(flightdeck::app::state::Overlay::Confirm(_))), "{fx:?}");
}

#[test]
fn the_age_of_canary_data_is_the_age_of_its_newest_sample() {
    use flightdeck::app::state::CanaryData;
    use flightdeck::metrics::Phase;
    use flightdeck::metrics::analysis::{AnalysisResult, Measurement, MetricResult, Reading};
    let mut st = state(120, 40);
    st.canary.services = vec![("payments".into(), 15)];
    st.canary.data.insert("payments".into(), CanaryData { pending: Some(7), ..CanaryData::default() });
    // Prometheus answers, but its newest sample is five minutes old (its scrapes stopped).
    let sample = st.now.as_second() - 300;
    let metric = MetricResult {
        name: "error ratio".into(),
        unit: "ratio".into(),
        phase: Phase::Successful,
        reason: String::new(),
        canary_query: String::new(),
        stable_query: String::new(),
        measurements: vec![Measurement {
            time: sample,
            canary: Reading::Value(0.01),
            stable: Reading::Value(0.01),
            requests: Some(100.0),
            phase: Phase::Successful,
            reason: String::new(),
        }],
        p_value: None,
        condition: String::new(),
        max: None,
        max_ratio: None,
        judged: true,
        weight: 1.0,
        critical: false,
        dry_run: false,
    };
    let result = AnalysisResult {
        service: "payments".into(),
        phase: Phase::Successful,
        reason: String::new(),
        metrics: vec![metric],
        alerts: vec![],
        end: sample,
        score: None,
    };
    update(&mut st, Action::CanaryLoaded { request: 7, service: "payments".into(), result: Box::new(result) });
    assert_eq!(st.canary.data["payments"].last_ok.map(|t| t.as_second()), Some(sample));
    // An answer without any sample (Prometheus down) leaves the age growing.
    st.canary.data.get_mut("payments").unwrap().pending = Some(8);
    let down = AnalysisResult {
        service: "payments".into(),
        phase: Phase::Error,
        reason: "cannot reach Prometheus".into(),
        metrics: vec![],
        alerts: vec![],
        end: 0,
        score: None,
    };
    update(&mut st, Action::CanaryLoaded { request: 8, service: "payments".into(), result: Box::new(down) });
    assert_eq!(st.canary.data["payments"].last_ok.map(|t| t.as_second()), Some(sample));
}

#[test]
fn a_command_typed_whole_completes_with_its_arguments() {
    let mut st = state(120, 40);
    let feed = flightdeck::delivery::Feed {
        label: "Argo Rollouts · prod-eu · all namespaces".into(),
        state: flightdeck::delivery::FeedState::Live,
        scopes: vec!["prod-eu".into(), "staging".into()],
    };
    st.releases.feeds.insert("argo".into(), feed);
    assert_eq!(flightdeck::app::command::complete("ctx", &st), vec!["ctx prod-eu".to_string(), "ctx staging".to_string()]);
    assert_eq!(flightdeck::app::command::complete("ctx s", &st), vec!["ctx staging".to_string()]);
}

/// A thousand rollouts with one timed pause far down the list: the clock (and the redraw it
/// costs) runs only while that countdown is on screen.
#[test]
fn a_countdown_out_of_view_does_not_keep_the_clock() {
    let mut st = state(120, 40);
    st.screen = flightdeck::app::state::Screen::Overview;
    let rollout: flightdeck::argo::Rollout = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "svc", "namespace": "team", "uid": "u"},
        "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
        "status": {"phase": "Degraded", "currentStepIndex": 0, "observedGeneration": "1"}}))
    .unwrap();
    let base = flightdeck::argo::provider::release(&flightdeck::config::KubernetesSettings::default(), "prod", rollout.clone(), st.now);
    let mut timed = None;
    for i in 0..1000 {
        let mut r = base.clone();
        r.reference.name = format!("svc-{i:04}");
        if i == 999 {
            r.urgency = u8::MAX;
            r.pause_until = Some(jiff::Timestamp::from_second(st.now.as_second() + 600).unwrap());
            timed = Some(r.reference.clone());
        }
        st.releases.rows.insert(r.reference.clone(), r);
    }
    assert!(!st.needs_clock(), "the countdown is a thousand rows down");
    st.releases.selected = timed;
    assert!(st.needs_clock(), "selected, its countdown is on screen");
}

/// `:run` of a CI service's workflow takes its ref and inputs, and knows the workflow from its runs.
#[test]
fn a_workflow_is_run_from_the_command_line_with_its_ref_and_inputs() {
    let mut st = state(120, 40);
    st.runs[0].record.pipeline = "acme/shop:deploy.yml".into();
    keys(&mut st, ":");
    for c in "run acme/shop:deploy.yml ref=release/9 env=prod".chars() {
        update(&mut st, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut st, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let fx = keys(&mut st, "y");
    let want = flightdeck::ops::TriggerWith { git_ref: Some("release/9".into()), inputs: [("env".to_string(), "prod".to_string())].into() };
    assert!(
        matches!(&fx[..], [Effect::Execute(a)] if a.op == Operation::Trigger { pipeline: "acme/shop:deploy.yml".into(), with: want.clone() }),
        "{fx:?} {:?}",
        st.toasts
    );
    // A word that is not NAME=VALUE is refused with an example, and nothing is asked.
    keys(&mut st, ":");
    for c in "run acme/shop:deploy.yml prod".chars() {
        update(&mut st, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut st, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(st.toasts.iter().any(|t| t.text.contains("is not NAME=VALUE")), "{:?}", st.toasts);
}

/// `r` on a workflow's run asks what it takes, offers its ref and inputs on the command line at
/// their defaults with the choices to complete, refuses what the workflow would refuse, then asks.
#[test]
fn starting_a_workflow_offers_its_inputs_and_checks_them() {
    use flightdeck::ci::form::{TriggerForm, WorkflowInput};
    let mut st = state(120, 40);
    st.runs[0].record.pipeline = "acme/shop:deploy.yml".into();
    st.selected_run = Some(st.runs[0].record.id.clone());
    let fx = keys(&mut st, "r");
    assert!(matches!(&fx[..], [Effect::LoadTriggerForm { pipeline }] if pipeline == "acme/shop:deploy.yml"), "{fx:?}");
    let input = |name: &str, kind: &str, required: bool, default: Option<&str>, options: &[&str]| WorkflowInput {
        name: name.into(),
        kind: kind.into(),
        required,
        default: default.map(str::to_string),
        options: options.iter().map(|o| o.to_string()).collect(),
        description: String::new(),
    };
    let form = TriggerForm {
        pipeline: "acme/shop:deploy.yml".into(),
        git_ref: "main".into(),
        inputs: vec![input("env", "choice", true, None, &["staging", "prod"]), input("dry_run", "boolean", false, Some("false"), &[])],
    };
    update(&mut st, Action::TriggerFormLoaded { pipeline: "acme/shop:deploy.yml".into(), result: Ok(Some(form)) });
    let Some(Overlay::Input(line)) = &st.overlay else { panic!("{:?}", st.overlay) };
    assert_eq!(line.value(), "run acme/shop:deploy.yml ref=main env= dry_run=false");
    // The required choice left empty: refused with the workflow's own terms, and offered again.
    update(&mut st, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(st.toasts.iter().any(|t| t.text.contains("input `env` must be one of staging, prod")), "{:?}", st.toasts);
    let Some(Overlay::Input(line)) = &st.overlay else { panic!("the line is offered again") };
    assert_eq!(line.value(), "run acme/shop:deploy.yml ref=main env= dry_run=false");
    // Typing completes from the choices.
    for _ in 0.."dry_run=false".len() {
        update(&mut st, Action::Key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)));
    }
    update(&mut st, Action::Key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)));
    for c in "p".chars() {
        update(&mut st, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    let Some(Overlay::Input(line)) = &st.overlay else { panic!() };
    assert_eq!(line.value(), "run acme/shop:deploy.yml ref=main env=p");
    assert!(line.suggestions.contains(&"run acme/shop:deploy.yml ref=main env=prod".to_string()), "{:?}", line.suggestions);
    for c in "rod".chars() {
        update(&mut st, Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    update(&mut st, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let fx = keys(&mut st, "y");
    let want = flightdeck::ops::TriggerWith { git_ref: Some("main".into()), inputs: [("env".to_string(), "prod".to_string())].into() };
    assert!(
        matches!(&fx[..], [Effect::Execute(a)] if a.op == Operation::Trigger { pipeline: "acme/shop:deploy.yml".into(), with: want.clone() }),
        "{fx:?} {:?}",
        st.toasts
    );
}
