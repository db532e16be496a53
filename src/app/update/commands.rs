//! What a command does, from a key or from the `:` line.

use super::*;

pub(crate) fn line_command(state: &mut State, cmd: LineCommand) -> Vec<Effect> {
    match cmd {
        LineCommand::Run(None) => run_command(state, Command::Trigger),
        LineCommand::Run(Some(p)) => request_trigger_line(state, &p),
        LineCommand::Open(id) => {
            let Some(id) = state.find_run(&id) else {
                state.toast_error(format!("there is no run {}", id.text()));
                return Vec::new();
            };
            state.filter.clear();
            state.focus = Pane::Jobs;
            select_run(state, id)
        }
        LineCommand::Key(cmd) => run_command(state, cmd),
        LineCommand::Cancel => run_command(state, Command::Cancel),
        LineCommand::Retry => run_command(state, Command::Retry),
        LineCommand::Approve => run_command(state, Command::Approve),
        LineCommand::Reject => run_command(state, Command::Reject),
        LineCommand::Filter(f) => {
            state.filter = f;
            keep_selection_visible(state);
            Vec::new()
        }
        LineCommand::Theme(name) => vec![Effect::LoadTheme { name }],
        LineCommand::Wrap => run_command(state, Command::LogWrap),
        LineCommand::Timestamps => run_command(state, Command::LogTimestamps),
        LineCommand::Follow => run_command(state, Command::LogFollow),
        LineCommand::Line(n) => {
            match state.current_log().map(|l| l.end_line()) {
                Some(end) if n <= end => jump_to(state, n - 1),
                Some(end) => state.toast_error(format!("the log has {end} lines")),
                None => state.toast_error("no log to move in; select a job first"),
            }
            Vec::new()
        }
        LineCommand::Time(text) => jump_to_time(state, &text).into_iter().collect(),
        LineCommand::Help => run_command(state, Command::Help),
        LineCommand::Quit => run_command(state, Command::Quit),
        LineCommand::Inject(name) => match state.canary.faults.as_ref().map(|f| (f.find(&name), f.names())) {
            Some((Some(i), _)) => inject(state, i),
            Some((None, names)) => {
                state.toast_error(format!("`{name}` is not a fault this canary offers ({})", names.join(", ")));
                Vec::new()
            }
            None => inject(state, 0),
        },
        LineCommand::Except { rule, environment } => except_rule(state, &rule, environment),
        LineCommand::Sync(action) => {
            let op = match state.selected_release() {
                Some(release) => super::release::op_on(state, release, action),
                None => Err("no release is selected: 6 lists them".to_string()),
            };
            match op {
                Ok(op) => request(state, op),
                Err(e) => {
                    state.toast_error(e);
                    Vec::new()
                }
            }
        }
        LineCommand::Context(c) => super::release::switch(state, format!("context={c}")),
        LineCommand::Namespace(ns) => super::release::switch(state, format!("namespace={}", ns.as_deref().unwrap_or("all"))),
    }
}

pub(crate) fn run_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    if crate::keymap::def_of(cmd).mutating && state.read_only {
        state.toast_error(format!(
            "read-only mode: `{}` is disabled (flightdeck was started with --read-only)",
            crate::keymap::def_of(cmd).name
        ));
        return Vec::new();
    }
    let cmd = crate::app::selectors::rollout_key_for(state, cmd).map(Command::Rollout).unwrap_or(cmd);
    match cmd {
        // Runs and canaries are the supervisor's: quitting leaves them going, so it asks nothing.
        Command::Quit => {
            state.quit = true;
            vec![Effect::Quit]
        }
        Command::Help => {
            state.overlay = Some(Overlay::Help { scroll: 0 });
            Vec::new()
        }
        Command::CommandLine => {
            open_input(state, InputKind::Command, "");
            Vec::new()
        }
        Command::Filter => {
            if state.screen == Screen::Findings {
                let f = state.findings_view.filter.clone();
                open_input(state, InputKind::FindingsFilter, &f);
            } else if state.screen == Screen::Audit {
                let f = state.audit.filter.clone();
                open_input(state, InputKind::AuditFilter, &f);
            } else if state.focus == Pane::Log && state.screen == Screen::Pipelines {
                let q = state.log.search.as_ref().map(|s| s.query.clone()).unwrap_or_default();
                open_input(state, InputKind::Search, &q);
            } else {
                let f = state.filter.clone();
                open_input(state, InputKind::Filter, &f);
            }
            Vec::new()
        }
        Command::Back => {
            if let Some(pos) = state.toasts.iter().rposition(|t| t.level == ToastLevel::Error) {
                state.toasts.remove(pos);
            } else if state.screen == Screen::Audit && !state.audit.filter.is_empty() {
                state.audit.filter.clear();
            } else if state.screen == Screen::Findings && !state.findings_view.filter.is_empty() {
                state.findings_view.filter.clear();
            } else if state.screen == Screen::Release {
                return super::release::close(state);
            } else if state.screen != Screen::Pipelines {
                state.screen = Screen::Pipelines;
            } else if state.focus == Pane::Log && state.log.filter.is_some() {
                state.log.filter = None;
            } else if state.focus == Pane::Log && state.log.search.is_some() {
                // Esc stops a search of the whole log under way, and clears the matches.
                let running = state.log.search.take().and_then(|s| s.running).map(|(request, ..)| Effect::CancelSearch { request });
                return running.into_iter().collect();
            } else {
                match state.focus {
                    Pane::Log => state.focus = Pane::Jobs,
                    Pane::Jobs => state.focus = Pane::Runs,
                    Pane::Runs if !state.filter.is_empty() => state.filter.clear(),
                    Pane::Runs => state.dirty = false,
                }
            }
            Vec::new()
        }
        Command::FocusNext => {
            state.focus = match state.focus {
                Pane::Runs => Pane::Jobs,
                Pane::Jobs => Pane::Log,
                Pane::Log => Pane::Runs,
            };
            Vec::new()
        }
        Command::FocusPrev => {
            state.focus = match state.focus {
                Pane::Runs => Pane::Log,
                Pane::Jobs => Pane::Runs,
                Pane::Log => Pane::Jobs,
            };
            Vec::new()
        }
        Command::Open if state.screen == Screen::Approvals => {
            let Some((run, job)) = state.waiting_gates().get(state.approvals_cursor).map(|(r, j)| (r.id.clone(), j.key.clone())) else {
                return Vec::new();
            };
            state.screen = Screen::Pipelines;
            state.focus = Pane::Log;
            state.filter.clear();
            let mut fx = select_run(state, run);
            fx.extend(select_job(state, job));
            fx
        }
        // A release opens in full, on screen 7.
        Command::Open if state.screen == Screen::Overview => super::release::show(state),
        // From the release in full, its run's jobs.
        Command::Open if state.screen == Screen::Release => open_release(state, Screen::Pipelines),
        Command::ScreenRelease => super::release::show(state),
        Command::Rollout(key) => {
            let result = super::release::op_for(state, key);
            match result {
                Ok(Some(op)) => request(state, op),
                Ok(None) if super::release::undo_needs_detail(state) => super::release::open(state),
                Ok(None) => Vec::new(),
                Err(e) => {
                    state.toast_error(e);
                    Vec::new()
                }
            }
        }
        Command::ReleaseFindings => open_release(state, Screen::Findings),
        Command::ReleaseApproval => open_release_approval(state),
        Command::ReleaseOwned => super::release::open_owned(state),
        Command::Open if state.focus == Pane::Log && state.log.filter.is_some() => filter_open(state),
        Command::Open => {
            match state.focus {
                Pane::Runs if state.selected_run.is_some() => state.focus = Pane::Jobs,
                Pane::Jobs if state.selected_job.is_some() => state.focus = Pane::Log,
                _ => {}
            }
            Vec::new()
        }
        Command::Up
        | Command::Down
        | Command::PageUp
        | Command::PageDown
        | Command::Top
        | Command::Bottom
        | Command::Left
        | Command::Right => navigate(state, cmd),
        Command::Trigger => {
            let pipeline = state.current_run().map(|r| r.record.pipeline.clone()).or_else(|| state.fallback_pipeline.clone());
            request_trigger(state, pipeline)
        }
        Command::Cancel | Command::Retry => {
            let Some(run) = state.selected_run.clone() else {
                state.toast_error("no run selected");
                return Vec::new();
            };
            let op = if cmd == Command::Cancel {
                Operation::Cancel { run, force: false }
            } else {
                Operation::Retry { run, scope: Default::default() }
            };
            request(state, op)
        }
        Command::Approve | Command::Reject => {
            let approve = cmd == Command::Approve;
            let gate = match state.screen {
                Screen::Approvals => state.waiting_gates().get(state.approvals_cursor).map(|(r, j)| (r.id.clone(), j.key.clone())),
                _ => state.current_run().and_then(|run| {
                    let selected = state.current_job().filter(|j| j.status == JobStatus::Waiting).map(|j| j.key.clone());
                    selected.or_else(|| run.record.waiting_gates().next().map(|j| j.key.clone())).map(|k| (run.record.id.clone(), k))
                }),
            };
            let Some((run, job)) = gate else {
                state.toast_error(match &state.selected_run {
                    Some(id) if state.screen == Screen::Pipelines => format!("run #{id} has no gate waiting for a decision"),
                    _ => "no gate is waiting for a decision".to_string(),
                });
                return Vec::new();
            };
            request(state, Operation::Gate { run, job, approve })
        }
        Command::ScreenPipelines | Command::ScreenApprovals | Command::ScreenAudit | Command::ScreenFindings => {
            state.screen = match cmd {
                Command::ScreenApprovals => Screen::Approvals,
                Command::ScreenAudit => Screen::Audit,
                Command::ScreenFindings => Screen::Findings,
                _ => Screen::Pipelines,
            };
            match state.screen {
                Screen::Audit => load_audit(state).into_iter().collect(),
                Screen::Findings => {
                    state.findings_view.cursor = 0;
                    state.selected_run.clone().and_then(|id| ensure_evidence(state, id, true)).into_iter().collect()
                }
                Screen::Approvals => {
                    let ids: Vec<RunRef> = state.waiting_gates().iter().map(|(r, _)| r.id.clone()).collect();
                    ids.into_iter().filter_map(|id| ensure_evidence(state, id, false)).collect()
                }
                Screen::Pipelines | Screen::Canary | Screen::Overview | Screen::Release => Vec::new(),
            }
        }
        Command::ScreenCanary => {
            state.screen = Screen::Canary;
            canary_refresh(state).into_iter().collect()
        }
        Command::ScreenOverview => {
            state.screen = Screen::Overview;
            // Remember the selection by name, so it holds while the list reorders under it.
            if state.releases.selected.is_none() {
                state.releases.selected = state.selected_release().map(|r| r.reference.clone());
            }
            let mut fx = overview_refresh(state);
            // Watch the providers from the first visit.
            fx.extend(super::release::start_watching(state));
            fx
        }
        Command::AcceptRisk => {
            let Some(run) = state.selected_run.clone() else { return Vec::new() };
            let Some(f) = selected_finding(state).cloned() else {
                state.toast_error("select a finding first (3 shows the findings of the selected run)");
                return Vec::new();
            };
            let file = state.acceptances.path.clone().unwrap_or_else(|| std::path::PathBuf::from("risk-acceptances.toml"));
            request(
                state,
                Operation::AcceptRisk {
                    run,
                    id: f.id.clone(),
                    package: f.package.clone(),
                    target: f.target.clone(),
                    severity: f.severity,
                    expires: None,
                    file,
                },
            )
        }
        Command::FailedTests => {
            let v = &mut state.findings_view;
            v.failed_tests = !v.failed_tests;
            v.cursor = 0;
            state.dirty = true;
            Vec::new()
        }
        Command::ExceptRule => match crate::app::selectors::failing_rules(state).into_iter().next() {
            Some((rule, environment)) => except_rule(state, &rule, Some(environment)),
            None => {
                state.toast_info("no release gate rule fails for this run (tests, coverage and load rules can be excepted)");
                Vec::new()
            }
        },
        Command::InjectFault => {
            let next = state.canary.faults.as_ref().map(|f| f.next()).unwrap_or_default();
            inject(state, next)
        }
        // Keys of dialogs and pickers mean nothing outside them.
        Command::BreakGlass
        | Command::DialogYes
        | Command::DialogNo
        | Command::DialogSubmit
        | Command::DialogCancel
        | Command::DialogNextField
        | Command::DialogPrevField
        | Command::DialogToggle
        | Command::PickerChoose
        | Command::PickerClose => {
            state.dirty = false;
            Vec::new()
        }
        Command::LogFollow => {
            state.log.follow = !state.log.follow;
            if state.log.follow {
                state.log.new_lines = 0;
            } else {
                state.log.top = current_top(state);
            }
            Vec::new()
        }
        Command::LogWrap => {
            state.log.wrap = !state.log.wrap;
            state.log.hscroll = 0;
            Vec::new()
        }
        Command::LogTimestamps => {
            state.log.timestamps = !state.log.timestamps;
            Vec::new()
        }
        Command::LogNextMatch | Command::LogPrevMatch => {
            step_match(state, cmd == Command::LogNextMatch);
            Vec::new()
        }
        Command::LogCopy => copy_lines(state).into_iter().collect(),
        Command::LogMark => {
            mark_line(state);
            Vec::new()
        }
        Command::LogFold => toggle_fold(state),
        Command::LogFoldAll => toggle_all_folds(state),
        Command::LogFilter => toggle_filter(state),
        Command::LogPager | Command::LogEditor => open_outside(state, cmd == Command::LogEditor).into_iter().collect(),
        Command::LogFirstError => {
            // A long log is searched on disk for its errors: this jumps to the first at or below
            // the view, and n/N go to the next and previous.
            if state.current_log().is_some_and(|l| l.file.is_some()) {
                return search(state, ERROR_SEARCH);
            }
            let found = state.current_log().and_then(|l| l.store.first_error(l.store.first_seq()));
            match found {
                Some(seq) => jump_to(state, seq),
                None => state.toast_info("no line that looks like an error in this log"),
            }
            Vec::new()
        }
    }
}

/// Asks to except a release gate rule of the selected run in one of its environments: an
/// acceptance of `rule:RULE` for that environment, with the reason and expiry the dialog asks for.
fn except_rule(state: &mut State, rule: &str, environment: Option<String>) -> Vec<Effect> {
    let Some(run) = state.selected_run.clone() else {
        state.toast_error("select a run first");
        return Vec::new();
    };
    let environments = state.run(&run).map(|r| crate::ops::run_environments(&r.record)).unwrap_or_default();
    let environment = match environment {
        Some(e) if environments.contains(&e) => e,
        Some(e) => {
            state.toast_error(format!("run #{run} does not deploy to `{e}` (it deploys to: {})", environments.join(", ")));
            return Vec::new();
        }
        None if environments.len() == 1 => environments[0].clone(),
        None => {
            state.toast_error(format!("name the environment: :except {rule} ENV ({})", environments.join(", ")));
            return Vec::new();
        }
    };
    let file = state.acceptances.path.clone().unwrap_or_else(|| std::path::PathBuf::from("risk-acceptances.toml"));
    request(
        state,
        Operation::AcceptRisk {
            run,
            id: format!("{}{rule}", crate::findings::RULE_PREFIX),
            package: None,
            target: Some(environment),
            severity: crate::findings::Severity::Info,
            expires: None,
            file,
        },
    )
}
