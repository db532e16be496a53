//! Notifications under what users do to them: a flood of failures, receivers that rate-limit,
//! fail, hang or are down for a while, and kill -9 of the supervisor during deliveries.

mod support;

use std::time::Duration;

use support::cli_env::Env;
use support::notify_env::*;
use support::receivers::{Answer, Kind, Receiver};

#[test]
fn a_flood_of_failures_is_grouped_and_memory_stays_bounded() {
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"2s\"\nevents = [\"run.*\"]")));
    // The notifier starts reading the journal from where it is when it first starts.
    let (code, _, err) = run(&e, &["run", "bad", "--follow"]);
    assert_eq!(code, 1, "{err}");
    journal_failures(&e, 1000, Some("staging"));
    poke(&e);
    let got = r.wait_accepted(2, Duration::from_secs(60));
    let total: u64 = got.iter().map(|g| g.body["count"].as_u64().unwrap_or(0)).sum::<u64>();
    // Give the rest a moment to arrive, if anything was split.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut messages = r.accepted();
    while messages.iter().map(|g| g.body["count"].as_u64().unwrap_or(0)).sum::<u64>() < 1001 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        messages = r.accepted();
    }
    let counted: u64 = messages.iter().map(|g| g.body["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(counted, 1001, "every failure is told, once ({total} in the first two)");
    assert!(messages.len() <= 4, "1,001 failures in a few messages, not one each: {} messages", messages.len());
    let grouped = messages.iter().find(|m| m.body["count"].as_u64() > Some(100)).expect("a grouped message");
    let text = grouped.body["text"].as_str().unwrap();
    assert!(text.contains("runs failed in staging") && text.contains("and ") && text.lines().count() <= 23, "{text}");
    let peak = supervisor_peak_kb(&e).unwrap_or(0);
    eprintln!("supervisor peak memory with 1,000 notices: {peak} kB in {} messages", messages.len());
    assert!(peak < 96 * 1024, "the supervisor's memory stays bounded: {peak} kB");
    assert!(r.violations().is_empty(), "{:?}", r.violations());
}

#[test]
fn a_receiver_that_rate_limits_fails_or_hangs_gets_it_later_with_the_same_key() {
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    r.script(&[Answer::Status(429, Some(1)), Answer::Status(500, None), Answer::Hang, Answer::Status(503, None)]);
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"")));
    let (code, _, err) = run(&e, &["run", "bad", "--follow"]);
    assert_eq!(code, 1, "{err}");
    let got = r.wait_accepted(1, Duration::from_secs(60));
    assert_eq!(got[0].body["event"], "run.failed");
    let all = r.received();
    assert_eq!(all.len(), 5, "four refusals, then delivered: {:?}", all.iter().map(|x| x.accepted).collect::<Vec<_>>());
    let keys: std::collections::BTreeSet<&String> = all.iter().map(|x| &x.headers["x-flightdeck-delivery"]).collect();
    assert_eq!(keys.len(), 1, "every attempt carries the same key: {keys:?}");
    let (code, out, _) = run(&e, &["notify", "outbox", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([]), "nothing left: {out}");
}

#[test]
fn a_receiver_down_for_a_while_gets_everything_afterwards_in_order_per_rollout() {
    let outage = Duration::from_secs(std::env::var("FD_NOTIFY_OUTAGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20));
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"")));
    journal_rollout_action(&e, "before", "rollout.pause", 0);
    poke(&e);
    r.wait_accepted(1, Duration::from_secs(30));
    r.set_down(true);
    for n in 1..=30 {
        journal_rollout_action(&e, ["web", "api", "worker"][n % 3], ["rollout.pause", "rollout.promote", "rollout.abort"][n % 3], n);
    }
    poke(&e);
    let started = std::time::Instant::now();
    support::supervision::wait_until(Duration::from_secs(30), "the first attempts refused", || r.received().len() > 1);
    std::thread::sleep(outage.saturating_sub(started.elapsed()));
    r.set_down(false);
    let back = std::time::Instant::now();
    let got = r.wait_accepted(31, outage + Duration::from_secs(120));
    eprintln!("down {}s: everything arrived {:.1}s after it was back", outage.as_secs(), back.elapsed().as_secs_f64());
    let order = order_per_rollout(&got[1..]);
    for (rollout, seen) in &order {
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, &sorted, "{rollout}'s notices in the order they happened");
        assert_eq!(seen.len(), 10, "{rollout}: {seen:?}");
    }
    assert_eq!(order.len(), 3);
    assert!(r.violations().is_empty(), "{:?}", r.violations());
}

#[test]
fn kill_9_of_the_supervisor_during_deliveries_loses_nothing_and_repeats_carry_the_same_key() {
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"")));
    let data = e.dir.path().join("data");
    journal_rollout_action(&e, "before", "rollout.pause", 0);
    poke(&e);
    r.wait_accepted(1, Duration::from_secs(30));
    for n in 1..=60 {
        journal_rollout_action(&e, ["web", "api", "worker"][n % 3], "rollout.promote", n);
    }
    // The first delivery hangs, so a kill lands while a request is in flight; then kills at
    // moments spread over the rest.
    r.script(&[Answer::Hang]);
    let mut kills = 0;
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("seed {seed}");
    for _ in 0..12 {
        poke(&e);
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(30 + (seed >> 33) % 150));
        if let Some(pid) = support::supervision::supervisor_pid(&data) {
            // SAFETY: SIGKILL to the supervisor of this test's own data directory.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            kills += 1;
            support::supervision::wait_until(Duration::from_secs(20), "the killed supervisor gone", || {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
            });
        }
    }
    poke(&e);
    // Repeats (sent again after a kill) are not new notices: wait for all 61 different ones.
    let got = r.wait_distinct(61, Duration::from_secs(120));
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for g in &got {
        *seen.entry(g.body["title"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(seen.len(), 61, "every notice arrived");
    // A repeat is the same delivery again: the same key, which receivers use to drop it.
    let mut keys: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for g in r.received() {
        keys.entry(g.body["title"].as_str().unwrap().to_string()).or_default().insert(g.headers["x-flightdeck-delivery"].clone());
    }
    assert!(keys.values().all(|k| k.len() == 1), "one key per notice, however often sent: {keys:?}");
    let repeats = got.len() - seen.len();
    eprintln!("{kills} kills during delivery: 61 notices, {repeats} delivered twice (same key)");
    assert!(kills >= 6, "{kills}");
    assert!(r.violations().is_empty(), "{:?}", r.violations());
}
