use serde_json::json;

use super::*;

fn at(text: &str) -> jiff::Timestamp {
    text.parse().unwrap()
}

fn app(name: &str, namespace: &str, server: &str) -> App {
    App::from_json(json!({"metadata": {"name": name}, "spec": {"destination": {"namespace": namespace, "server": server}}})).unwrap()
}

fn window(v: serde_json::Value) -> SyncWindow {
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_window_is_active_within_its_duration_after_a_start() {
    let w = window(json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "applications": ["*"]}));
    assert!(!w.active(at("2026-11-29T21:59:00Z")).unwrap());
    assert!(w.active(at("2026-11-29T22:00:00Z")).unwrap());
    assert!(w.active(at("2026-11-29T22:59:30Z")).unwrap());
    assert!(!w.active(at("2026-11-29T23:00:00Z")).unwrap(), "a start exactly a duration ago has ended");
    // Across midnight, in a time zone.
    let w =
        window(json!({"kind": "deny", "schedule": "30 23 * * fri", "duration": "2h", "timeZone": "Europe/Berlin", "applications": ["*"]}));
    assert!(w.active(at("2026-11-27T23:00:00Z")).unwrap(), "Friday 23:30 in Berlin is 22:30 UTC; an hour later it is on");
    assert!(!w.active(at("2026-11-28T00:31:00Z")).unwrap());
}

#[test]
fn cron_fields_lists_ranges_steps_names_and_the_day_rule() {
    let c = Cron::parse("*/15 9-17 * jan,jul mon-fri").unwrap();
    let z = |t: &str| at(t).to_zoned(jiff::tz::TimeZone::UTC);
    assert!(c.matches(&z("2026-01-05T09:45:00Z")), "a Monday in January");
    assert!(!c.matches(&z("2026-01-04T09:45:00Z")), "a Sunday");
    assert!(!c.matches(&z("2026-01-05T09:44:00Z")));
    assert!(!c.matches(&z("2026-02-02T09:45:00Z")), "February");
    // Both day fields given: either one matches (1st of the month, or a Sunday).
    let c = Cron::parse("0 0 1 * 0").unwrap();
    assert!(c.matches(&z("2026-11-01T00:00:00Z")) && c.matches(&z("2026-11-29T00:00:00Z")));
    assert!(!c.matches(&z("2026-11-30T00:00:00Z")));
    assert!(Cron::parse("0 22 * *").is_err());
    assert!(Cron::parse("61 * * * *").is_err());
    assert!(Cron::parse("@daily").is_err(), "descriptors are not what Argo CD parses");
    assert_eq!(go_duration_minutes("1h30m").unwrap(), 90);
    assert!(go_duration_minutes("soon").is_err());
}

#[test]
fn windows_match_by_name_cluster_or_namespace_and_all_of_them_with_and() {
    let a = app("checkout-prod", "prod", "https://kubernetes.default.svc");
    assert!(window(json!({"applications": ["checkout-*"]})).matches(&a));
    assert!(window(json!({"namespaces": ["pro?"]})).matches(&a));
    assert!(window(json!({"clusters": ["https://kubernetes.default.svc"]})).matches(&a));
    assert!(!window(json!({"applications": ["web-*"]})).matches(&a));
    assert!(window(json!({"applications": ["web-*"], "namespaces": ["prod"]})).matches(&a), "or, by default");
    assert!(!window(json!({"applications": ["web-*"], "namespaces": ["prod"], "andOperator": true})).matches(&a));
    assert!(window(json!({"applications": ["checkout-*"], "namespaces": ["prod"], "andOperator": true})).matches(&a));
    assert!(!window(json!({})).matches(&a), "a window naming nothing applies to nothing");
}

#[test]
fn a_manual_sync_under_deny_and_allow_windows() {
    let a = app("checkout", "prod", "https://kubernetes.default.svc");
    let now = at("2026-11-29T22:30:00Z");
    let deny = json!({"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "namespaces": ["prod"]});
    let why = can_sync_manually(&[window(deny.clone())], &a, now).unwrap_err();
    assert_eq!(why, "cannot sync: blocked by sync window (deny `0 22 * * *` for 1h (UTC))");
    let mut manual = deny.clone();
    manual["manualSync"] = json!(true);
    assert!(can_sync_manually(&[window(manual)], &a, now).unwrap().is_some(), "the window lets manual syncs through, and says so");
    assert!(can_sync_manually(&[window(deny)], &a, at("2026-11-29T12:00:00Z")).is_ok(), "outside it");
    // An allow window that is not active blocks; one that is, lets through (and beats no deny).
    let allow = window(json!({"kind": "allow", "schedule": "0 9 * * mon-fri", "duration": "8h", "namespaces": ["prod"]}));
    assert!(can_sync_manually(std::slice::from_ref(&allow), &a, at("2026-11-30T10:00:00Z")).is_ok(), "Monday 10:00");
    let why = can_sync_manually(&[allow], &a, now).unwrap_err();
    assert!(why.contains("outside allow"), "{why}");
    // Windows of other apps do not apply.
    let other = window(json!({"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["web"]}));
    assert!(can_sync_manually(&[other], &a, now).is_ok());
    let broken = window(json!({"kind": "deny", "schedule": "every day", "duration": "1h", "applications": ["*"]}));
    assert!(can_sync_manually(&[broken], &a, now).unwrap_err().contains("invalid sync window"));
}

/// Argo CD's own cases for a manual sync (`TestSyncWindows_CanSync` with `isManual`, in
/// pkg/apis/application/v1alpha1/types_test.go): each project's windows as (kind, active,
/// manualSync), and whether Argo CD lets the manual sync go.
#[test]
fn the_manual_sync_verdict_agrees_with_argo_cds_own_cases() {
    type Case = (&'static str, &'static [(&'static str, bool, bool)], bool);
    const CASES: &[Case] = &[
        ("inactive deny, manual", &[("deny", false, true)], true),
        ("inactive deny, not manual", &[("deny", false, false)], true),
        ("two inactive allows, one not manual", &[("allow", false, true), ("allow", false, false)], false),
        ("active allow, manual", &[("allow", true, true)], true),
        ("active allow, not manual", &[("allow", true, false)], true),
        ("active allow and inactive deny", &[("allow", true, false), ("deny", false, false)], true),
        ("inactive allow", &[("allow", false, false)], false),
        ("inactive allow, manual", &[("allow", false, true)], true),
        ("inactive allow and inactive deny", &[("allow", false, false), ("deny", false, false)], false),
        ("active deny", &[("deny", true, false)], false),
        ("active deny, manual", &[("deny", true, true)], true),
        (
            "many active denies, one not manual",
            &[("deny", true, true), ("deny", true, true), ("deny", true, true), ("deny", true, false)],
            false,
        ),
        ("active deny and active allow, not manual", &[("allow", true, false), ("deny", true, false)], false),
        ("active deny manual and active allow", &[("allow", true, false), ("deny", true, true)], true),
        ("no windows", &[], true),
    ];
    for (name, windows, allowed) in CASES {
        let owned: Vec<(SyncWindow, bool)> = windows
            .iter()
            .map(|(kind, active, manual)| {
                (
                    SyncWindow {
                        kind: kind.to_string(),
                        schedule: "* * * * *".into(),
                        duration: "1h".into(),
                        manual_sync: *manual,
                        ..Default::default()
                    },
                    *active,
                )
            })
            .collect();
        let judged: Vec<(&SyncWindow, bool)> = owned.iter().map(|(w, a)| (w, *a)).collect();
        assert_eq!(judge_manual(&judged).is_ok(), *allowed, "{name}");
    }
    // Allowed only by a window's exception: the key says so.
    let deny =
        SyncWindow { kind: "deny".into(), schedule: "0 22 * * *".into(), duration: "8h".into(), manual_sync: true, ..Default::default() };
    assert_eq!(
        judge_manual(&[(&deny, true)]),
        Ok(Some("a manual sync only: deny window deny `0 22 * * *` for 8h (UTC) lets manual syncs".into()))
    );
}

/// Argo CD's `TestSyncWindow_Active` table: `* 10 * * *` for 2h is on at 11:00 and off at 13:00,
/// whether the time is given in UTC or as the same instant four hours behind.
#[test]
fn active_agrees_with_argo_cds_own_table() {
    for kind in ["allow", "deny"] {
        let w = window(json!({"kind": kind, "schedule": "* 10 * * *", "duration": "2h"}));
        for (time, on) in [
            ("2026-11-29T11:00:00Z", true),
            ("2026-11-29T13:00:00Z", false),
            ("2026-11-29T07:00:00-04:00", true),
            ("2026-11-29T09:00:00-04:00", false),
        ] {
            assert_eq!(w.active(at(time)).unwrap(), on, "{kind} at {time}");
        }
    }
}
