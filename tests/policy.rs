//! Policy, table-driven: tiers, read-only, approvers and groups, four-eyes, freeze windows across
//! time zones and DST, break-glass.

use std::path::Path;

use flightdeck::config::Config;
use flightdeck::policy::{ActionKind, Policy, Request, Tier, Verdict};
use jiff::Timestamp;

fn policy(text: &str) -> Policy {
    Config::parse(text, Some(Path::new("p.toml")), None).unwrap_or_else(|e| panic!("{e}")).policy
}

const CONFIG: &str = r#"
[groups]
release-managers = ["carol", "dave"]

[environments.dev]

[environments.staging]
approvers = ["alice", "group:release-managers"]
[environments.staging.confirm]
trigger = "none"
approve = "typed"

[environments.prod]
production = true
approvers = ["group:release-managers"]
[[environments.prod.freeze]]
reason = "weekend freeze"
timezone = "Europe/Berlin"
days = ["fri"]
from = "16:00"
to = "08:00"
[[environments.prod.freeze]]
reason = "holiday freeze"
timezone = "America/New_York"
start = "2026-12-24"
end = "2026-12-26"

[environments.archive]
read_only = true

[environments.locked]
production = true
break_glass = false
[[environments.locked.freeze]]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"#;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A Wednesday noon in UTC: no freeze anywhere.
const QUIET: &str = "2026-11-18T12:00:00Z";

struct Case {
    name: &'static str,
    kind: ActionKind,
    envs: &'static [&'static str],
    actor: &'static str,
    triggered_by: Option<&'static str>,
    now: &'static str,
    break_glass: bool,
    expect: Result<Tier, &'static str>,
}

fn run(p: &Policy, c: &Case) -> Verdict {
    let clean = flightdeck::findings::Evidence::default();
    let started_by: Vec<String> = c.triggered_by.iter().map(|s| s.to_string()).collect();
    p.evaluate(&Request {
        security: Some(&clean),
        kind: c.kind,
        environments: c.envs.iter().map(|s| s.to_string()).collect(),
        actor: c.actor,
        run_triggered_by: &started_by,
        now: at(c.now),
        break_glass: c.break_glass,
    })
}

#[test]
fn the_rule_table() {
    use ActionKind::*;
    let p = policy(CONFIG);
    let cases = [
        Case {
            name: "no environment: yes/no",
            kind: Cancel,
            envs: &[],
            actor: "alice",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::YesNo),
        },
        Case {
            name: "dev approve: dialog",
            kind: Approve,
            envs: &["dev"],
            actor: "alice",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Dialog),
        },
        Case {
            name: "staging trigger configured none",
            kind: Trigger,
            envs: &["staging"],
            actor: "x",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::None),
        },
        Case {
            name: "staging approve configured typed",
            kind: Approve,
            envs: &["staging"],
            actor: "alice",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "approver by group",
            kind: Approve,
            envs: &["staging"],
            actor: "carol@laptop",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "not an approver",
            kind: Approve,
            envs: &["staging"],
            actor: "mallory",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Err("approvers"),
        },
        Case {
            name: "prod approve typed",
            kind: Approve,
            envs: &["prod"],
            actor: "dave",
            triggered_by: Some("carol"),
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "four-eyes on prod",
            kind: Approve,
            envs: &["prod"],
            actor: "carol@bastion",
            triggered_by: Some("carol@laptop"),
            now: QUIET,
            break_glass: false,
            expect: Err("four_eyes"),
        },
        Case {
            name: "four-eyes is not fooled by the case of a name",
            kind: Approve,
            envs: &["prod"],
            actor: "carol@bastion",
            triggered_by: Some("CAROL@laptop"),
            now: QUIET,
            break_glass: false,
            expect: Err("four_eyes"),
        },
        Case {
            name: "rejecting your own run is fine",
            kind: Reject,
            envs: &["prod"],
            actor: "carol",
            triggered_by: Some("carol"),
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "four-eyes off outside prod",
            kind: Approve,
            envs: &["staging"],
            actor: "alice",
            triggered_by: Some("alice"),
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "prod cancel typed",
            kind: Cancel,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "most restrictive of several",
            kind: Trigger,
            envs: &["staging", "prod"],
            actor: "x",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Ok(Tier::Dialog),
        },
        Case {
            name: "read-only environment",
            kind: Retry,
            envs: &["archive"],
            actor: "x",
            triggered_by: None,
            now: QUIET,
            break_glass: false,
            expect: Err("read_only"),
        },
        // Friday 2026-11-20 17:00 in Berlin (CET, UTC+1) = 16:00Z: frozen.
        Case {
            name: "weekly freeze in winter",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-11-20T16:00:00Z",
            break_glass: false,
            expect: Err("freeze"),
        },
        // 15:30Z is 16:30 Berlin in winter (frozen) …
        Case {
            name: "winter offset",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-11-20T15:30:00Z",
            break_glass: false,
            expect: Err("freeze"),
        },
        // … but 15:30 Berlin in summer (CEST, UTC+2) on 2026-07-03: not yet frozen.
        Case {
            name: "summer offset (DST)",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-07-03T13:30:00Z",
            break_glass: false,
            expect: Ok(Tier::Dialog),
        },
        Case {
            name: "summer, inside",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-07-03T14:30:00Z",
            break_glass: false,
            expect: Err("freeze"),
        },
        // Past midnight: Saturday 07:00 Berlin still belongs to Friday's window; 09:00 does not.
        Case {
            name: "window runs past midnight",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-11-21T06:00:00Z",
            break_glass: false,
            expect: Err("freeze"),
        },
        Case {
            name: "after the window",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-11-21T08:30:00Z",
            break_glass: false,
            expect: Ok(Tier::Dialog),
        },
        // DST change night in Europe (2026-10-25): Saturday early morning is not a Friday window day+1? It is Sunday.
        Case {
            name: "DST night is not frozen",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-10-25T01:30:00Z",
            break_glass: false,
            expect: Ok(Tier::Dialog),
        },
        // Holiday freeze in New York: 2026-12-26 23:00 local = 2026-12-27T04:00Z (EST, UTC-5): still frozen.
        Case {
            name: "period, end of last day",
            kind: Cancel,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-12-27T04:00:00Z",
            break_glass: false,
            expect: Err("freeze"),
        },
        Case {
            name: "period, after",
            kind: Cancel,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-12-27T05:30:00Z",
            break_glass: false,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "break-glass overrides, typed",
            kind: Trigger,
            envs: &["prod"],
            actor: "x",
            triggered_by: None,
            now: "2026-11-20T16:00:00Z",
            break_glass: true,
            expect: Ok(Tier::Typed),
        },
        Case {
            name: "break-glass not allowed",
            kind: Trigger,
            envs: &["locked"],
            actor: "x",
            triggered_by: None,
            now: QUIET,
            break_glass: true,
            expect: Err("freeze"),
        },
        Case {
            name: "break-glass does not beat four-eyes",
            kind: Approve,
            envs: &["prod"],
            actor: "carol",
            triggered_by: Some("carol"),
            now: "2026-11-20T16:00:00Z",
            break_glass: true,
            expect: Err("four_eyes"),
        },
    ];
    for c in &cases {
        let v = run(&p, c);
        match (&c.expect, &v) {
            (Ok(t), Verdict::Allowed { tier, reason_required, .. }) => {
                assert_eq!(tier, t, "{}: {v:?}", c.name);
                assert_eq!(*reason_required, *t == Tier::Typed, "{}", c.name);
            }
            (Err(rule), Verdict::Refused { rule: got, message, .. }) => {
                assert!(got.ends_with(rule), "{}: refused by {got}, expected {rule}", c.name);
                assert!(!message.is_empty());
            }
            _ => panic!("{}: expected {:?}, got {v:?}", c.name, c.expect),
        }
    }
}

#[test]
fn break_glass_is_flagged_and_freeze_offers_it() {
    let p = policy(CONFIG);
    let base = Request {
        kind: ActionKind::Trigger,
        environments: vec!["prod".into()],
        actor: "x",
        run_triggered_by: &[],
        now: at("2026-11-20T16:00:00Z"),
        break_glass: false,
        security: None,
    };
    match p.evaluate(&base) {
        Verdict::Refused { break_glass_possible, message, .. } => {
            assert!(break_glass_possible);
            assert!(message.contains("weekend freeze") && message.contains("Europe/Berlin"), "{message}");
        }
        v => panic!("{v:?}"),
    }
    match p.evaluate(&Request { break_glass: true, ..base }) {
        Verdict::Allowed { break_glass_used, notes, .. } => {
            assert!(break_glass_used);
            assert!(notes.iter().any(|n| n.contains("BREAK-GLASS")));
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn global_read_only_refuses_everything() {
    let mut p = policy(CONFIG);
    p.read_only = true;
    for kind in ActionKind::ALL {
        let v = p.evaluate(&Request {
            kind,
            environments: vec![],
            actor: "x",
            run_triggered_by: &[],
            now: at(QUIET),
            break_glass: true,
            security: None,
        });
        assert!(matches!(v, Verdict::Refused { ref rule, .. } if rule == "--read-only"), "{kind:?}: {v:?}");
    }
}

#[test]
fn bad_policy_config_is_reported() {
    let text = r#"
[environments.prod]
approvers = ["group:no-such-team"]
[environments.prod.confirm]
launch = "typed"
approve = "twice"
[[environments.prod.freeze]]
timezone = "Mars/Olympus"
days = ["fri"]
[[environments.prod.freeze]]
days = ["funday"]
[[environments.prod.freeze]]
start = "2026-12-24"
"#;
    let err = Config::parse(text, Some(Path::new("p.toml")), None).unwrap_err().to_string();
    for needle in [
        "group `no-such-team` is neither declared under [groups] nor an operating-system group",
        "confirm.launch: unknown action",
        "`twice` is not a tier",
        "unknown time zone `Mars/Olympus`",
        "`funday` is not a weekday",
        "either `days`",
    ] {
        assert!(err.contains(needle), "missing {needle}: {err}");
    }
}

#[test]
fn the_security_gate_refuses_approvals_and_fails_closed() {
    use flightdeck::findings::{Evidence, parse_report};
    let text = "[environments.prod]\nproduction = true\n[environments.qa]\n[environments.qa.security]\nmax_severity = \"high\"\nbreak_glass = true\n";
    let p = Config::parse(text, None, None).unwrap().policy;
    let report = parse_report(
        br#"{"SchemaVersion": 2, "Results": [{"Target": "img", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "p", "InstalledVersion": "1", "Severity": "CRITICAL"}]}]}"#,
        "r.json",
    )
    .unwrap();
    let dirty = Evidence { findings: report.findings, ..Evidence::default() };
    let clean = Evidence::default();
    let started_by = vec!["b".to_string()];
    let ask = |env: &str, ev: Option<&Evidence>, bg: bool| {
        p.evaluate(&Request {
            kind: ActionKind::Approve,
            environments: vec![env.into()],
            actor: "a",
            run_triggered_by: &started_by,
            now: at(QUIET),
            break_glass: bg,
            security: ev,
        })
    };
    assert!(ask("prod", Some(&clean), false).is_allowed());
    assert!(
        matches!(ask("prod", Some(&dirty), false), Verdict::Refused { ref rule, break_glass_possible: false, .. } if rule == "environments.prod.security")
    );
    assert!(
        matches!(ask("prod", None, false), Verdict::Refused { ref message, .. } if message.contains("not been read")),
        "no evidence: fail closed"
    );
    assert!(matches!(ask("qa", Some(&dirty), false), Verdict::Refused { break_glass_possible: true, .. }));
    assert!(matches!(ask("qa", Some(&dirty), true), Verdict::Allowed { break_glass_used: true, tier: Tier::Typed, .. }));
    // Triggers are not judged by the gate.
    let trigger = p.evaluate(&Request {
        kind: ActionKind::Trigger,
        environments: vec!["prod".into()],
        actor: "a",
        run_triggered_by: &[],
        now: at(QUIET),
        break_glass: false,
        security: None,
    });
    assert!(trigger.is_allowed());
}

#[test]
fn whoever_retried_a_run_may_not_approve_it_either() {
    let p = policy(CONFIG);
    let clean = flightdeck::findings::Evidence::default();
    let started_by = vec!["carol".to_string(), "dave@ci".to_string()];
    let v = p.evaluate(&Request {
        security: Some(&clean),
        kind: ActionKind::Approve,
        environments: vec!["prod".into()],
        actor: "dave",
        run_triggered_by: &started_by,
        now: at(QUIET),
        break_glass: false,
    });
    assert!(matches!(&v, Verdict::Refused { rule, .. } if rule.ends_with("four_eyes")), "{v:?}");
}
