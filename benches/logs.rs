//! Log store ingestion and log view rendering.
//!
//! Targets: ≥ 1,000,000 lines/s into the store; ≤ 2 ms per 200×50 frame with 1,000,000 lines
//! stored, independent of how many lines are stored.

use std::hint::black_box;

use divan::Bencher;
use divan::counter::ItemsCount;
use flightdeck::app::state::{JobLog, Pane, RunView, State};
use flightdeck::config::LogSettings;
use flightdeck::domain::{JobRecord, JobStatus, RunRecord, RunStatus, StageRecord, Trigger};
use flightdeck::identity::Identity;
use flightdeck::keymap::Keymap;
use flightdeck::logstore::{LogStore, RawLine, Stream};
use flightdeck::theme::{ColorDepth, Theme, ThemeSpec};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    divan::main();
}

const MILLION: usize = 1_000_000;

fn raw_lines(n: usize) -> Vec<RawLine> {
    (0..n)
        .map(|i| {
            let text = match i % 20 {
                3 => format!("\x1b[32mPASS\x1b[0m test/suite_{i}.test.js (12 ms)"),
                7 => format!("\x1b[31merror\x1b[0m: request {i} failed with status 503 after 3 retries"),
                _ => format!("2026-11-22T10:00:00Z INFO settlement worker processed batch {i} of the ledger in 42ms"),
            };
            RawLine { ts_ms: 1_700_000_000_000 + i as i64, stream: Stream::Out, bytes: text.into_bytes() }
        })
        .collect()
}

#[divan::bench(sample_count = 10)]
fn ingest_1m_lines(bencher: Bencher) {
    let lines = raw_lines(MILLION);
    bencher.counter(ItemsCount::new(MILLION)).bench(|| {
        let mut store = LogStore::new(MILLION, 1 << 30);
        for l in &lines {
            store.push_raw(l.ts_ms, l.stream, &l.bytes);
        }
        black_box(store.len())
    });
}

#[divan::bench(sample_count = 10)]
fn ingest_1m_lines_capped_at_100k(bencher: Bencher) {
    let lines = raw_lines(MILLION);
    bencher.counter(ItemsCount::new(MILLION)).bench(|| {
        let mut store = LogStore::new(100_000, 16 << 20);
        for l in &lines {
            store.push_raw(l.ts_ms, l.stream, &l.bytes);
        }
        black_box(store.len())
    });
}

fn state_with(lines: usize, wrap: bool) -> State {
    let identity = Identity { actor: "bench@host".into(), origin: "local".into(), display: None, backends: Default::default() };
    let theme = Theme::new(&ThemeSpec::builtin("dark").unwrap(), ColorDepth::TrueColor);
    let mut st = State::new(identity, Keymap::default(), theme, vec!["release".into()], Some("release".into()), LogSettings::default());
    st.size = (200, 50);
    let now = jiff::Timestamp::now();
    let job = |key: &str, status| JobRecord {
        key: key.into(),
        stage: key.into(),
        matrix: Default::default(),
        status,
        exit_code: None,
        started_at: Some(now),
        finished_at: None,
        attempts: 1,
        error: None,
        reports: vec![],
        gate: None,
        findings: None,
        steps: Vec::new(),
        url: None,
    };
    let rec = RunRecord {
        id: flightdeck::domain::RunRef::local(1),
        pipeline: "release".into(),
        status: RunStatus::Running,
        trigger: Trigger { actor: "bench".into(), via: "bench".into(), ..Default::default() },
        created_at: now,
        started_at: Some(now),
        finished_at: None,
        stages: ["lint", "test", "build"]
            .iter()
            .map(|n| StageRecord { name: n.to_string(), needs: vec![], gate: false, environment: None })
            .collect(),
        jobs: vec![job("lint", JobStatus::Success), job("test", JobStatus::Running), job("build", JobStatus::Pending)],
        note: None,
        retried_by: Vec::new(),
        refused: Default::default(),
    };
    let mut store = LogStore::new(MILLION, 1 << 30);
    for l in raw_lines(lines) {
        store.push_raw(l.ts_ms, l.stream, &l.bytes);
    }
    let mut view = RunView::new(rec);
    view.logs.insert("test".into(), JobLog::with_store(store));
    st.runs.push(view);
    st.selected_run = Some(flightdeck::domain::RunRef::local(1));
    st.selected_job = Some("test".into());
    st.focus = Pane::Log;
    st.log.wrap = wrap;
    st.log.timestamps = true;
    st
}

fn render_frames(bencher: Bencher, st: State) {
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    bencher.bench_local(|| {
        term.draw(|f| flightdeck::ui::render(f, &st)).unwrap();
    });
}

#[divan::bench(args = [1_000, 100_000, 1_000_000])]
fn render_log_view_200x50(bencher: Bencher, lines: usize) {
    render_frames(bencher, state_with(lines, false));
}

#[divan::bench(args = [1_000, 1_000_000])]
fn render_log_view_200x50_wrapped(bencher: Bencher, lines: usize) {
    render_frames(bencher, state_with(lines, true));
}

#[divan::bench(sample_count = 10)]
fn search_1m_lines(bencher: Bencher) {
    let st = state_with(MILLION, false);
    let store = &st.runs[0].logs["test"].store;
    bencher.bench_local(|| black_box(store.find_all("status 503").len()));
}
