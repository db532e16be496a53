//! The API double's HTTP plumbing: query strings, `Status` bodies, replies.

use serde_json::{Value, json};

pub(super) fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) body: Value,
}

pub(super) fn reply(code: u16, body: Value) -> Reply {
    Reply { code, body }
}

pub(super) fn error(code: u16, reason: &str, message: &str) -> Reply {
    reply(code, status_body(code, reason, message))
}

pub(super) fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        _ => "Error",
    }
}
