//! One message from one notice, or from a burst of notices of one group: plain text, already
//! sanitised, bounded in size however large the burst.

use super::Notice;

/// How many notices a grouped message names one by one; the rest are counted.
const NAMED: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The idempotency key: the first notice's for one, a digest of all keys for a group.
    pub key: String,
    pub event: String,
    pub environment: Option<String>,
    pub subject: String,
    /// One line (an e-mail subject, a page summary).
    pub title: String,
    /// The whole text, lines.
    pub text: String,
    /// How many notices it carries.
    pub count: usize,
}

impl Message {
    pub fn of(batch: &[Notice]) -> Message {
        let first = &batch[0];
        if batch.len() == 1 {
            let mut text = first.title.clone();
            for d in &first.details {
                text.push('\n');
                text.push_str(d);
            }
            return Message {
                key: first.key.clone(),
                event: first.event.clone(),
                environment: first.environment.clone(),
                subject: first.subject.clone(),
                title: first.title.clone(),
                text,
                count: 1,
            };
        }
        let env = first.environment.as_deref().map(|e| format!(" in {e}")).unwrap_or_default();
        let title = match first.event.as_str() {
            "run.failed" => format!("{} runs failed{env}", batch.len()),
            "run.cancelled" => format!("{} runs were cancelled{env}", batch.len()),
            other => format!("{} {other} events about {}{env}", batch.len(), first.subject),
        };
        let mut text = title.clone();
        for n in batch.iter().take(NAMED) {
            text.push_str("\n- ");
            text.push_str(&n.title);
        }
        if batch.len() > NAMED {
            text.push_str(&format!("\n… and {} more (flightdeck runs, or the journal: flightdeck audit export)", batch.len() - NAMED));
        }
        let mut keys = sha2::Sha256::default();
        for n in batch {
            sha2::Digest::update(&mut keys, n.key.as_bytes());
            sha2::Digest::update(&mut keys, b"\n");
        }
        Message {
            key: format!("fd-group-{}", &hex::encode(sha2::Digest::finalize(keys))[..20]),
            event: first.event.clone(),
            environment: first.environment.clone(),
            subject: first.subject.clone(),
            title,
            text,
            count: batch.len(),
        }
    }
}
