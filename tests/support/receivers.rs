//! Receivers of notifications on loopback, each checking what arrives against the format the real
//! service documents (and refusing it as the service would), and able to answer 429, 5xx, or hang:
//! - a signed webhook (the signature recomputed with the shared secret);
//! - a Slack incoming webhook, and Slack's Web API `chat.postMessage` (threads by `ts`);
//! - PagerDuty's Events API v2 (`/v2/enqueue`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use tokio::io::{AsyncWriteExt, BufReader};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Webhook { secret: String },
    SlackWebhook,
    SlackApi { token: String },
    PagerDuty,
}

/// What the next request is answered with (after that, the service's own success).
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16, Option<u64>),
    /// Read the request, never answer.
    Hang,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: serde_json::Value,
    /// Whether it was accepted (answered with success).
    pub accepted: bool,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<Answer>,
    down: bool,
    violations: Vec<String>,
    next_ts: u64,
    issued_ts: Vec<String>,
}

pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    pub fn start(kind: Kind) -> Receiver {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (s, kind) = (s.clone(), kind.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    while let Ok(Some(req)) = super::http1::read_request(&mut reader).await {
                        let (status, headers, body) = match answer(&s, &kind, req) {
                            Some(a) => a,
                            None => {
                                // Hang: hold the connection open without a word.
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                return;
                            }
                        };
                        let mut out =
                            format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        out.push_str(&body);
                        if write.write_all(out.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { url, state, _runtime: runtime }
    }

    /// The answers to the next requests, in order.
    pub fn script(&self, answers: &[Answer]) {
        self.state.lock().unwrap().script.extend(answers.iter().cloned());
    }

    /// Down: every request is answered 503 until it is back.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }

    /// What broke the service's documented format (each was refused as the service would).
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// Waits until `n` requests were accepted; panics after `limit` saying what arrived.
    pub fn wait_accepted(&self, n: usize, limit: Duration) -> Vec<Received> {
        self.wait_accepted_by(n, limit, |got| got.len())
    }

    /// Waits until `n` different notices (by title) were accepted: repeats of one (a delivery
    /// sent again after a crash) do not count towards `n`.
    pub fn wait_distinct(&self, n: usize, limit: Duration) -> Vec<Received> {
        self.wait_accepted_by(n, limit, |got| {
            got.iter().filter_map(|r| r.body["title"].as_str()).collect::<std::collections::BTreeSet<_>>().len()
        })
    }

    fn wait_accepted_by(&self, n: usize, limit: Duration, count: impl Fn(&[Received]) -> usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.accepted();
            if got.len() >= n && count(&got) >= n {
                return got;
            }
            assert!(
                start.elapsed() < limit,
                "{} of {n} notifications arrived within {}s: {:#?}\nviolations: {:?}",
                got.len(),
                limit.as_secs(),
                got.iter().map(|r| r.body.clone()).collect::<Vec<_>>(),
                self.violations()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

type Reply = (u16, Vec<(String, String)>, String);

fn answer(state: &Mutex<State>, kind: &Kind, req: super::http1::Request) -> Option<Reply> {
    let mut s = state.lock().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or(serde_json::Value::Null);
    let mut record = Received { path: req.path.clone(), headers: req.headers.clone(), body: body.clone(), accepted: false };
    if s.down {
        s.received.push(record);
        return Some((503, Vec::new(), "{\"error\":\"down\"}".into()));
    }
    if let Some(a) = s.script.pop_front() {
        s.received.push(record);
        return match a {
            Answer::Hang => None,
            Answer::Status(code, after) => Some((
                code,
                after.map(|a| vec![("retry-after".to_string(), a.to_string())]).unwrap_or_default(),
                "{\"error\":\"scripted\"}".into(),
            )),
        };
    }
    let problems = check(kind, &req, &body, &s.issued_ts);
    if !problems.is_empty() {
        s.violations.extend(problems.iter().cloned());
        s.received.push(record);
        // The Web API answers 200 with `ok: false` and an error code; the others refuse with 400.
        if matches!(kind, Kind::SlackApi { .. }) {
            let code = problems[0].split(':').next().unwrap_or("invalid_arguments").to_string();
            return Some((200, Vec::new(), serde_json::json!({ "ok": false, "error": code }).to_string()));
        }
        return Some((400, Vec::new(), serde_json::json!({ "status": "invalid event", "errors": problems }).to_string()));
    }
    record.accepted = true;
    s.received.push(record);
    Some(match kind {
        Kind::Webhook { .. } => (200, Vec::new(), "{}".into()),
        Kind::SlackWebhook => (200, Vec::new(), "ok".into()),
        Kind::SlackApi { .. } => {
            s.next_ts += 1;
            let ts = format!("1700000000.{:06}", s.next_ts);
            s.issued_ts.push(ts.clone());
            (200, Vec::new(), serde_json::json!({ "ok": true, "channel": body["channel"], "ts": ts }).to_string())
        }
        Kind::PagerDuty => (
            202,
            Vec::new(),
            serde_json::json!({ "status": "success", "message": "Event processed", "dedup_key": body["dedup_key"] }).to_string(),
        ),
    })
}

/// The documented format of each service, as far as a sender can get it wrong.
fn check(kind: &Kind, req: &super::http1::Request, body: &serde_json::Value, issued_ts: &[String]) -> Vec<String> {
    let mut p = Vec::new();
    let json = req.headers.get("content-type").is_some_and(|c| c.starts_with("application/json"));
    if req.method != "POST" || !json {
        p.push(format!("{} with content-type {:?}: expected a POST of JSON", req.method, req.headers.get("content-type")));
    }
    let text_ok = |t: &serde_json::Value| t.as_str().is_some_and(|t| !t.is_empty() && !t.contains('\x1b') && !t.contains("<!"));
    match kind {
        Kind::Webhook { secret } => {
            let ts = req.headers.get("x-flightdeck-timestamp").and_then(|t| t.parse::<i64>().ok());
            let sig = req.headers.get("x-flightdeck-signature");
            match (ts, sig) {
                (Some(ts), Some(sig)) => {
                    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                    mac.update(format!("{ts}.").as_bytes());
                    mac.update(&req.body);
                    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                    if *sig != expected {
                        p.push("the signature does not verify".into());
                    }
                    let age = jiff::Timestamp::now().as_second() - ts;
                    if !(-60..=300).contains(&age) {
                        p.push(format!("the timestamp is {age}s old"));
                    }
                }
                _ => p.push("no x-flightdeck-timestamp or x-flightdeck-signature".into()),
            }
            if req.headers.get("x-flightdeck-delivery") != body["id"].as_str().map(str::to_string).as_ref() {
                p.push("x-flightdeck-delivery is not the body's id".into());
            }
            for field in ["id", "event", "title", "text"] {
                if !body[field].is_string() {
                    p.push(format!("no `{field}`"));
                }
            }
        }
        Kind::SlackWebhook => {
            if !text_ok(&body["text"]) {
                p.push(format!("`text` missing, empty, or with control or mention sequences: {}", body["text"]));
            }
        }
        Kind::SlackApi { token } => {
            if req.path != "/chat.postMessage" {
                p.push(format!("{}: not a Web API method used for messages", req.path));
            }
            if req.headers.get("authorization") != Some(&format!("Bearer {token}")) {
                p.push("not_authed: no bearer token".into());
            }
            if !body["channel"].is_string() {
                p.push("channel_not_found: no channel".into());
            }
            if !text_ok(&body["text"]) {
                p.push(format!("`text` missing, empty, or with control or mention sequences: {}", body["text"]));
            }
            if let Some(ts) = body.get("thread_ts")
                && !ts.as_str().is_some_and(|t| issued_ts.iter().any(|i| i == t))
            {
                p.push(format!("thread_not_found: {ts}"));
            }
        }
        Kind::PagerDuty => {
            if req.path != "/v2/enqueue" {
                p.push(format!("{}: the Events API v2 is at /v2/enqueue", req.path));
            }
            if body["routing_key"].as_str().is_none_or(|k| k.len() != 32) {
                p.push("routing_key must be the 32-character integration key".into());
            }
            let action = body["event_action"].as_str().unwrap_or("");
            if !["trigger", "acknowledge", "resolve"].contains(&action) {
                p.push(format!("event_action `{action}`"));
            }
            if body["dedup_key"].as_str().is_some_and(|k| k.len() > 255) {
                p.push("dedup_key longer than 255".into());
            }
            if action != "trigger" && body["dedup_key"].as_str().is_none() {
                p.push("acknowledge and resolve need the dedup_key".into());
            }
            if action == "trigger" {
                let pl = &body["payload"];
                if pl["summary"].as_str().is_none_or(|s| s.is_empty() || s.chars().count() > 1024 || s.contains('\x1b')) {
                    p.push("payload.summary must be 1 to 1024 characters".into());
                }
                if pl["source"].as_str().is_none_or(str::is_empty) {
                    p.push("payload.source is required".into());
                }
                if !["critical", "error", "warning", "info"].contains(&pl["severity"].as_str().unwrap_or("")) {
                    p.push(format!("payload.severity `{}`", pl["severity"]));
                }
            }
        }
    }
    p
}
