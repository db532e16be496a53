//! One journal record and its hash over a canonical encoding.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Written before the action is attempted.
    Intent,
    /// Written after: success or failure, linked to its intent.
    Outcome,
    /// The action was refused before anything happened (policy, stale state).
    Refused,
    /// Something flightdeck itself observed and records (a gate timing out, a journal repair).
    Event,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// UTC, RFC 3339.
    pub time: String,
    pub actor: String,
    pub origin: String,
    #[serde(default)]
    pub environment: Option<String>,
    pub target: String,
    pub action: String,
    #[serde(default)]
    pub parameters: serde_json::Value,
    #[serde(default)]
    pub reason: String,
    pub phase: Phase,
    /// `pending` (intent), `success`, `failure`, `refused`, `recorded`.
    pub result: String,
    #[serde(default)]
    pub error: Option<String>,
    /// For an outcome: the sequence number of its intent.
    #[serde(default)]
    pub intent: Option<u64>,
    #[serde(default)]
    pub break_glass: bool,
    pub prev_hash: String,
    pub hash: String,
}

/// What a caller supplies; the journal fills in sequence, time and hashes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Draft {
    pub actor: String,
    pub origin: String,
    pub environment: Option<String>,
    pub target: String,
    pub action: String,
    pub parameters: serde_json::Value,
    pub reason: String,
    pub phase: Option<Phase>,
    pub result: String,
    pub error: Option<String>,
    pub intent: Option<u64>,
    pub break_glass: bool,
}

impl AuditRecord {
    /// SHA-256 over the record without its own hash, as compact JSON with sorted keys.
    pub fn compute_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut value {
            map.remove("hash");
        }
        // serde_json's map is ordered by key, so this encoding is canonical.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    pub fn seal(mut self) -> AuditRecord {
        self.hash = self.compute_hash();
        self
    }
}
