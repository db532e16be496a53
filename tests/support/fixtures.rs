//! Hand-built states for reducer and render tests: deterministic times, mono theme.

use std::collections::BTreeMap;

use flightdeck::app::state::{JobLog, RunView, State};
use flightdeck::config::LogSettings;
use flightdeck::domain::{GateInfo, JobRecord, JobStatus, RunRecord, RunStatus, StageRecord, Trigger};
use flightdeck::identity::Identity;
use flightdeck::keymap::Keymap;
use flightdeck::logstore::{LogStore, Stream};
use flightdeck::theme::Theme;
use jiff::Timestamp;

pub fn t0() -> Timestamp {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(t0().as_second() + secs).unwrap()
}

fn stage(name: &str, needs: &[&str], gate: bool, env: Option<&str>) -> StageRecord {
    StageRecord { name: name.into(), needs: needs.iter().map(|s| s.to_string()).collect(), gate, environment: env.map(str::to_string) }
}

pub fn job(stage: &str, matrix: Option<(&str, &str)>, status: JobStatus, start: Option<i64>, end: Option<i64>) -> JobRecord {
    let mut m = BTreeMap::new();
    if let Some((k, v)) = matrix {
        m.insert(k.to_string(), v.to_string());
    }
    let key = match matrix {
        Some((_, v)) => format!("{stage}[{v}]"),
        None => stage.to_string(),
    };
    JobRecord {
        key,
        stage: stage.into(),
        matrix: m,
        status,
        exit_code: match status {
            JobStatus::Success => Some(0),
            JobStatus::Failed => Some(1),
            _ => None,
        },
        started_at: start.map(at),
        finished_at: end.map(at),
        attempts: u32::from(start.is_some()),
        error: (status == JobStatus::Failed).then(|| "exited with code 1".to_string()),
        reports: Vec::new(),
        gate: None,
        findings: None,
        steps: Vec::new(),
        url: None,
    }
}

pub fn release_stages() -> Vec<StageRecord> {
    vec![
        stage("lint", &[], false, None),
        stage("unit-test", &["lint"], false, None),
        stage("security-scan", &["lint"], false, None),
        stage("build", &["unit-test", "security-scan"], false, None),
        stage("deploy-staging", &["build"], false, Some("staging")),
        stage("approve-prod", &["deploy-staging"], true, Some("prod")),
        stage("deploy-prod", &["approve-prod"], false, Some("prod")),
    ]
}

fn gate_job(status: JobStatus, start: Option<i64>) -> JobRecord {
    let mut j = job("approve-prod", None, status, start, None);
    j.gate = Some(GateInfo { environment: Some("prod".into()), deadline: None, decision: None, refused_by_service: None });
    j
}

/// #3 running (a test failing), #2 waiting at the production gate, #1 nightly failed.
pub fn runs() -> Vec<RunRecord> {
    let running = RunRecord {
        id: flightdeck::domain::RunRef::local(3),
        pipeline: "release".into(),
        status: RunStatus::Running,
        trigger: Trigger { actor: "bob@ci".into(), via: "tui".into(), ..Default::default() },
        created_at: at(-70),
        started_at: Some(at(-70)),
        finished_at: None,
        stages: release_stages(),
        jobs: vec![
            job("lint", None, JobStatus::Success, Some(-70), Some(-64)),
            job("unit-test", Some(("node", "18")), JobStatus::Running, Some(-64), None),
            job("unit-test", Some(("node", "20")), JobStatus::Success, Some(-64), Some(-30)),
            job("unit-test", Some(("node", "22")), JobStatus::Failed, Some(-64), Some(-20)),
            job("security-scan", None, JobStatus::Success, Some(-64), Some(-50)),
            job("build", None, JobStatus::Pending, None, None),
            job("deploy-staging", None, JobStatus::Pending, None, None),
            gate_job(JobStatus::Pending, None),
            job("deploy-prod", None, JobStatus::Pending, None, None),
        ],
        note: None,
        retried_by: Vec::new(),
        refused: Default::default(),
    };
    let waiting = RunRecord {
        id: flightdeck::domain::RunRef::local(2),
        status: RunStatus::Waiting,
        created_at: at(-3600),
        started_at: Some(at(-3600)),
        trigger: Trigger { actor: "alice@ops".into(), via: "cli".into(), ..Default::default() },
        jobs: vec![
            job("lint", None, JobStatus::Success, Some(-3600), Some(-3590)),
            job("unit-test", Some(("node", "18")), JobStatus::Success, Some(-3590), Some(-3500)),
            job("unit-test", Some(("node", "20")), JobStatus::Success, Some(-3590), Some(-3510)),
            job("unit-test", Some(("node", "22")), JobStatus::Success, Some(-3590), Some(-3520)),
            job("security-scan", None, JobStatus::Success, Some(-3590), Some(-3560)),
            job("build", None, JobStatus::Success, Some(-3500), Some(-3400)),
            job("deploy-staging", None, JobStatus::Success, Some(-3400), Some(-3300)),
            gate_job(JobStatus::Waiting, Some(-3300)),
            job("deploy-prod", None, JobStatus::Pending, None, None),
        ],
        ..running.clone()
    };
    let nightly = RunRecord {
        id: flightdeck::domain::RunRef::local(1),
        pipeline: "nightly".into(),
        status: RunStatus::Failed,
        created_at: at(-86_400),
        started_at: Some(at(-86_400)),
        finished_at: Some(at(-86_000)),
        trigger: Trigger { actor: "cron@build".into(), via: "cli".into(), ..Default::default() },
        stages: vec![stage("fuzz", &[], false, None), stage("report", &["fuzz"], false, None)],
        jobs: vec![
            job("fuzz", None, JobStatus::Failed, Some(-86_400), Some(-86_010)),
            job("report", None, JobStatus::Skipped, None, Some(-86_010)),
        ],
        ..running.clone()
    };
    vec![running, waiting, nightly]
}

/// A log with colours, stderr, meta lines and a few errors.
pub fn sample_log(lines: usize) -> LogStore {
    let mut s = LogStore::new(1_000_000, 1 << 30);
    s.push_raw(t0().as_millisecond(), Stream::Meta, b"$ sh scripts/test.sh 18");
    for i in 0..lines {
        let ts = t0().as_millisecond() + i as i64 * 10;
        match i % 50 {
            7 => s.push_raw(ts, Stream::Err, format!("\x1b[31mERROR\x1b[0m request {i} failed: connection reset").as_bytes()),
            13 => s.push_raw(ts, Stream::Out, format!("  \x1b[32mPASS\x1b[0m test/suite_{i}.test.js").as_bytes()),
            _ => s.push_raw(ts, Stream::Out, format!("line {i}: processing batch {} of the settlement ledger", i / 10).as_bytes()),
        }
    }
    s
}

pub fn state(w: u16, h: u16) -> State {
    let identity = Identity { actor: "alice@ops".into(), origin: "local".into(), display: None, backends: Default::default() };
    let mut st = State::new(
        identity,
        Keymap::default(),
        Theme::mono(),
        vec!["nightly".into(), "release".into()],
        Some("release".into()),
        LogSettings::default(),
    );
    st.size = (w, h);
    st.now = t0();
    st.runs_loaded = true;
    for rec in runs() {
        st.runs.push(RunView::new(rec));
    }
    st.runs[0].logs.insert("unit-test[18]".into(), JobLog::with_store(sample_log(120)));
    st.selected_run = Some(flightdeck::domain::RunRef::local(3));
    st.selected_job = Some("unit-test[18]".into());
    st.dirty = false;
    st
}

/// Renders the state into a test terminal and returns its text.
pub fn screen(st: &State) -> String {
    let backend = ratatui::backend::TestBackend::new(st.size.0, st.size.1);
    let mut term = ratatui::Terminal::new(backend).unwrap();
    term.draw(|f| flightdeck::ui::render(f, st)).unwrap();
    term.backend().to_string()
}

/// A policy like a real team's: prod is production (typed, four-eyes), optionally frozen.
pub fn with_prod_policy(st: &mut State, frozen: bool) {
    let freeze = if frozen {
        "[[environments.prod.freeze]]\nreason = \"year-end freeze\"\ntimezone = \"Europe/Berlin\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n"
    } else {
        ""
    };
    let text = format!("[environments.staging]\n[environments.prod]\nproduction = true\n{freeze}");
    st.policy = flightdeck::config::Config::parse(&text, None, None).unwrap().policy;
}

/// An audit journal with a few real records, read back with its verification.
pub fn audit_records() -> (Vec<flightdeck::audit::AuditRecord>, flightdeck::audit::VerifyReport) {
    use flightdeck::audit::{Draft, Journal, Phase};
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::in_data_dir(dir.path());
    let base = |action: &str, phase, result: &str| Draft {
        actor: "alice@ops".into(),
        origin: "ssh from 10.0.0.5".into(),
        environment: Some("prod".into()),
        target: "approve-prod".into(),
        action: action.into(),
        parameters: serde_json::json!({"run": 2, "pipeline": "release", "gate": "approve-prod"}),
        reason: "CAB-1234 approved, canary green".into(),
        phase: Some(phase),
        result: result.into(),
        ..Draft::default()
    };
    let i = j.append(base("gate.approve", Phase::Intent, "pending")).unwrap();
    j.append(Draft { intent: Some(i.seq), ..base("gate.approve", Phase::Outcome, "success") }).unwrap();
    j.append(Draft {
        actor: "bob@laptop".into(),
        error: Some("four-eyes: you started this run".into()),
        reason: String::new(),
        ..base("gate.approve", Phase::Refused, "refused")
    })
    .unwrap();
    j.append(Draft { break_glass: true, ..base("run.trigger", Phase::Intent, "pending") }).unwrap();
    let (mut records, report) = j.read().unwrap();
    // Fixed times so snapshots are stable.
    for (n, r) in records.iter_mut().enumerate() {
        r.time = format!("2026-11-22T09:5{n}:00.000Z");
        r.prev_hash = format!("{:064x}", n);
        r.hash = format!("{:064x}", n + 1);
    }
    (records, report)
}

/// An NGINX rollout as configured, with three steps; nothing is written anywhere.
#[allow(dead_code)]
pub fn rollout_spec(name: &str, env: &str, service: Option<&str>) -> flightdeck::rollout::RolloutSpec {
    use flightdeck::rollout::{NginxSpec, OnFailure, RolloutSpec, Step};
    RolloutSpec {
        name: name.into(),
        environment: Some(env.into()),
        service: service.map(Into::into),
        steps: vec![Step::SetWeight(20), Step::Pause(Some(std::time::Duration::from_secs(120))), Step::SetWeight(100)],
        on_failure: OnFailure::Abort,
        background_analysis: false,
        nginx: NginxSpec {
            include: format!("/etc/nginx/conf.d/{name}.upstream.conf").into(),
            upstream: name.into(),
            stable: vec!["10.0.0.1:8080".into()],
            canary: vec!["10.0.0.2:8080".into()],
            validate: vec![],
            reload: vec![],
            pid_file: None,
            conf: None,
        },
    }
}

/// A rollout's record at a phase, step and weight, with a little history at fixed times.
#[allow(dead_code)]
pub fn rollout_record(name: &str, phase: flightdeck::rollout::Phase, step: usize, weight: u8) -> flightdeck::rollout::Record {
    use flightdeck::rollout::record::HistoryEntry;
    let mut rec = flightdeck::rollout::Record::new(name, weight);
    rec.phase = phase;
    rec.step = step;
    rec.revision = 3;
    rec.version = Some("2.4.0".into());
    rec.stable_version = Some("2.3.1".into());
    rec.history = vec![
        HistoryEntry { at: at(-300), event: "started rolling out 2.4.0 (revision 3)".into(), weight: 0, actor: "bob@ci".into() },
        HistoryEntry { at: at(-290), event: "canary at 20 %".into(), weight: 20, actor: "flightdeck".into() },
    ];
    rec
}

/// Puts NGINX canaries into the releases list as their provider reports them (specs without a
/// record are not listed), with the detail of `open` read.
pub fn show_nginx(
    st: &mut flightdeck::app::state::State,
    specs: &[flightdeck::rollout::RolloutSpec],
    records: &[flightdeck::rollout::Record],
    open: Option<&str>,
) {
    with_planners(st);
    for spec in specs {
        if let Some(rec) = records.iter().find(|r| r.name == spec.name) {
            let row = flightdeck::rollout::provider::release(spec, rec);
            st.releases.rows.insert(row.reference.clone(), row);
            if open == Some(spec.name.as_str()) {
                st.releases.selected = Some(flightdeck::domain::RolloutRef::nginx(spec.name.clone()));
                st.releases.detail = Some(flightdeck::rollout::provider::detail(spec, rec));
            }
        }
    }
}

/// Puts Argo Rollouts of `context` into the releases list as their provider reports them.
pub fn show_argo(
    st: &mut flightdeck::app::state::State,
    settings: &flightdeck::config::KubernetesSettings,
    context: &str,
    rollouts: &[flightdeck::argo::Rollout],
) {
    with_planners(st);
    for r in rollouts {
        let row = flightdeck::argo::provider::release(settings, context, r.clone(), st.now);
        st.releases.rows.insert(row.reference.clone(), row);
    }
    let feed = flightdeck::delivery::Feed {
        label: format!("Argo Rollouts · {context} · all namespaces"),
        state: flightdeck::delivery::FeedState::Live,
        scopes: vec![context.to_string()],
    };
    st.releases.feeds.insert("argo".into(), feed);
}

/// The NGINX and Argo providers, for their pure plans (nothing here reads or writes).
pub fn with_planners(st: &mut flightdeck::app::state::State) {
    if st.releases.providers.is_empty() {
        let controller = flightdeck::rollout::Controller::new(Default::default(), &std::env::temp_dir(), Default::default(), None);
        st.releases.providers = flightdeck::delivery::Registry::new(vec![
            std::sync::Arc::new(flightdeck::rollout::NginxProvider::new(controller)),
            std::sync::Arc::new(flightdeck::argo::ArgoProvider::new(Default::default())),
        ]);
    }
}
