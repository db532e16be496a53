//! Render snapshots of every screen at 80×24 and 200×50, plus "too small".

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flightdeck::app::action::Action;
use flightdeck::app::state::Pane;
use flightdeck::app::state::Screen;
use flightdeck::app::update::update;
use support::fixtures::{audit_records, screen, state, with_prod_policy};

fn key(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn both_sizes(name: &str, prepare: impl Fn(&mut flightdeck::app::state::State)) {
    for (w, h) in [(80, 24), (200, 50)] {
        let mut st = state(w, h);
        prepare(&mut st);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&st));
    }
}

#[test]
fn pipelines_screen() {
    both_sizes("pipelines", |_| {});
}

#[test]
fn log_focused_paused_with_search() {
    both_sizes("log_search", |st| {
        st.focus = Pane::Log;
        update(st, key('/'));
        for c in "error".chars() {
            update(st, key(c));
        }
        update(st, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        update(st, key('t'));
    });
}

#[test]
fn log_wrapped_long_lines() {
    both_sizes("log_wrap", |st| {
        let long = "word ".repeat(80);
        let store = &mut st.runs[0].logs.get_mut("unit-test[18]").unwrap().store;
        store.push_raw(0, flightdeck::logstore::Stream::Out, long.as_bytes());
        st.focus = Pane::Log;
        update(st, key('w'));
    });
}

#[test]
fn help_screen() {
    both_sizes("help", |st| {
        update(st, key('?'));
    });
}

#[test]
fn command_line_with_completion() {
    both_sizes("command_line", |st| {
        update(st, key(':'));
        update(st, key('r'));
    });
}

#[test]
fn confirm_dialog_for_a_gate() {
    both_sizes("confirm_gate", |st| {
        st.selected_run = Some(flightdeck::domain::RunRef::local(2));
        st.selected_job = Some("approve-prod".into());
        update(st, key('a'));
    });
}

#[test]
fn read_only_and_error_toast() {
    both_sizes("read_only", |st| {
        st.read_only = true;
        update(st, key('r'));
    });
}

#[test]
fn finished_run_and_empty_history() {
    both_sizes("finished_run", |st| {
        st.selected_run = Some(flightdeck::domain::RunRef::local(1));
        st.selected_job = Some("fuzz".into());
    });
    both_sizes("empty", |st| {
        st.runs.clear();
        st.selected_run = None;
        st.selected_job = None;
    });
}

#[test]
fn too_small() {
    let st = state(50, 12);
    insta::assert_snapshot!("too_small_50x12", screen(&st));
}

#[test]
fn approvals_inbox() {
    both_sizes("approvals", |st| {
        with_prod_policy(st, false);
        update(st, key('2'));
    });
}

#[test]
fn audit_screen_verified_and_tampered() {
    both_sizes("audit", |st| {
        let (records, report) = audit_records();
        st.audit.records = records;
        st.audit.report = Some(report);
        st.screen = Screen::Audit;
    });
    let mut st = state(120, 30);
    let (records, _) = audit_records();
    st.audit.records = records;
    st.audit.report = Some(flightdeck::audit::VerifyReport {
        good: 2,
        problem: Some(flightdeck::audit::Problem {
            line: 3,
            seq: Some(3),
            kind: flightdeck::audit::ProblemKind::Edited,
            message: "record 3 was changed after it was written".into(),
        }),
    });
    st.screen = Screen::Audit;
    insta::assert_snapshot!("audit_tampered_120x30", screen(&st));
}

#[test]
fn typed_confirmation_for_a_production_approval() {
    both_sizes("typed_confirm", |st| {
        with_prod_policy(st, false);
        st.runs[1].record.trigger.actor = "bob@laptop".into();
        st.selected_run = Some(flightdeck::domain::RunRef::local(2));
        st.selected_job = Some("approve-prod".into());
        update(st, key('a'));
        for c in "approve-pr".chars() {
            update(st, key(c));
        }
    });
}

#[test]
fn change_freeze_offers_break_glass() {
    both_sizes("freeze", |st| {
        with_prod_policy(st, true);
        st.runs[1].record.trigger.actor = "bob@laptop".into();
        st.selected_run = Some(flightdeck::domain::RunRef::local(2));
        st.selected_job = Some("approve-prod".into());
        update(st, key('a'));
    });
}

#[test]
fn findings_screen_with_gate_verdict() {
    both_sizes("findings", |st| {
        with_prod_policy(st, false);
        let bytes = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports/trivy.json")).unwrap();
        let parsed = flightdeck::findings::parse_report(&bytes, "reports/trivy.json").unwrap();
        let acceptances = flightdeck::findings::Acceptances {
            path: None,
            entries: vec![flightdeck::findings::Acceptance {
                id: "CVE-2024-2511".into(),
                package: None,
                target: None,
                reason: "TLS 1.3 only".into(),
                by: "security".into(),
                expires: "2026-12-31".parse().unwrap(),
            }],
        };
        let scan = st.runs[0].record.job_mut("security-scan").unwrap();
        scan.reports = vec!["reports/trivy.json".into()];
        scan.findings = Some(flightdeck::domain::FindingsSummary {
            counts: flightdeck::findings::Counts { critical: 2, high: 3, medium: 1, low: 0, info: 0 },
            reports: vec![],
            errors: vec![],
        });
        st.runs[0].evidence = Some(flightdeck::findings::Evidence {
            findings: flightdeck::findings::group(parsed.findings),
            unreadable: vec![],
            acceptances,
            ..Default::default()
        });
        update(st, key('3'));
        update(st, Action::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)));
    });
}

#[test]
fn canary_screen_with_charts_numbers_and_verdict() {
    use flightdeck::app::state::CanaryData;
    use flightdeck::metrics::Phase;
    use flightdeck::metrics::analysis::{AnalysisResult, Measurement, MetricResult, Reading};
    let metric =
        |name: &str, unit: &str, canary: f64, stable: f64, drift: f64, phase: Phase, max: Option<f64>, ratio: Option<f64>| MetricResult {
            name: name.into(),
            unit: unit.into(),
            phase,
            reason: if phase == Phase::Failed {
                "8 of 20 measurements failed (limit 1): canary 4.80% ≥ 2.00%".into()
            } else {
                "20 measurements within their limits".into()
            },
            canary_query: "q".into(),
            stable_query: "q".into(),
            measurements: (0..20)
                .map(|i| Measurement {
                    time: 1_704_069_000 + i * 15,
                    canary: Reading::Value(canary + drift * i as f64),
                    stable: Reading::Value(stable),
                    requests: Some(120.0),
                    phase,
                    reason: String::new(),
                })
                .collect(),
            p_value: Some(if phase == Phase::Failed { 0.0004 } else { 0.41 }),
            condition: "< 2.00% and ≤ 2 × stable".into(),
            max,
            max_ratio: ratio,
            judged: true,
            weight: 1.0,
            critical: false,
            dry_run: false,
        };
    let demo = std::cell::Cell::new(false);
    let prepare = |st: &mut flightdeck::app::state::State| {
        if demo.get() {
            use flightdeck::metrics::inject::{FaultControl, FaultInjector};
            let faults = flightdeck::demo::fault::DemoFaults { url: String::new() }.faults();
            st.canary.faults = FaultControl::new(faults).map(|f| FaultControl { current: 2, ..f });
        }
        st.canary.services = vec![("payments".into(), 15), ("search".into(), 15)];
        let result = AnalysisResult {
            service: "payments".into(),
            phase: Phase::Failed,
            reason: "error ratio: 8 of 20 measurements failed (limit 1): canary 4.80% ≥ 2.00%".into(),
            metrics: vec![
                metric("p99 latency", "s", 0.21, 0.20, 0.001, Phase::Successful, None, Some(1.2)),
                metric("error ratio", "ratio", 0.004, 0.004, 0.0023, Phase::Failed, Some(0.02), Some(2.0)),
            ],
            alerts: vec![],
            end: 1_704_069_285,
            score: None,
        };
        st.canary.data.insert(
            "payments".into(),
            CanaryData { result: Some(result), last_ok: Some(st.now), asked_at: Some(st.now), pending: None, ..Default::default() },
        );
        update(st, key('5'));
    };
    both_sizes("canary", prepare);
    // In the demo, the title says what is injected into the canary and the footer offers the key.
    demo.set(true);
    let mut st = state(200, 50);
    prepare(&mut st);
    insta::assert_snapshot!("canary_demo_erroring_200x50", screen(&st));
}

#[test]
fn release_overview_sorted_by_urgency_with_countdown_trend_and_hostile_text() {
    use flightdeck::app::state::CanaryData;
    use flightdeck::metrics::analysis::{AnalysisResult, Measurement, MetricResult, Reading};
    use flightdeck::rollout::{Phase, record::Pause};
    use support::fixtures::{at, rollout_record, rollout_spec};
    both_sizes("overview", |st| {
        with_prod_policy(st, false);
        let specs = [
            rollout_spec("search", "staging", None),
            rollout_spec("checkout", "prod", None),
            rollout_spec("payments-api", "prod", Some("payments")),
            rollout_spec("ledger", "prod", None),
            rollout_spec("inventory", "staging", None),
            rollout_spec("evil", "staging", None),
        ];
        let mut paused = rollout_record("payments-api", Phase::Paused, 1, 20);
        paused.pause = Some(Pause { reason: "step 2: pause 2m".into(), until: Some(at(75)), by_user: false });
        let mut aborted = rollout_record("ledger", Phase::Aborted, 0, 0);
        aborted.cause = Some("analysis failed: error ratio 4.80% ≥ 2.00% (p = 0.0004)".into());
        let mut degraded = rollout_record("inventory", Phase::Degraded, 2, 20);
        degraded.cause = Some("nginx -t refused the new split; the previous file is back".into());
        let mut healthy = rollout_record("search", Phase::Healthy, 3, 0);
        healthy.version = None;
        let mut evil = rollout_record("evil", Phase::Progressing, 0, 20);
        evil.version = Some("2.5.0\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J".into());
        evil.history.push(flightdeck::rollout::record::HistoryEntry {
            at: at(-10),
            event: "note \u{1b}[31mred\u{1b}[0m\rover".into(),
            weight: 20,
            actor: "mallory".into(),
        });
        let records = [paused, aborted, degraded, healthy, evil, rollout_record("checkout", Phase::Progressing, 0, 20)];
        // The hostile one is selected: its history is in the detail.
        support::fixtures::show_nginx(st, &specs, &records, Some("evil"));
        let errors = MetricResult {
            name: "error ratio".into(),
            unit: "ratio".into(),
            phase: flightdeck::metrics::Phase::Running,
            reason: "8 measurements within their limits".into(),
            canary_query: "q".into(),
            stable_query: "q".into(),
            measurements: (0..8)
                .map(|i| Measurement {
                    time: 1_704_069_000 + i * 15,
                    canary: Reading::Value(0.002 + 0.001 * i as f64),
                    stable: Reading::Value(0.002),
                    requests: Some(120.0),
                    phase: flightdeck::metrics::Phase::Successful,
                    reason: String::new(),
                })
                .collect(),
            p_value: None,
            condition: "< 2.00%".into(),
            max: Some(0.02),
            max_ratio: None,
            judged: true,
            weight: 1.0,
            critical: false,
            dry_run: false,
        };
        let result = AnalysisResult {
            service: "payments".into(),
            phase: flightdeck::metrics::Phase::Running,
            reason: "measuring".into(),
            metrics: vec![errors],
            alerts: vec![],
            end: 1_704_069_105,
            score: None,
        };
        st.canary.data.insert(
            "payments".into(),
            CanaryData { result: Some(result), last_ok: Some(st.now), asked_at: Some(st.now), pending: None, ..Default::default() },
        );
        st.screen = Screen::Overview;
    });
}

/// Argo Rollouts in every state a person meets, read from API objects at fixed times.
fn argo_state(st: &mut flightdeck::app::state::State) {
    use serde_json::json;
    let canary = |name: &str, step: i64, status: serde_json::Value| {
        let mut s = json!({"currentStepIndex": step, "currentPodHash": "c0ffee", "stableRS": "5eed", "observedGeneration": "2"});
        json_patch::merge(&mut s, &status);
        json!({"metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "generation": 2,
                             "annotations": {"rollout.argoproj.io/revision": "7"}},
               "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "5m"}}, {"analysis": {}}]}}},
               "status": s})
    };
    let objects = vec![
        canary("healthy", 5, json!({"phase": "Healthy", "stableRS": "c0ffee"})),
        canary(
            "waiting",
            1,
            json!({"phase": "Paused", "controllerPause": true,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T09:58:00Z"}],
            "canary": {"weights": {"canary": {"weight": 20}, "stable": {"weight": 80}}}}),
        ),
        canary(
            "soaking",
            3,
            json!({"phase": "Paused", "controllerPause": true,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T09:58:00Z"}]}),
        ),
        canary(
            "moving",
            2,
            json!({"phase": "Progressing", "message": "more replicas need to be updated",
            "canary": {"weights": {"canary": {"weight": 35}, "stable": {"weight": 65}}}}),
        ),
        canary(
            "stuck",
            2,
            json!({"phase": "Degraded", "message": "ProgressDeadlineExceeded: ReplicaSet \"stuck-c0ffee\" has timed out progressing.",
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                            "message": "ReplicaSet \"stuck-c0ffee\" has timed out progressing.", "lastTransitionTime": "2026-11-22T09:50:00Z"}]}),
        ),
        canary(
            "aborted",
            0,
            json!({"phase": "Degraded", "abort": true, "abortedAt": "2026-11-22T09:55:00Z",
            "conditions": [{"type": "Progressing", "status": "False", "reason": "RolloutAborted",
                            "message": "Rollout aborted update to revision 7: metric \"error-rate\" assessed Failed due to failed (3) > failureLimit (2)",
                            "lastTransitionTime": "2026-11-22T09:55:00Z"}]}),
        ),
        json!({"metadata": {"name": "checkout", "namespace": "payments", "generation": 4},
               "spec": {"strategy": {"blueGreen": {"activeService": "checkout", "previewService": "checkout-preview", "autoPromotionEnabled": false}}},
               "status": {"phase": "Paused", "observedGeneration": "4", "controllerPause": true, "currentPodHash": "b1ue", "stableRS": "9reen",
                          "pauseConditions": [{"reason": "BlueGreenPause", "startTime": "2026-11-22T09:40:00Z"}],
                          "blueGreen": {"activeSelector": "9reen", "previewSelector": "b1ue"}}}),
    ];
    let mut settings = flightdeck::config::KubernetesSettings::default();
    settings.environments.insert("prod-eu".into(), "prod".into());
    settings.services.insert("shop/waiting".into(), "payments".into());
    st.releases.last_update = Some(support::fixtures::at(-4));
    let rollouts: Vec<flightdeck::argo::Rollout> = objects.into_iter().map(|o| serde_json::from_value(o).unwrap()).collect();
    support::fixtures::show_argo(st, &settings, "prod-eu", &rollouts);
    st.screen = Screen::Overview;
}

#[test]
fn argo_rollouts_list_in_every_state() {
    both_sizes("argo_list", argo_state);
}

#[test]
fn argo_rollout_detail_with_revisions_analysis_and_timeline() {
    use serde_json::json;
    for (name, key) in [("argo_detail_waiting", "shop/waiting"), ("argo_detail_blue_green", "payments/checkout")] {
        let mut st = state(160, 45);
        argo_state(&mut st);
        let (ns, rollout) = key.split_once('/').unwrap();
        let reference = flightdeck::domain::RolloutRef::argo("prod-eu", ns, rollout);
        st.releases.selected = Some(reference.clone());
        st.screen = Screen::Release;
        let rs = |rev: i64, hash: &str, image: &str| -> flightdeck::argo::model::ReplicaSet {
            serde_json::from_value(json!({"metadata": {"name": format!("waiting-{hash}"), "creationTimestamp": "2026-11-22T08:00:00Z",
                "labels": {"rollouts-pod-template-hash": hash}, "annotations": {"rollout.argoproj.io/revision": rev.to_string()}},
                "spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
                "status": {"readyReplicas": 4}}))
            .unwrap()
        };
        let rollout = st.release(&reference).unwrap().native.get::<flightdeck::argo::Rollout>().unwrap().clone();
        st.releases.detail = Some(flightdeck::argo::provider::detail_for(
            &rollout,
            "prod-eu",
            vec![rs(7, "c0ffee", "registry/shop:2.4.0"), rs(6, "5eed", "registry/shop:2.3.1"), rs(5, "01d", "registry/shop:2.3.0")],
            Some(flightdeck::argo::client::Permissions {
                patch: flightdeck::argo::client::Access { allowed: true, reason: String::new() },
                patch_status: flightdeck::argo::client::Access {
                    allowed: false,
                    reason: "RBAC: no rule allows patch rollouts/status".into(),
                },
            }),
            &[json!({"metadata": {"name": "waiting-c0ffee-7"}, "status": {"phase": "Running",
                "metricResults": [{"name": "error-rate", "phase": "Running", "measurements": [{"value": "0.004"}]}]}})],
            &[
                json!({"type": "Normal", "reason": "RolloutPaused", "message": "Rollout is paused (CanaryPauseStep)",
                                "lastTimestamp": "2026-11-22T09:58:00Z"}),
                json!({"type": "Warning", "reason": "FlightdeckAbort", "message": "\u{1b}[31mabort\u{1b}[0m by mallory",
                                "lastTimestamp": "2026-11-22T09:59:00Z"}),
            ],
        ));
        // A service judges this canary; the journal has flightdeck's own action on it.
        let result = flightdeck::metrics::analysis::AnalysisResult {
            service: "payments".into(),
            phase: flightdeck::metrics::Phase::Failed,
            reason: "error ratio: 3 of 8 measurements failed (limit 2)".into(),
            metrics: vec![flightdeck::metrics::analysis::MetricResult {
                name: "error ratio".into(),
                unit: "ratio".into(),
                phase: flightdeck::metrics::Phase::Failed,
                reason: "3 of 8 measurements failed (limit 2)".into(),
                canary_query: "q".into(),
                stable_query: "q".into(),
                measurements: (0..8)
                    .map(|i| flightdeck::metrics::analysis::Measurement {
                        time: 1_704_069_000 + i * 15,
                        canary: flightdeck::metrics::analysis::Reading::Value(0.004 + 0.004 * i as f64),
                        stable: flightdeck::metrics::analysis::Reading::Value(0.004),
                        requests: Some(120.0),
                        phase: flightdeck::metrics::Phase::Successful,
                        reason: String::new(),
                    })
                    .collect(),
                p_value: Some(0.003),
                condition: "< 2.00%".into(),
                max: Some(0.02),
                max_ratio: None,
                judged: true,
                weight: 1.0,
                critical: false,
                dry_run: false,
            }],
            alerts: vec![],
            end: 1_704_069_105,
            score: None,
        };
        st.canary.services = vec![("payments".into(), 15)];
        st.canary.data.insert(
            "payments".into(),
            flightdeck::app::state::CanaryData {
                result: Some(result),
                last_ok: Some(st.now),
                asked_at: Some(st.now),
                pending: None,
                ..Default::default()
            },
        );
        st.audit.records = vec![
            serde_json::from_value(json!({
                "seq": 4, "time": "2026-11-22T09:59:30.120Z", "actor": "alice@ops", "origin": "local", "environment": "prod",
                "target": "shop/waiting", "action": "argo.pause", "reason": "error budget", "phase": "outcome", "result": "success",
                "prev_hash": "", "hash": ""
            }))
            .unwrap(),
        ];
        insta::assert_snapshot!(name, screen(&st));
    }
}

#[test]
fn help_lists_every_context_the_rollout_keys_and_the_dialog_keys() {
    // A terminal tall enough to show all of it at once.
    let mut st = state(200, 200);
    update(&mut st, key('?'));
    let text = screen(&st);
    for heading in ["Everywhere", "Log view", "Canary analysis", "Releases (rollouts)", "Confirmation dialogs", "Pickers"] {
        assert!(text.contains(heading), "help lacks {heading}:\n{text}");
    }
    for line in [
        "go on to the rollout's next step",
        "restart the rollout's pods (Argo Rollouts)",
        "a shorter canary window",
        "answer yes to a y/N question",
        "choose the selected entry",
    ] {
        assert!(text.contains(line), "help lacks {line:?}:\n{text}");
    }
}

#[test]
fn rebound_dialog_keys_decide_the_dialog_and_are_what_it_shows() {
    use flightdeck::app::state::Overlay;
    let mut st = state(120, 40);
    let mut overrides = std::collections::BTreeMap::new();
    overrides.insert("dialog.yes".to_string(), (0..1, vec!["s".to_string()]));
    overrides.insert("dialog.no".to_string(), (0..1, vec!["d".to_string()]));
    st.keymap = flightdeck::keymap::Keymap::with_overrides(&overrides).unwrap();
    update(&mut st, key('c'));
    assert!(matches!(st.overlay, Some(Overlay::Confirm(_))), "cancel asks first");
    assert!(screen(&st).contains("s yes · d/esc no"), "{}", screen(&st));
    update(&mut st, key('y'));
    assert!(matches!(st.overlay, Some(Overlay::Confirm(_))), "the old key no longer answers");
    let fx = update(&mut st, key('s'));
    assert!(st.overlay.is_none());
    assert!(fx.iter().any(|e| matches!(e, flightdeck::app::effect::Effect::Execute(_))), "{fx:?}");
}

#[test]
fn eighty_by_twenty_four_shows_the_essentials_on_every_screen() {
    for key_press in ['1', '2', '3', '4', '5', '6'] {
        let mut st = state(80, 24);
        update(&mut st, key(key_press));
        let text = screen(&st);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("6 Releases"), "screen {key_press}: the releases tab\n{text}");
        assert!(lines.last().unwrap().contains("? help"), "screen {key_press}: the way to every key\n{text}");
    }
    let mut st = state(80, 24);
    update(&mut st, key('3'));
    let text = screen(&st);
    assert!(text.contains("STATE"), "whether each finding is accepted or open: {text}");
}

/// A job of a CI service that publishes its log at the end: its steps so far, and a display name.
#[test]
fn a_remote_job_still_running_shows_its_steps() {
    use flightdeck::domain::{JobStatus, StepRecord};
    both_sizes("remote_steps", |st| {
        st.identity.display = Some("Alice Liddell".into());
        let run = &mut st.runs[0].record;
        let job = run.jobs.iter_mut().find(|j| j.key == "unit-test[18]").unwrap();
        job.status = JobStatus::Running;
        let at = |s| Some(support::fixtures::t0() + jiff::SignedDuration::from_secs(s));
        job.steps = vec![
            StepRecord { name: "Check out".into(), status: JobStatus::Success, started_at: at(1), finished_at: at(2) },
            StepRecord { name: "Test".into(), status: JobStatus::Running, started_at: at(2), finished_at: None },
            StepRecord { name: "Upload \u{1b}[31mreports".into(), status: JobStatus::Pending, started_at: None, finished_at: None },
        ];
        st.runs[0].logs.clear();
    });
}
