//! Notifications reach real receivers on loopback, in the formats the services document: a gate
//! waiting and decided, runs failing and cancelled, rollouts paged and resolved, e-mail over a real
//! SMTP server, SNS signed as AWS signs, routing, a broken freeze or journal, and hostile text.
//! (The drills are in `notify_drills.rs`.)

mod support;

use std::time::Duration;

use support::cli_env::Env;
use support::notify_env::*;
use support::receivers::{Kind, Receiver};

#[test]
fn a_waiting_gate_and_its_decision_reach_a_signed_webhook() {
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"\nevents = [\"gate.*\"]")));
    let (code, _, err) = run(&e, &["run", "release"]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(1, Duration::from_secs(30));
    let waiting = &got[0].body;
    assert_eq!(waiting["event"], "gate.waiting", "{waiting}");
    assert_eq!(waiting["environment"], "staging");
    let text = waiting["text"].as_str().unwrap();
    assert!(text.contains("gate `approve-staging` of run local:1 is waiting"), "{text}");
    assert!(text.contains("flightdeck approve local:1 approve-staging"), "says what to run: {text}");
    assert!(text.contains("release gate"), "carries the gate's verdict: {text}");
    let (code, _, err) = run(&e, &["approve", "1", "--confirm", "approve-staging", "--reason", &format!("release checked {HOSTILE}")]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(2, Duration::from_secs(30));
    let decided = &got[1].body;
    assert_eq!(decided["event"], "gate.decided", "{decided}");
    let said = decided.to_string();
    assert!(said.contains("approved by") && said.contains("release checked"), "{decided}");
    assert!(!said.contains("\\u001b") && !said.contains("\\u0007") && !said.contains('\u{202e}'), "sanitised: {said}");
    assert_ne!(got[0].headers["x-flightdeck-delivery"], got[1].headers["x-flightdeck-delivery"]);
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    // Nothing routed elsewhere arrives (the run's success is no event).
    e.wait_status(1, "success");
    let (code, out, _) = run(&e, &["notify", "outbox"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(r.received().len(), 2, "{:?}", r.received().iter().map(|x| x.body.clone()).collect::<Vec<_>>());
}

#[test]
fn a_receiver_that_refuses_for_good_is_given_up_journaled_and_listed() {
    let r = Receiver::start(Kind::Webhook { secret: "not the secret flightdeck signs with".into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"")));
    let (code, _, err) = run(&e, &["run", "bad", "--follow"]);
    assert_eq!(code, 1, "{err}");
    support::supervision::wait_until(Duration::from_secs(30), "the delivery given up", || {
        run(&e, &["notify", "outbox", "--json"]).1.contains("\"failed\"")
    });
    let (code, out, _) = run(&e, &["notify", "outbox", "--json"]);
    assert_eq!(code, 3, "failed deliveries make the listing fail: {out}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["state"], "failed");
    assert!(rows[0]["last_error"].as_str().unwrap().contains("400"), "{rows}");
    let (_, journal, _) = run(&e, &["audit", "export"]);
    assert!(journal.contains("notify.failed"), "the failure is journaled: {journal}");
    assert_eq!(r.violations().len(), 1, "the receiver saw one bad signature: {:?}", r.violations());
    // The cockpit says so in its header, and once as an error.
    let config = e.config();
    let data = e.dir.path().join("data");
    let mut t = support::pty::Term::spawn(&["--config", config.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    t.wait_for("1 not delivered", "the header counting the notification given up");
    t.wait_for("flightdeck notify outbox", "the error saying where to look");
    t.send("q");
    t.wait_exit();
}

#[test]
fn a_slack_bot_threads_a_releases_messages_and_escapes_hostile_text() {
    let token = "xoxb-test-token";
    let r = Receiver::start(Kind::SlackApi { token: token.into() });
    let slack = sink(
        "releases",
        &format!("kind = \"slack\"\ntoken_env = \"FD_TEST_SLACK_TOKEN\"\nchannel = \"C0RELEASES\"\napi_url = \"{}\"", r.url),
        "group_wait = \"0s\"",
    );
    let e = Env::new(&format!("{PIPELINES}{slack}"));
    let with_token = |args: &[&str]| {
        let out = e.cmd(args).env("FD_TEST_SLACK_TOKEN", token).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = with_token(&["run", "release"]);
    assert_eq!(code, 0, "{err}");
    r.wait_accepted(1, Duration::from_secs(30));
    let (code, err) = with_token(&["approve", "1", "--confirm", "approve-staging", "--reason", HOSTILE]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(2, Duration::from_secs(30));
    assert!(got[0].body.get("thread_ts").is_none(), "the release's first message starts its thread");
    assert_eq!(got[1].body["thread_ts"], "1700000000.000001", "the decision is threaded under it: {}", got[1].body);
    let text = got[1].body["text"].as_str().unwrap();
    assert!(text.contains("&lt;!channel&gt;") && text.contains("&lt;https://evil.example|docs&gt;") && text.contains("&amp;"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'), "{text:?}");
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    // The test message goes straight to the sink, and says what happened.
    let (code, err) = with_token(&["notify", "test", "releases"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r.accepted().len(), 3);
    let wrong = e.cmd(&["notify", "test", "releases"]).env("FD_TEST_SLACK_TOKEN", "xoxb-wrong").output().unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("not delivered") && said.contains("not_authed") && !said.contains("xoxb-wrong"), "{said}");
}

#[test]
fn a_pager_is_triggered_by_an_abort_and_resolved_when_the_rollout_is_healthy_again() {
    let n = support::nginx::Nginx::start(None);
    let r = Receiver::start(Kind::PagerDuty);
    let pager =
        sink("oncall", &format!("kind = \"pagerduty\"\nrouting_key_env = \"FD_TEST_PD_KEY\"\nevents_url = \"{}/v2/enqueue\"", r.url), "");
    let e = Env::new(&format!("{}{pager}", n.rollout_config("web", "{ set_weight = 50 }, { pause = {} }")));
    let (code, _, err) = run(&e, &["rollout", "start", "web", "--version", "2.0.0", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&e, &["abort", "web", "--yes", "--reason", HOSTILE]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(1, Duration::from_secs(30));
    let trigger = &got[0].body;
    assert_eq!(trigger["event_action"], "trigger", "{trigger}");
    assert_eq!(trigger["payload"]["severity"], "critical");
    let summary = trigger["payload"]["summary"].as_str().unwrap();
    assert!(summary.contains("web was aborted by") && !summary.contains('\u{1b}'), "{summary:?}");
    let dedup = trigger["dedup_key"].as_str().unwrap().to_string();
    // The next release goes all the way: the incident is resolved, by the same key.
    let (code, _, err) = run(&e, &["rollout", "start", "web", "--version", "2.0.1", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&e, &["promote", "web", "--full", "--yes", "--reason", "checked by hand"]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(2, Duration::from_secs(30));
    assert_eq!(got[1].body["event_action"], "resolve", "{}", got[1].body);
    assert_eq!(got[1].body["dedup_key"], dedup.as_str());
    // A pause for a human and a promotion are news, not pages: nothing else was sent.
    assert_eq!(r.received().len(), 2, "{:?}", r.received().iter().map(|x| x.body.clone()).collect::<Vec<_>>());
    assert!(r.violations().is_empty(), "{:?}", r.violations());
}

#[test]
fn e_mail_goes_through_starttls_and_authentication_to_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = support::python_tools::test_certificates(dir.path());
    let outdir = dir.path().join("mail");
    std::fs::create_dir(&outdir).unwrap();
    let smtp = support::python_tools::Server::start(
        "aiosmtpd",
        "smtp_server.py",
        &[cert.to_str().unwrap(), key.to_str().unwrap(), "flightdeck", "mail password", outdir.to_str().unwrap()],
    );
    let mail = sink(
        "managers",
        &format!(
            "kind = \"email\"\nsmtp_server = \"127.0.0.1:{}\"\nusername = \"flightdeck\"\npassword_env = \"FD_TEST_SMTP_PASSWORD\"\nca_file = {:?}\n\
             from = \"flightdeck@example.com\"\nto = [\"release-managers@example.com\", \"oncall@example.com\"]",
            smtp.port,
            ca.display().to_string()
        ),
        "group_wait = \"0s\"\ntimeout = \"10s\"",
    );
    let mail = mail.replace("timeout = \"1s\"\n", "");
    let e = Env::new(&format!("{PIPELINES}{mail}"));
    let with_password = |args: &[&str], password: &str| {
        let out = e.cmd(args).env("FD_TEST_SMTP_PASSWORD", password).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = with_password(&["run", "release"], "mail password");
    assert_eq!(code, 0, "{err}");
    support::supervision::wait_until(Duration::from_secs(30), "the gate's e-mail", || outdir.join("1.eml").exists());
    let (code, _, err) = with_password(&["approve", "1", "--confirm", "approve-staging", "--reason", HOSTILE], "mail password");
    assert_eq!(code, 0, "{err}");
    support::supervision::wait_until(Duration::from_secs(30), "two e-mails", || outdir.join("2.eml").exists());
    let first = std::fs::read_to_string(outdir.join("1.eml")).unwrap();
    let second = std::fs::read_to_string(outdir.join("2.eml")).unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(outdir.join("2.json")).unwrap()).unwrap();
    assert_eq!(envelope["tls"], true, "STARTTLS was used: {envelope}");
    assert_eq!(envelope["to"], serde_json::json!(["release-managers@example.com", "oncall@example.com"]));
    assert!(first.contains("Subject: gate `approve-staging` of run local:1 is waiting for a decision"), "{first}");
    assert!(first.contains("Message-ID: <fd-"), "{first}");
    assert!(second.contains("approved by") && !second.contains('\u{1b}') && !second.contains('\u{202e}'), "{second}");
    // A wrong password is a refusal for good, said plainly, without the password.
    let (code, _, err) = with_password(&["notify", "test", "managers"], "wrong password");
    assert_eq!(code, 1);
    assert!(err.contains("refused") && !err.contains("wrong password"), "{err}");
    let (code, out, err) = with_password(&["notify", "test", "managers"], "mail password");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("delivered to managers (email)"), "{out}");
}

#[test]
fn sns_publishes_are_signed_as_botocore_signs_them_and_fit_its_service_model() {
    let sns = support::python_tools::Server::start("botocore", "sns_double.py", &["AKIDFLIGHTDECKTEST", "test/secret+key"]);
    let topic = sink(
        "failures",
        &format!(
            "kind = \"sns\"\ntopic_arn = \"arn:aws:sns:eu-west-1:123456789012:release-events\"\nendpoint_url = \"http://127.0.0.1:{}\"",
            sns.port
        ),
        "group_wait = \"0s\"",
    );
    let e = Env::new(&format!("{PIPELINES}{topic}"));
    let with_keys = |args: &[&str], secret: &str| {
        let out = e
            .cmd(args)
            .env("AWS_ACCESS_KEY_ID", "AKIDFLIGHTDECKTEST")
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = with_keys(&["run", "bad", "--follow"], "test/secret+key");
    assert_eq!(code, 1, "{err}");
    let messages =
        || -> Vec<serde_json::Value> { serde_json::from_str(&support::python_tools::get(sns.port, "/messages")).unwrap_or_default() };
    support::supervision::wait_until(Duration::from_secs(30), "the failure published", || !messages().is_empty());
    let m = &messages()[0];
    assert_eq!(m["TopicArn"], "arn:aws:sns:eu-west-1:123456789012:release-events");
    assert!(m["Subject"].as_str().unwrap().contains("run local:1 of `bad` failed"), "{m}");
    assert_eq!(m["MessageAttributes.entry.1.Name"], "flightdeck_id");
    assert!(m["MessageAttributes.entry.1.Value.StringValue"].as_str().unwrap().starts_with("fd-"), "{m}");
    // A wrong secret is refused by the signature check, and said so without the secret.
    let (code, _, err) = with_keys(&["notify", "test", "failures"], "not/the+secret");
    assert_eq!(code, 1);
    assert!(err.contains("SignatureDoesNotMatch") && !err.contains("not/the+secret"), "{err}");
    let (code, out, err) = with_keys(&["notify", "test", "failures"], "test/secret+key");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("delivered to failures (sns)"), "{out}");
    assert_eq!(messages().len(), 2);

    // Further along the credential chain: a container's endpoint, then the instance's metadata.
    let issued = r#"{"AccessKeyId":"AKIDFLIGHTDECKTEST","SecretAccessKey":"test/secret+key","Token":"session-token-1","Expiration":"2099-01-01T00:00:00Z"}"#;
    let container =
        support::python_tools::Endpoint::start(move |_, path, headers| match (path, headers.contains("authorization: container-token")) {
            ("/v2/credentials/abc", true) => (200, issued.to_string()),
            _ => (403, "{}".into()),
        });
    let imds = support::python_tools::Endpoint::start(move |method, path, headers| match (method, path) {
        ("PUT", "/latest/api/token") if headers.contains("x-aws-ec2-metadata-token-ttl-seconds") => (200, "imds-session".into()),
        ("GET", _) if !headers.contains("x-aws-ec2-metadata-token: imds-session") => (401, String::new()),
        ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "release-host-role\n".into()),
        ("GET", "/latest/meta-data/iam/security-credentials/release-host-role") => (200, issued.to_string()),
        _ => (404, String::new()),
    });
    let without_keys = |extra: &[(&str, &str)]| {
        let mut c = e.cmd(&["notify", "test", "failures"]);
        for k in
            ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        {
            c.env_remove(k);
        }
        c.env("AWS_SHARED_CREDENTIALS_FILE", e.dir.path().join("no-such-file"));
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let full_uri = format!("{}/v2/credentials/abc", container.url);
    let (code, err) =
        without_keys(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")]);
    assert_eq!(code, 0, "container credentials: {err}");
    let (code, err) = without_keys(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)]);
    assert_eq!(code, 0, "instance credentials: {err}");
    let published = messages();
    assert_eq!(published.len(), 4);
    let (code, err) = without_keys(&[("AWS_EC2_METADATA_DISABLED", "true")]);
    assert_eq!(code, 1);
    assert!(err.contains("no AWS credentials") && err.contains("no-such-file") && err.contains("disabled"), "{err}");
}

#[test]
fn each_sink_gets_its_environments_and_events_and_a_broken_freeze_is_told() {
    let managers = Receiver::start(Kind::SlackWebhook);
    let staging = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let config = format!(
        "{PIPELINES}[environments.frozen]\n[[environments.frozen.freeze]]\nreason = \"year-end freeze\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n\
         [[pipelines.hotfix.stages]]\nname = \"approve-frozen\"\nenvironment = \"frozen\"\ngate = true\n\
         {}{}",
        sink(
            "managers",
            "kind = \"slack\"\nwebhook_url_env = \"FD_TEST_SLACK_WEBHOOK\"",
            "group_wait = \"0s\"\nenvironments = [\"frozen\"]\nevents = [\"gate.*\", \"freeze.broken\"]"
        ),
        webhook(&staging, "group_wait = \"0s\"\nenvironments = [\"staging\"]"),
    );
    let e = Env::new(&config);
    let hook_url = format!("{}/services/T000/B000/XXXX", managers.url);
    let go = |args: &[&str]| {
        let out = e.cmd(args).env("FD_TEST_HOOK_SECRET", SECRET).env("FD_TEST_SLACK_WEBHOOK", &hook_url).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = go(&["run", "release"]);
    assert_eq!(code, 0, "{err}");
    let got = staging.wait_accepted(1, Duration::from_secs(30));
    assert_eq!(got[0].body["environment"], "staging");
    let (code, err) = go(&["run", "hotfix"]);
    assert_ne!(code, 0, "the freeze refuses a plain trigger: {err}");
    let (code, err) = go(&["run", "hotfix", "--break-glass", "--confirm", "hotfix", "--reason", "the fix for the outage"]);
    assert_eq!(code, 0, "{err}");
    managers.wait_accepted(2, Duration::from_secs(30));
    let (code, err) = go(&["approve", "2", "--confirm", "approve-frozen", "--reason", "the fix for the outage"]);
    assert_ne!(code, 0, "the freeze refuses a plain approval: {err}");
    assert!(err.contains("year-end freeze"), "{err}");
    let (code, err) = go(&["approve", "2", "--confirm", "approve-frozen", "--reason", "the fix for the outage", "--break-glass"]);
    assert_eq!(code, 0, "{err}");
    let got = managers.wait_accepted(4, Duration::from_secs(30));
    let texts: Vec<&str> = got.iter().map(|g| g.body["text"].as_str().unwrap()).collect();
    // In the journal's order: the gate may start waiting before the trigger's outcome is written.
    let at = |what: &str| texts.iter().position(|t| t.contains(what)).unwrap_or_else(|| panic!("no `{what}` in {texts:?}"));
    let (trigger, waiting, approved, glass) = (
        at("broke glass in frozen: run.trigger on hotfix: the fix for the outage"),
        at("`approve-frozen` of run local:2 is waiting"),
        at("approved by"),
        at("broke glass in frozen: gate.approve"),
    );
    assert!(trigger < approved && waiting < approved && approved < glass, "{texts:?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(staging.received().len(), 1, "nothing of the frozen environment went to staging's sink");
    assert_eq!(managers.received().len(), 4, "nothing of staging went to the managers");
    assert!(managers.violations().is_empty() && staging.violations().is_empty());
}

#[test]
fn a_journal_that_fails_its_check_is_told() {
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"\nevents = [\"audit.failed\"]")));
    let (code, _, err) = run(&e, &["run", "bad", "--follow"]);
    assert_eq!(code, 1, "{err}");
    // Someone edits a record of the past.
    let path = e.dir.path().join("data/audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"actor\":\"flightdeck\"", "\"actor\":\"mallory\"", 1)).unwrap();
    let (code, _, err) = run(&e, &["audit", "verify"]);
    assert_eq!(code, 1, "{err}");
    let got = r.wait_accepted(1, Duration::from_secs(30));
    assert_eq!(got[0].body["event"], "audit.failed", "{}", got[0].body);
    assert!(got[0].body["text"].as_str().unwrap().contains("flightdeck audit verify"), "{}", got[0].body);
}

#[test]
fn a_cancelled_run_is_told_with_who_cancelled_it() {
    let r = Receiver::start(Kind::Webhook { secret: SECRET.into() });
    let e = Env::new(&format!("{PIPELINES}{}", webhook(&r, "group_wait = \"0s\"")));
    let (code, _, err) = run(&e, &["run", "slow"]);
    assert_eq!(code, 0, "{err}");
    e.wait_status(1, "running");
    let (code, _, err) = run(&e, &["cancel", "1", "--reason", "wrong branch", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let got = r.wait_accepted(1, Duration::from_secs(30));
    assert_eq!(got[0].body["event"], "run.cancelled", "{}", got[0].body);
    let text = got[0].body["text"].as_str().unwrap();
    assert!(text.contains("run local:1 was cancelled by") && text.contains("wrong branch"), "{text}");
}
