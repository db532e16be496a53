//! The notifier: reads the journal from where it left off, queues each record's notices for the
//! sinks they are routed to, and delivers what is due, with retries and grouping. It runs in the
//! supervisor, so nothing depends on a cockpit being open, and picks up after a crash from the
//! files it left (the journal's cursor and the outbox).

use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::outbox::Cursor;
use super::sinks::{SendError, Sink};
use super::{Delivery, Message, Notice, Outbox, notices_from, routed_to};
use crate::audit::AuditRecord;
use crate::config::{Config, SinkSettings};

/// How many deliveries of one sink are looked at in one pass: a flood is worked through in
/// slices, so memory does not grow with it.
const SLICE: usize = 500;
/// How far back notifications start when they are first configured.
const FIRST_LOOK_BACK: Duration = Duration::from_secs(15 * 60);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct Notifier {
    data_dir: PathBuf,
    config: Arc<Config>,
    outbox: Outbox,
    sinks: Vec<(SinkSettings, Box<dyn Sink>)>,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Notifier {
    pub fn new(config: Arc<Config>, data_dir: &Path) -> Result<Notifier, String> {
        let outbox = Outbox::in_data_dir(data_dir);
        let mut sinks = Vec::new();
        for s in &config.notify {
            sinks.push((s.clone(), super::sinks::build(s, outbox.threads_path())?));
        }
        Ok(Notifier { data_dir: data_dir.to_path_buf(), config, outbox, sinks })
    }

    fn journal_path(&self) -> PathBuf {
        crate::audit::Journal::in_data_dir(&self.data_dir).path().to_path_buf()
    }

    /// Whether every journal record has been read and nothing waits to be sent.
    pub fn settled(&self) -> bool {
        let read = self.outbox.cursor().map(|c| c.offset).unwrap_or(0);
        let len = std::fs::metadata(self.journal_path()).map(|m| m.len()).unwrap_or(0);
        read >= len && self.outbox.busy_sinks().is_empty()
    }

    /// Reads the records appended since the last look and queues their notices. Each record's
    /// hash and its link to the one before are checked as it is read: a journal that fails is
    /// itself a notice.
    pub fn ingest(&self) -> Result<usize, String> {
        // The first time: what happened in the last minutes (the action that started the
        // supervisor among it), not the whole history.
        let mut cursor = self
            .outbox
            .cursor()
            .unwrap_or_else(|| Cursor { since_ms: Some(now_ms() - FIRST_LOOK_BACK.as_millis() as i64), ..Cursor::default() });
        let path = self.journal_path();
        let Ok(file) = std::fs::File::open(&path) else { return Ok(0) };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < cursor.offset {
            // Shorter than what was read: repaired or replaced. Read it again, skipping what was seen.
            cursor.offset = 0;
            cursor.hash = None;
        }
        if len == cursor.offset {
            return Ok(0);
        }
        let mut reader = std::io::BufReader::new(file);
        reader.seek(std::io::SeekFrom::Start(cursor.offset)).map_err(|e| format!("cannot read the journal {}: {e}", path.display()))?;
        let mut queued = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(|e| format!("cannot read the journal {}: {e}", path.display()))?;
            // A record being written (no newline yet) is read next time, whole.
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            let at = cursor.offset;
            cursor.offset += n as u64;
            let rec = match serde_json::from_slice::<AuditRecord>(&line) {
                Ok(r) => r,
                Err(e) => {
                    queued += self.queue(
                        &[super::audit_failed(&format!("the record at byte {at} cannot be read: {e}"), jiff::Timestamp::now())],
                        cursor.seq * 16 + 15,
                    )?;
                    continue;
                }
            };
            if rec.seq <= cursor.seq && cursor.hash.is_none() && cursor.seq > 0 {
                cursor.hash = Some(rec.hash.clone());
                continue; // seen before the journal was rewritten
            }
            let broken = if rec.compute_hash() != rec.hash {
                Some(format!("record {} does not match its hash (it was changed after it was written)", rec.seq))
            } else if cursor.hash.as_ref().is_some_and(|h| *h != rec.prev_hash) {
                Some(format!("record {} does not follow the record before it (records were removed or reordered)", rec.seq))
            } else {
                None
            };
            if let Some(problem) = broken {
                queued += self.queue(&[super::audit_failed(&problem, jiff::Timestamp::now())], rec.seq * 16 + 15)?;
            }
            let old = cursor.since_ms.is_some_and(|since| rec.time.parse::<jiff::Timestamp>().is_ok_and(|t| t.as_millisecond() < since));
            let mut notices = if old { Vec::new() } else { notices_from(&rec, &self.config.people) };
            for n in notices.iter_mut().filter(|n| n.event == "gate.waiting") {
                if let Some(line) = self.gate_verdict(&rec) {
                    n.details.insert(0, line);
                }
            }
            queued += self.queue(&notices, rec.seq * 16)?;
            cursor.seq = rec.seq;
            cursor.hash = Some(rec.hash.clone());
        }
        self.outbox.save_cursor(&cursor).map_err(|e| format!("cannot save how far the journal was read: {e}"))?;
        Ok(queued)
    }

    /// Queues a notice that comes from no journal record (the journal failing its check).
    pub fn queue_now(&self, notice: &Notice) -> Result<usize, String> {
        let seq = self.outbox.cursor().map(|c| c.seq).unwrap_or(0);
        self.queue(std::slice::from_ref(notice), seq * 16 + 15)
    }

    /// Queues each notice for the sinks it is routed to; `order` sorts them in journal order.
    fn queue(&self, notices: &[Notice], order: u64) -> Result<usize, String> {
        let mut queued = 0;
        for (i, notice) in notices.iter().enumerate() {
            for (settings, _) in self.sinks.iter().filter(|(s, _)| routed_to(s, notice)) {
                let d = Delivery {
                    sink: settings.name.clone(),
                    order: order + i as u64,
                    notices: vec![notice.clone()],
                    sealed: false,
                    attempts: 0,
                    queued_ms: now_ms(),
                    next_ms: 0,
                    last_error: None,
                };
                if self.outbox.enqueue(&d).map_err(|e| format!("cannot queue a notification for {}: {e}", settings.name))? {
                    queued += 1;
                }
            }
        }
        Ok(queued)
    }

    /// The release gate's verdict for a waiting gate, in one line with its counts.
    fn gate_verdict(&self, rec: &AuditRecord) -> Option<String> {
        let env = rec.environment.as_deref()?;
        let policy = self.config.policy.environments.get(env)?;
        if !policy.security.judges() {
            return Some(format!("no release gate in {env}"));
        }
        let run: crate::domain::RunRef = rec.parameters.get("run")?.as_str()?.parse().ok()?;
        let store = crate::ci::local::RunStore::open(&self.data_dir).ok()?;
        let record = store.load(&run).ok()?;
        let acceptances = crate::findings::Acceptances::load(&self.config.findings.acceptances).unwrap_or_default();
        let evidence = store.evidence(&record).judged_with(acceptances);
        let today = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC).date();
        let v = evidence.judge(&policy.security, today);
        let c = v.counts;
        let verdict = if v.pass { "passes" } else { "FAILS" };
        Some(format!(
            "release gate {verdict}: {} (critical {}, high {}, medium {}, low {})",
            crate::logstore::sanitize::plain(&v.summary),
            c.critical,
            c.high,
            c.medium,
            c.low
        ))
    }

    /// Sends what is due in every sink; says how long until the next delivery is due.
    pub async fn deliver_due(&self) -> Option<Duration> {
        let mut next: Option<i64> = None;
        for (settings, sink) in &self.sinks {
            if let Some(due) = self.deliver_sink(settings, sink.as_ref()).await {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next.map(|due| Duration::from_millis((due - now_ms()).max(0) as u64))
    }

    /// Works through one sink's queue in order until something is not yet due; returns when the
    /// next thing is. Deliveries are strictly in order per sink, so a rollout's notices arrive in
    /// the order they happened, even across a receiver's outage.
    async fn deliver_sink(&self, settings: &SinkSettings, sink: &dyn Sink) -> Option<i64> {
        loop {
            // While the head waits (a backoff, a burst's window), only the head is read: the
            // rest of a long queue is read when something is due.
            let (_, head) = self.outbox.pending(&settings.name, 1).into_iter().next()?;
            let now = now_ms();
            if due_at(&head, settings) > now {
                return Some(due_at(&head, settings));
            }
            let pending = self.outbox.pending(&settings.name, SLICE);
            let (head_path, head) = pending.first()?.clone();
            if due_at(&head, settings) > now {
                continue; // a stale copy was set aside: the head is another one
            }
            let (path, delivery) = if head.sealed {
                (head_path, head)
            } else {
                // The burst the first one is part of is sealed as one.
                let group = head.notices[0].group();
                let members: Vec<(PathBuf, Delivery)> = if settings.group_wait.is_zero() {
                    vec![(head_path, head)]
                } else {
                    pending.into_iter().filter(|(_, d)| !d.sealed && d.notices.len() == 1 && d.notices[0].group() == group).collect()
                };
                match self.outbox.seal(&members) {
                    Ok(sealed) => sealed,
                    Err(e) => {
                        tracing::warn!("cannot seal a notification for {}: {e}", settings.name);
                        return Some(now + 1000);
                    }
                }
            };
            self.attempt(settings, sink, &path, delivery).await;
        }
    }

    async fn attempt(&self, settings: &SinkSettings, sink: &dyn Sink, path: &Path, mut d: Delivery) {
        let message = Message::of(&d.notices);
        let result = sink.send(&message, &d.notices).await;
        d.attempts += 1;
        let (why, after, permanent) = match result {
            Ok(()) => {
                if let Err(e) = self.outbox.delivered(path) {
                    tracing::warn!("notification {} was delivered but cannot be removed from the outbox: {e}", message.key);
                }
                eprintln!("{} notified {} ({}): {}", jiff::Timestamp::now(), settings.name, message.event, message.key);
                return;
            }
            Err(SendError::Retry { why, after }) => (why, after, false),
            Err(SendError::Permanent(why)) => (why, None, true),
        };
        let age = Duration::from_millis((now_ms() - d.queued_ms).max(0) as u64);
        d.last_error = Some(why.clone());
        if permanent || age >= settings.give_up_after {
            let _ = self.outbox.give_up(path, &d);
            self.journal_failure(settings, &d, &why);
            return;
        }
        let wait = after.unwrap_or(Duration::ZERO).max(backoff(d.attempts)).min(settings.give_up_after);
        d.next_ms = now_ms() + wait.as_millis() as i64;
        eprintln!(
            "{} notification to {} not delivered (attempt {}), next in {}s: {}",
            jiff::Timestamp::now(),
            settings.name,
            d.attempts,
            wait.as_secs(),
            crate::logstore::sanitize::plain(&why)
        );
        if let Err(e) = self.outbox.update(path, &d) {
            tracing::warn!("cannot record a failed attempt of {}: {e}", message.key);
        }
    }

    /// A notification given up is journaled (and shown in the cockpit from there and from the
    /// outbox), never dropped silently.
    fn journal_failure(&self, settings: &SinkSettings, d: &Delivery, why: &str) {
        let message = Message::of(&d.notices);
        eprintln!("{} gave up notifying {}: {}", jiff::Timestamp::now(), settings.name, crate::logstore::sanitize::plain(why));
        let draft = crate::audit::Draft {
            actor: "flightdeck".into(),
            origin: "notifications".into(),
            environment: message.environment.clone(),
            target: settings.name.clone(),
            action: "notify.failed".into(),
            parameters: serde_json::json!({ "id": message.key, "event": message.event, "subject": message.subject, "attempts": d.attempts }),
            reason: why.to_string(),
            phase: Some(crate::audit::Phase::Event),
            result: "recorded".into(),
            ..Default::default()
        };
        if let Err(e) = crate::audit::Journal::in_data_dir(&self.data_dir).append(draft) {
            tracing::error!("a failed notification could not be journaled: {e}");
        }
    }

    /// Sends a test message to one sink now, outside the outbox: the answer is the sink's own.
    pub async fn send_test(&self, name: &str, actor: &str) -> Result<String, String> {
        let Some((settings, sink)) = self.sinks.iter().find(|(s, _)| s.name == name) else {
            let names: Vec<&str> = self.sinks.iter().map(|(s, _)| s.name.as_str()).collect();
            return Err(format!("no sink `{name}` (configured: {})", if names.is_empty() { "none".into() } else { names.join(", ") }));
        };
        let now = jiff::Timestamp::now();
        let notice = Notice {
            key: format!("fd-test-{}", now.as_millisecond()),
            event: "notify.test".into(),
            environment: None,
            subject: format!("sink {name}"),
            title: format!("flightdeck test message to {name}, sent by {actor}"),
            details: vec!["if you can read this, notifications reach you here".into()],
            actor: Some(actor.to_string()),
            at: now.to_string(),
            journal_seq: None,
        };
        let message = Message::of(std::slice::from_ref(&notice));
        sink.send(&message, std::slice::from_ref(&notice)).await.map_err(|e| e.to_string())?;
        Ok(format!("a test message was delivered to {} ({})", settings.name, settings.kind.label()))
    }

    /// Ingests and delivers until stopped; `poke` wakes it at once (a client just journaled).
    pub async fn run(self: Arc<Self>, stop: CancellationToken, poke: Arc<tokio::sync::Notify>) {
        loop {
            if let Err(e) = self.ingest() {
                eprintln!("{} notifications: {}", jiff::Timestamp::now(), crate::logstore::sanitize::plain(&e));
            }
            let next = self.deliver_due().await;
            let wait = next.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = poke.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// When a delivery may go: after its backoff, and an unsealed one after its burst's window.
fn due_at(d: &Delivery, settings: &SinkSettings) -> i64 {
    if d.sealed { d.next_ms } else { d.next_ms.max(d.queued_ms + settings.group_wait.as_millis() as i64) }
}

/// Exponential backoff with jitter: about 1, 2, 4 … seconds, up to a minute, each between
/// half and all of that (so many clients do not retry in step).
fn backoff(attempts: u32) -> Duration {
    let full = Duration::from_secs(1u64 << attempts.saturating_sub(1).min(9)).min(MAX_BACKOFF);
    let jitter = {
        let mut x = now_ms() as u64 ^ (u64::from(attempts) << 32) ^ u64::from(std::process::id());
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % 1000
    };
    full / 2 + full / 2 * jitter as u32 / 1000
}
