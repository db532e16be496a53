//! Where people are told what happened: `[notify.NAME]` sinks, each with the events and
//! environments it is for.

use serde::Deserialize;

use super::*;
use crate::metrics::Secret;

/// One place notifications go, and which of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkSettings {
    pub name: String,
    pub kind: SinkKind,
    /// Event names or patterns (`gate.waiting`, `rollout.*`); empty: every event.
    pub events: Vec<String>,
    /// Environments whose events go here; empty: every environment, and events without one.
    pub environments: Vec<String>,
    /// Events of one kind arriving within this long of the first are sent as one message.
    pub group_wait: Duration,
    /// A notification that still cannot be delivered after this long is given up, and says so.
    pub give_up_after: Duration,
    /// One request's limit (a receiver that hangs is retried, not waited for).
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkKind {
    /// An incoming webhook, or a bot token posting with `chat.postMessage` (threads per release).
    Slack {
        webhook: Option<Secret>,
        token: Option<Secret>,
        channel: Option<String>,
        api_url: String,
    },
    /// PagerDuty Events API v2.
    PagerDuty {
        routing_key: Secret,
        events_url: String,
    },
    Email(EmailSettings),
    /// An AWS SNS topic (Publish, signed with SigV4).
    Sns {
        topic_arn: String,
        region: Option<String>,
        endpoint_url: Option<String>,
        profile: Option<String>,
    },
    /// JSON with an HMAC-SHA256 signature.
    Webhook {
        url: String,
        secret: Secret,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    /// A CA to trust besides the system's (a private mail relay).
    pub ca_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (the default; port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only to a relay on this host.
    None,
}

impl SinkKind {
    pub fn label(&self) -> &'static str {
        match self {
            SinkKind::Slack { .. } => "slack",
            SinkKind::PagerDuty { .. } => "pagerduty",
            SinkKind::Email(_) => "email",
            SinkKind::Sns { .. } => "sns",
            SinkKind::Webhook { .. } => "webhook",
        }
    }

    /// The environment variables its credentials come from: jobs never inherit them.
    pub fn secret_env_vars(&self) -> Vec<String> {
        let secrets: Vec<&Secret> = match self {
            SinkKind::Slack { webhook, token, .. } => webhook.iter().chain(token.iter()).collect(),
            SinkKind::PagerDuty { routing_key, .. } => vec![routing_key],
            SinkKind::Email(e) => e.password.iter().collect(),
            SinkKind::Sns { .. } => Vec::new(),
            SinkKind::Webhook { secret, .. } => vec![secret],
        };
        secrets.into_iter().filter_map(|s| if let Secret::Env(v) = s { Some(v.clone()) } else { None }).collect()
    }
}

/// `[notify.NAME]` as written. One flat table: which keys apply depends on `kind`, and a key that
/// does not apply to it is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub kind: Option<String>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    pub group_wait: Option<String>,
    pub give_up_after: Option<String>,
    pub timeout: Option<String>,
    // slack
    pub webhook_url_env: Option<String>,
    pub webhook_url_file: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<String>,
    pub channel: Option<String>,
    pub api_url: Option<String>,
    // pagerduty
    pub routing_key_env: Option<String>,
    pub routing_key_file: Option<String>,
    pub events_url: Option<String>,
    // email
    pub smtp_server: Option<String>,
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub ca_file: Option<String>,
    // sns
    pub topic_arn: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    // webhook
    pub url: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
}

/// The event names a sink may ask for (`*` patterns match on the dot).
pub const EVENTS: &[&str] = &[
    "gate.waiting",
    "gate.decided",
    "run.failed",
    "run.cancelled",
    "rollout.paused",
    "rollout.promoted",
    "rollout.promoted-full",
    "rollout.aborted",
    "rollout.undone",
    "canary.failed",
    "freeze.broken",
    "audit.failed",
    "notify.failed",
];

/// Whether `pattern` (an event name, `prefix.*`, or `*`) names `event`.
pub fn event_matches(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => pattern == event,
    }
}

pub(super) fn build_sinks(
    rep: &mut Reporter<'_>,
    raw: &BTreeMap<String, toml::Spanned<RawSink>>,
    base_dir: &Path,
    environments: &BTreeMap<String, Environment>,
) -> Vec<SinkSettings> {
    let mut out = Vec::new();
    for (name, spanned) in raw {
        let key = format!("notify.{name}");
        let span = Some(spanned.span());
        let r = spanned.get_ref();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            rep.error(span.clone(), key.clone(), format!("`{name}` cannot name a notification sink (letters, digits, - and _)"));
        }
        for env in r.environments.iter().filter(|e| !environments.contains_key(*e)) {
            rep.error(span.clone(), format!("{key}.environments"), format!("environment `{env}` is not defined in [environments]"));
        }
        for pattern in &r.events {
            if !EVENTS.iter().any(|e| event_matches(pattern, e)) {
                rep.error(span.clone(), format!("{key}.events"), format!("`{pattern}` names no event (events: {})", EVENTS.join(", ")));
            }
        }
        let duration = |v: &Option<String>, default: Duration, field: &str, rep: &mut Reporter<'_>| match v.as_deref().map(parse_duration) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                rep.error(span.clone(), format!("{key}.{field}"), e);
                default
            }
        };
        let secret = |env: &Option<String>, file: &Option<String>, field: &str, rep: &mut Reporter<'_>| match (env, file) {
            (Some(v), None) => Some(Secret::Env(v.clone())),
            (None, Some(f)) => Some(Secret::File(base_dir.join(f))),
            (None, None) => None,
            (Some(_), Some(_)) => {
                rep.error(span.clone(), format!("{key}.{field}_env"), format!("give one of {field}_env or {field}_file, not both"));
                None
            }
        };
        let all = [
            ("webhook_url_env", r.webhook_url_env.is_some()),
            ("webhook_url_file", r.webhook_url_file.is_some()),
            ("token_env", r.token_env.is_some()),
            ("token_file", r.token_file.is_some()),
            ("channel", r.channel.is_some()),
            ("api_url", r.api_url.is_some()),
            ("routing_key_env", r.routing_key_env.is_some()),
            ("routing_key_file", r.routing_key_file.is_some()),
            ("events_url", r.events_url.is_some()),
            ("smtp_server", r.smtp_server.is_some()),
            ("tls", r.tls.is_some()),
            ("username", r.username.is_some()),
            ("password_env", r.password_env.is_some()),
            ("password_file", r.password_file.is_some()),
            ("from", r.from.is_some()),
            ("to", !r.to.is_empty()),
            ("ca_file", r.ca_file.is_some()),
            ("topic_arn", r.topic_arn.is_some()),
            ("region", r.region.is_some()),
            ("endpoint_url", r.endpoint_url.is_some()),
            ("profile", r.profile.is_some()),
            ("url", r.url.is_some()),
            ("secret_env", r.secret_env.is_some()),
            ("secret_file", r.secret_file.is_some()),
        ];
        let kind_name = r.kind.clone().unwrap_or_default();
        let allowed: &[&str] = match kind_name.as_str() {
            "slack" => &["webhook_url_env", "webhook_url_file", "token_env", "token_file", "channel", "api_url"],
            "pagerduty" => &["routing_key_env", "routing_key_file", "events_url"],
            "email" => &["smtp_server", "tls", "username", "password_env", "password_file", "from", "to", "ca_file"],
            "sns" => &["topic_arn", "region", "endpoint_url", "profile"],
            "webhook" => &["url", "secret_env", "secret_file"],
            _ => {
                rep.error(
                    span.clone(),
                    format!("{key}.kind"),
                    "say which kind: kind = \"slack\", \"pagerduty\", \"email\", \"sns\" or \"webhook\"",
                );
                continue;
            }
        };
        for stray in all.iter().filter(|(f, set)| *set && !allowed.contains(f)).map(|(f, _)| f) {
            rep.error(span.clone(), format!("{key}.{stray}"), format!("`{stray}` does not apply to a {kind_name} sink"));
        }
        let missing = |what: &str, rep: &mut Reporter<'_>| rep.error(span.clone(), key.clone(), format!("a {kind_name} sink needs {what}"));
        let kind = match kind_name.as_str() {
            "slack" => {
                let webhook = secret(&r.webhook_url_env, &r.webhook_url_file, "webhook_url", rep);
                let token = secret(&r.token_env, &r.token_file, "token", rep);
                match (&webhook, &token, &r.channel) {
                    (Some(_), None, None) | (None, Some(_), Some(_)) => {}
                    (None, None, _) => missing("webhook_url_env (an incoming webhook) or token_env and channel (a bot)", rep),
                    (None, Some(_), None) => missing("the channel a bot posts to: channel = \"C0123…\"", rep),
                    _ => rep.error(span.clone(), key.clone(), "give a webhook, or a bot token and a channel, not both"),
                }
                let api_url = r.api_url.clone().unwrap_or_else(|| "https://slack.com/api".into()).trim_end_matches('/').to_string();
                check_url(rep, span.clone(), &format!("{key}.api_url"), &api_url);
                SinkKind::Slack { webhook, token, channel: r.channel.clone(), api_url }
            }
            "pagerduty" => {
                let Some(routing_key) = secret(&r.routing_key_env, &r.routing_key_file, "routing_key", rep) else {
                    missing("the integration's routing key: routing_key_env or routing_key_file", rep);
                    continue;
                };
                let events_url = r.events_url.clone().unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into());
                check_url(rep, span.clone(), &format!("{key}.events_url"), &events_url);
                SinkKind::PagerDuty { routing_key, events_url }
            }
            "email" => {
                let tls = match r.tls.as_deref().unwrap_or("starttls") {
                    "starttls" => SmtpTls::StartTls,
                    "tls" => SmtpTls::Tls,
                    "none" => SmtpTls::None,
                    other => {
                        rep.error(span.clone(), format!("{key}.tls"), format!("`{other}`: say \"starttls\", \"tls\" or \"none\""));
                        SmtpTls::StartTls
                    }
                };
                let server = r.smtp_server.clone().unwrap_or_default();
                let default_port = if tls == SmtpTls::Tls { 465 } else { 587 };
                let (host, port) = match server.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), p.parse::<u16>().unwrap_or(0)),
                    None => (server.clone(), default_port),
                };
                if host.is_empty() || port == 0 {
                    missing("smtp_server = \"HOST\" or \"HOST:PORT\"", rep);
                }
                if tls == SmtpTls::None && !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1") {
                    rep.error(
                        span.clone(),
                        format!("{key}.tls"),
                        "tls = \"none\" only to a relay on this host: mail and passwords would cross the network in the clear",
                    );
                }
                let password = secret(&r.password_env, &r.password_file, "password", rep);
                if password.is_some() != r.username.is_some() {
                    rep.error(span.clone(), key.clone(), "give both username and password_env (or password_file), or neither");
                }
                let from = r.from.clone().unwrap_or_default();
                if !from.contains('@') {
                    missing("from = \"flightdeck@example.com\"", rep);
                }
                if r.to.is_empty() || r.to.iter().any(|t| !t.contains('@')) {
                    missing("to = [\"release-managers@example.com\"]", rep);
                }
                SinkKind::Email(EmailSettings {
                    host,
                    port,
                    tls,
                    username: r.username.clone(),
                    password,
                    from,
                    to: r.to.clone(),
                    ca_file: r.ca_file.as_ref().map(|f| base_dir.join(f)),
                })
            }
            "sns" => {
                let topic_arn = r.topic_arn.clone().unwrap_or_default();
                if !topic_arn.starts_with("arn:") || topic_arn.split(':').count() != 6 {
                    missing("topic_arn = \"arn:aws:sns:REGION:ACCOUNT:TOPIC\"", rep);
                }
                if let Some(u) = &r.endpoint_url {
                    check_url(rep, span.clone(), &format!("{key}.endpoint_url"), u);
                }
                SinkKind::Sns { topic_arn, region: r.region.clone(), endpoint_url: r.endpoint_url.clone(), profile: r.profile.clone() }
            }
            _ => {
                let url = r.url.clone().unwrap_or_default();
                check_url(rep, span.clone(), &format!("{key}.url"), &url);
                let Some(secret) = secret(&r.secret_env, &r.secret_file, "secret", rep) else {
                    missing("the signing secret its receiver verifies: secret_env or secret_file", rep);
                    continue;
                };
                SinkKind::Webhook { url, secret }
            }
        };
        // A page is for one thing at a time: PagerDuty events are never grouped.
        let group_default = if matches!(kind, SinkKind::PagerDuty { .. }) { Duration::ZERO } else { Duration::from_secs(30) };
        out.push(SinkSettings {
            name: name.clone(),
            kind,
            events: r.events.clone(),
            environments: r.environments.clone(),
            group_wait: duration(&r.group_wait, group_default, "group_wait", rep),
            give_up_after: duration(&r.give_up_after, Duration::from_secs(6 * 3600), "give_up_after", rep),
            timeout: duration(&r.timeout, Duration::from_secs(15), "timeout", rep),
        });
    }
    out
}

/// Notifications carry credentials or what people act on: https, or plain http only on this host.
fn check_url(rep: &mut Reporter<'_>, span: Option<std::ops::Range<usize>>, key: &str, url: &str) {
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|p| url.starts_with(p));
    if !(url.starts_with("https://") || local) {
        rep.error(span, key, format!("`{url}` is not an https URL"));
    }
}
