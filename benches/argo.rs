//! Argo Rollouts at scale: 1,000 rollouts in 100 namespaces.
//!
//! Targets: a 200×50 frame of the releases screen (every provider's rollouts) and of one release
//! in full ≤ 16 ms; a watch update made into a release and folded into state ≤ 1 ms; a change on
//! the API server reaches the reducer within 100 ms (through kube-rs's watch against the
//! in-process API double used by the tests).

#[path = "../tests/support/http1.rs"]
pub mod http1;
/// The API double reads requests with the tests' HTTP/1.1 helper, where it looks for it.
mod support {
    pub use super::http1;
}
#[path = "../tests/support/apiserver.rs"]
#[allow(dead_code)]
mod apiserver;
#[path = "common/scale.rs"]
#[allow(dead_code)]
mod scale;

use std::hint::black_box;
use std::time::Duration;

use divan::Bencher;
use flightdeck::app::action::Action;
use flightdeck::app::state::{Screen, State};
use flightdeck::argo::Rollout;
use flightdeck::argo::client::{Cluster, WatchUpdate};
use flightdeck::config::LogSettings;
use flightdeck::identity::Identity;
use flightdeck::keymap::Keymap;
use flightdeck::theme::{ColorDepth, Theme, ThemeSpec};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use scale::{ROLLOUTS, object};
use serde_json::json;

fn main() {
    divan::main();
}

fn state() -> State {
    let identity = Identity { actor: "bench@host".into(), origin: "local".into(), display: None, backends: Default::default() };
    let theme = Theme::new(&ThemeSpec::builtin("dark").unwrap(), ColorDepth::TrueColor);
    let mut st = State::new(identity, Keymap::default(), theme, vec![], None, LogSettings::default());
    st.size = (200, 50);
    st.screen = Screen::Overview;
    let settings = flightdeck::config::KubernetesSettings::default();
    for i in 0..ROLLOUTS {
        let r: Rollout = serde_json::from_value(object(i)).unwrap();
        let row = flightdeck::argo::provider::release(&settings, "prod-eu", r.clone(), st.now);
        st.releases.rows.insert(row.reference.clone(), row);
    }
    st.releases.selected = Some(st.releases()[500].reference.clone());
    st
}

/// One release in full, with 1,000 in the list.
#[divan::bench(sample_count = 20)]
fn release_frame_among_1000_rollouts(bencher: Bencher) {
    let mut st = state();
    st.screen = Screen::Release;
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    bencher.bench_local(|| {
        term.draw(|f| flightdeck::ui::render(f, black_box(&st))).unwrap();
    });
}

/// The releases screen with the same 1,000 Argo Rollouts among its rows: every frame orders every
/// provider's rows (what needs a human first).
#[divan::bench(sample_count = 20)]
fn releases_frame_of_1000_rollouts(bencher: Bencher) {
    let st = state();
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    bencher.bench_local(|| {
        term.draw(|f| flightdeck::ui::render(f, black_box(&st))).unwrap();
    });
}

#[divan::bench(sample_count = 20)]
fn watch_update_into_state(bencher: Bencher) {
    let mut st = state();
    let settings = flightdeck::config::KubernetesSettings::default();
    let mut i = 0;
    bencher.bench_local(|| {
        i += 1;
        let mut o = object(i % ROLLOUTS);
        o["status"]["currentStepIndex"] = json!(i % 5);
        let r: Rollout = serde_json::from_value(o).unwrap();
        let row = flightdeck::argo::provider::release(&settings, "prod-eu", r.clone(), st.now);
        flightdeck::app::update::update(&mut st, Action::Release(flightdeck::delivery::ReleaseEvent::Changed(Box::new(row))));
    });
}

/// From a change on the API server to the update leaving kube-rs's watch, 1,000 rollouts listed.
#[divan::bench(sample_count = 50)]
fn api_change_to_watch_update(bencher: Bencher) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (api, mut w) = rt.block_on(async {
        let api = apiserver::ApiDouble::start().await;
        for i in 0..ROLLOUTS {
            api.put(object(i));
        }
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, api.kubeconfig(&[("bench", "default")])).unwrap();
        let cluster = Cluster::connect(Some(&path), None, Duration::from_secs(10)).await.unwrap();
        let mut w = Box::pin(cluster.watch(None));
        let Some(WatchUpdate::Reset(all)) = w.next().await else { panic!("a list first") };
        assert_eq!(all.len(), ROLLOUTS);
        (api, w)
    });
    let mut n = 0;
    bencher.bench_local(|| {
        n += 1;
        rt.block_on(async {
            api.modify("rollouts", "team-042", "service-0042", |r| r["status"]["currentStepIndex"] = json!(n % 5));
            loop {
                if let Some(WatchUpdate::Apply(r)) = w.next().await
                    && r.metadata.name == "service-0042"
                {
                    break;
                }
            }
        })
    });
}
