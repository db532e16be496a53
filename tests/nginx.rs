//! The NGINX canary against a real NGINX: the traffic split measured through the proxy matches
//! every step, a split NGINX rejects leaves the old file and the old split, abort sends everything
//! back to stable, a restarted controller reconciles with the include file, concurrent actions are
//! serialised, and stale actions are refused.

mod support;

use std::collections::BTreeMap;

use flightdeck::delivery::{RolloutAction, Seen};
use flightdeck::rollout::{Controller, OnFailure, Phase, Record, RolloutError, RolloutSpec, Step};
use support::nginx::{Nginx, read};

fn controller(n: &Nginx, steps: Vec<Step>, data: &std::path::Path) -> Controller {
    let spec = RolloutSpec {
        name: "web".into(),
        environment: None,
        service: None,
        steps,
        on_failure: OnFailure::Abort,
        background_analysis: false,
        nginx: n.spec(),
    };
    Controller::new(BTreeMap::from([("web".to_string(), spec)]), data, BTreeMap::new(), None)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_measured_split_follows_every_step() {
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    assert_eq!(n.split(20), (20, 0), "before: everything on stable");
    let steps =
        vec![Step::SetWeight(10), Step::Pause(None), Step::SetWeight(50), Step::Pause(None), Step::SetWeight(90), Step::Pause(None)];
    let c = controller(&n, steps, data.path());
    let rec = c.start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    assert_eq!((rec.phase, rec.step, rec.weight), (Phase::Paused, 1, 10));
    assert_eq!((rec.stable_version.as_deref(), rec.version.as_deref()), (Some("1.0.0"), Some("2.0.0")));
    assert_eq!(n.split(100), (90, 10));
    assert!(read(&n.include).contains("weight="), "{}", read(&n.include));

    let rec = c.act("web", &RolloutAction::Promote, Some(&seen_of(&c, &rec)), "alice").await.unwrap();
    assert_eq!((rec.phase, rec.step, rec.weight), (Phase::Paused, 3, 50));
    assert_eq!(n.split(100), (50, 50));
    let rec = c.act("web", &RolloutAction::Promote, Some(&seen_of(&c, &rec)), "alice").await.unwrap();
    assert_eq!(n.split(100), (10, 90));
    // The last promote runs off the end of the steps: fully promoted.
    let rec = c.act("web", &RolloutAction::Promote, Some(&seen_of(&c, &rec)), "alice").await.unwrap();
    assert_eq!((rec.phase, rec.weight), (Phase::Healthy, 100));
    assert_eq!(n.split(20), (0, 20));
    assert!(read(&n.include).contains(&format!("server {} down;", n.stable)), "0 % is `down`: {}", read(&n.include));
    // Undo: the stable servers get everything back; a second undo has nothing to do and sends nothing.
    let rec = c.act("web", &RolloutAction::Undo { to_revision: None }, Some(&seen_of(&c, &rec)), "alice").await.unwrap();
    assert_eq!((rec.phase, rec.weight), (Phase::Healthy, 0));
    assert_eq!(n.split(20), (20, 0));
    let before = std::fs::metadata(&n.include).unwrap().modified().unwrap();
    let err = c.act("web", &RolloutAction::Undo { to_revision: None }, None, "alice").await.unwrap_err();
    assert!(err.to_string().contains("nothing to undo"), "{err}");
    assert_eq!(std::fs::metadata(&n.include).unwrap().modified().unwrap(), before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_nginx_rejects_leaves_the_old_file_and_the_old_split() {
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    let mut spec = n.spec();
    // A canary address NGINX refuses (`nginx -t` fails on the port).
    spec.canary = vec!["127.0.0.1:70000".into()];
    let before = read(&n.include);
    let rs = RolloutSpec {
        name: "web".into(),
        environment: None,
        service: None,
        steps: vec![Step::SetWeight(50), Step::Pause(None)],
        on_failure: OnFailure::Abort,
        background_analysis: false,
        nginx: spec,
    };
    let c = Controller::new(BTreeMap::from([("web".to_string(), rs)]), data.path(), BTreeMap::new(), None);
    let rec = c.start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    assert_eq!(rec.phase, Phase::Degraded, "{rec:?}");
    let cause = rec.cause.unwrap();
    assert!(cause.contains("NGINX rejected") && cause.contains("previous upstream file is back"), "{cause}");
    assert_eq!(read(&n.include), before, "the old include file is back, byte for byte");
    assert_eq!(n.split(20), (20, 0), "and NGINX still runs the old split");
    assert!(!n.include.with_file_name(".upstream.conf.flightdeck-tmp").exists(), "no temporary file is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn abort_sends_everything_back_to_stable_and_retry_starts_over() {
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    let c = controller(&n, vec![Step::SetWeight(50), Step::Pause(None), Step::SetWeight(100)], data.path());
    let rec = c.start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    assert_eq!(n.split(10), (5, 5));
    let rec = c.act("web", &RolloutAction::Abort, Some(&seen_of(&c, &rec)), "alice").await.unwrap();
    assert_eq!((rec.phase, rec.weight), (Phase::Aborted, 0));
    assert_eq!(rec.cause.as_deref(), Some("aborted by alice"));
    assert_eq!(n.split(20), (20, 0));
    let err = c.act("web", &RolloutAction::Promote, None, "alice").await.unwrap_err();
    assert!(err.to_string().contains("retry it first"), "{err}");
    let rec = c.act("web", &RolloutAction::Retry, None, "alice").await.unwrap();
    assert_eq!((rec.phase, rec.step, rec.weight), (Phase::Paused, 1, 50));
    assert_eq!(n.split(10), (5, 5));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_controller_reconciles_with_the_include_file() {
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    let steps = vec![Step::SetWeight(50), Step::Pause(None), Step::SetWeight(100)];
    let rec = controller(&n, steps.clone(), data.path()).start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    assert_eq!(rec.weight, 50);
    // The cockpit restarts: the record is read back as it was.
    let c = controller(&n, steps.clone(), data.path());
    let again = c.get("web").await.unwrap();
    assert_eq!((again.phase, again.step, again.weight, again.revision), (Phase::Paused, 1, 50, 1));
    // Someone changed the include file by hand while nobody watched: the file is the truth.
    std::fs::write(&n.include, flightdeck::rollout::nginx::render(&n.spec(), 20, "by hand")).unwrap();
    let rec = c.tick("web").await.unwrap();
    assert_eq!((rec.phase, rec.weight), (Phase::Paused, 20));
    assert!(rec.pause.unwrap().reason.contains("include file says canary 20 %"));
    assert!(rec.history.iter().any(|h| h.event.contains("reconciled")));
    // Without a record at all, the split is read from the file.
    let fresh = tempfile::tempdir().unwrap();
    let rec = controller(&n, steps, fresh.path()).get("web").await.unwrap();
    assert_eq!((rec.phase, rec.weight), (Phase::Healthy, 20));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_actions_are_serialised_and_a_double_promote_moves_one_step() {
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    let steps =
        vec![Step::SetWeight(10), Step::Pause(None), Step::SetWeight(30), Step::Pause(None), Step::SetWeight(60), Step::Pause(None)];
    let c = controller(&n, steps.clone(), data.path());
    let rec = c.start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    let seen = seen_of(&c, &rec);
    // Two people (two controllers, as two processes would be) press promote on what they both saw.
    let other = controller(&n, steps, data.path());
    let (a, b) = tokio::join!(
        c.act("web", &RolloutAction::Promote, Some(&seen), "alice"),
        other.act("web", &RolloutAction::Promote, Some(&seen), "bob")
    );
    let (ok, refused): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(|r| r.is_ok());
    assert_eq!(ok.len(), 1, "exactly one promote applies");
    let Err(RolloutError::Refused(why)) = &refused[0] else { panic!("{:?}", refused[0]) };
    assert!(why.contains("moved on since you looked"), "{why}");
    let rec = c.get("web").await.unwrap();
    assert_eq!((rec.step, rec.weight), (3, 30), "one step, not two");
    assert_eq!(n.split(10), (7, 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn timed_pauses_end_by_themselves_and_resume_does_not_skip_a_step_pause() {
    let n = Nginx::start(None);
    let data = tempfile::tempdir().unwrap();
    let steps = vec![Step::SetWeight(20), Step::Pause(Some(std::time::Duration::from_secs(1))), Step::SetWeight(40), Step::Pause(None)];
    let c = controller(&n, steps, data.path());
    let rec = c.start("web", "2.0.0", Some("1.0.0"), None, "alice").await.unwrap();
    assert_eq!((rec.phase, rec.weight), (Phase::Paused, 20));
    assert!(rec.pause.as_ref().unwrap().until.is_some(), "a countdown");
    let err = c.act("web", &RolloutAction::Resume, None, "alice").await.unwrap_err();
    assert!(err.to_string().contains("not by a person"), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rec = c.tick("web").await.unwrap();
    assert_eq!((rec.phase, rec.step, rec.weight), (Phase::Paused, 3, 40));
    // Already paused: pause is refused; promote goes on past the indefinite pause to the end.
    assert!(c.act("web", &RolloutAction::Pause, None, "alice").await.is_err());
    let rec = c.act("web", &RolloutAction::Promote, None, "alice").await.unwrap();
    assert_eq!((rec.phase, rec.weight), (Phase::Healthy, 100));
}

/// What a person sees of the rollout now.
fn seen_of(c: &Controller, rec: &Record) -> Seen {
    flightdeck::rollout::controller::seen(rec, c.spec(&rec.name).unwrap())
}
