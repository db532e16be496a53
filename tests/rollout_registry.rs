//! The rollout seam with a third provider: a scripted one that no part of the core knows. The
//! releases list shows its rows beside the others, the release view its steps, revisions and
//! what its backend forbids; the keys act on it through the same plan, policy, dialog, journal
//! and "is it still what you saw?" check as NGINX and Argo Rollouts.

mod support;

use std::sync::Arc;
use std::time::Duration;

use flightdeck::app::state::{Overlay, Screen};
use flightdeck::delivery::{DeliveryError, Health, Registry, RolloutProvider};
use flightdeck::domain::RolloutRef;
use flightdeck::keymap::{Command, RolloutKey};
use support::cockpit::Cockpit;
use support::fake_rollouts::{self, Deployment, FakeRollouts};

const LIMIT: Duration = Duration::from_secs(10);
/// Nothing is configured: no NGINX canary, no Kubernetes; the policy's defaults.
const CONFIG: &str = "";

fn cockpit() -> (Cockpit, Arc<FakeRollouts>) {
    let fake = Arc::new(FakeRollouts::new());
    let c = Cockpit::with_all_providers(CONFIG, 160, 45, |_| Vec::new(), vec![fake.clone()]);
    (c, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_provider_is_listed_opened_and_acted_on_like_the_others() {
    let (mut c, fake) = cockpit();
    let payments = fake_rollouts::reference("payments");
    c.press("6");
    c.until("its rows", LIMIT, |s| s.release(&payments).is_some()).await;
    let text = c.screen();
    let row = text.lines().find(|l| l.contains("prod/payments")).unwrap_or_else(|| panic!("listed:\n{text}"));
    assert!(row.contains("ecs") && row.contains("1.9 → 2.0") && row.contains("10 %") && row.contains("1/3"), "{row}");
    assert!(text.contains("Releases (1)"), "it waits for a human, and the tab counts it:\n{text}");

    // In full: its steps, revisions, timeline and what its backend forbids, greyed with the reason.
    c.press("<enter>");
    assert_eq!(c.state.screen, Screen::Release);
    c.until("its detail", LIMIT, |s| s.releases.detail.as_ref().is_some_and(|d| d.loaded)).await;
    let text = c.screen();
    for part in ["Release · prod/payments · ECS · prod", "task definition payments:1.9", "deployment d-123 created", "✗ promote-full — IAM"]
    {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    let why = flightdeck::app::selectors::preview(&c.state, Command::Rollout(RolloutKey::PromoteFull)).unwrap_err();
    assert!(why.contains("codedeploy:ContinueDeployment"), "{why}");
    c.press("P");
    assert!(c.state.overlay.is_none(), "a forbidden action opens no dialog");

    // Promote: the provider's own plan in the dialog, then its execute, journaled.
    c.press("p");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("promote asks first:\n{}", c.screen()) };
    assert!(d.lines.iter().any(|l| l.contains("ECS: shift traffic 10 % → 50 %")), "{:?}", d.lines);
    assert!(d.lines.iter().any(|l| l.contains("No pipeline run is linked to `prod/payments`")), "{:?}", d.lines);
    c.press("y");
    c.until("the promotion", LIMIT, |s| s.in_flight.is_empty()).await;
    c.until("the new step on screen", LIMIT, |s| s.release(&payments).is_some_and(|r| r.step == Some((2, 3)))).await;
    assert_eq!(fake.calls(), vec!["promote ecs:prod/payments by alice@ops"]);
    let journal = std::fs::read_to_string(c.dir.path().join("data/audit.jsonl")).unwrap();
    assert!(journal.contains("\"action\":\"rollout.promote\"") && journal.contains("\"ref\":\"ecs:prod/payments\""), "{journal}");

    // Someone else moves it while the dialog is open: the action is refused with what changed.
    c.press("p");
    assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))));
    let mut moved = fake.deployment("payments");
    moved.revision = 8;
    fake.put("payments", moved);
    c.until("the change on screen", LIMIT, |s| s.release(&payments).is_some_and(|r| r.seen.revision == "8")).await;
    c.press("y");
    c.until("the refusal", LIMIT, |s| s.in_flight.is_empty()).await;
    c.pump(Duration::from_millis(200)).await;
    assert_eq!(fake.calls().len(), 1, "nothing more reached the provider: {:?}", fake.calls());
    assert!(
        c.state.toasts.iter().any(|t| t.text.contains("moved on since you looked (a new revision was applied)")),
        "{:?}",
        c.state.toasts
    );

    // Undo asks which revision, from the provider's own list (read again since it moved).
    c.until("its revisions read again", LIMIT, |s| s.releases.detail.as_ref().is_some_and(|d| d.revisions[0].number == 8)).await;
    c.press("U");
    assert_eq!(c.state.releases.picker, Some(1));
    c.press("<enter>");
    let Some(Overlay::Confirm(d)) = &c.state.overlay else { panic!("undo asks first:\n{}", c.screen()) };
    assert!(d.lines.iter().any(|l| l.contains("redeploy task definition revision 7")), "{:?}", d.lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_on_what_the_user_no_longer_sees_is_refused_before_the_provider() {
    let (mut c, fake) = cockpit();
    let payments = fake_rollouts::reference("payments");
    c.press("6");
    c.until("its rows, and what may be done there", LIMIT, |s| {
        s.release(&payments).is_some_and(|r| s.detail_of(r).is_some_and(|d| d.loaded))
    })
    .await;
    c.press("p");
    assert!(matches!(c.state.overlay, Some(Overlay::Confirm(_))));
    // It finished by itself meanwhile: promote makes no sense any more, and nothing is sent.
    fake.put("payments", Deployment { health: Health::Healthy, ..fake.deployment("payments") });
    c.until("the change on screen", LIMIT, |s| s.release(&payments).is_some_and(|r| r.health == Health::Healthy)).await;
    c.press("y");
    c.pump(Duration::from_millis(200)).await;
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(c.state.toasts.iter().any(|t| t.text.contains("moved on since you looked (Paused → Healthy)")), "{:?}", c.state.toasts);
}

#[tokio::test]
async fn the_registry_routes_and_resolves_references_of_every_provider() {
    let fake = Arc::new(FakeRollouts::new());
    let argo = Arc::new(flightdeck::argo::ArgoProvider::new(Default::default()));
    let registry = Registry::new(vec![fake.clone(), argo]);
    // A full reference goes to its provider.
    let r = registry.get("ecs:prod/payments".parse().unwrap()).await.unwrap();
    assert_eq!((r.reference.text(), r.kind.as_str()), ("ecs:prod/payments".to_string(), "ECS blue/green"));
    // A provider nobody configured is named, with the ones that are.
    let err = registry.get("gcd:proj/app".parse().unwrap()).await.unwrap_err();
    assert!(matches!(&err, DeliveryError::UnknownProvider { provider, known } if provider == "gcd" && known == "ecs, argo"), "{err}");
    // Lists merge, what needs a human first.
    let all = registry.list().await;
    assert!(all.is_err() || all.unwrap().iter().any(|r| r.reference == fake_rollouts::reference("payments")));
    assert_eq!(registry.names(), vec!["ecs".to_string(), "argo".to_string()]);
    let short: RolloutRef = "shop/web".parse().unwrap();
    assert_eq!(registry.resolve(short).unwrap().provider, "argo");
}
