//! What the demo can do to its canary so the verdict visibly changes.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    Healthy,
    /// Every request takes this much longer.
    Slow,
    /// A share of requests answer 500.
    Errors,
}

impl Fault {
    pub const ALL: [Fault; 3] = [Fault::Healthy, Fault::Slow, Fault::Errors];
    /// Added latency when slow.
    pub const SLOW_MS: u64 = 300;
    /// Share of requests answering 500 when erroring.
    pub const ERROR_SHARE: f64 = 0.15;

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Healthy => "healthy",
            Fault::Slow => "slow",
            Fault::Errors => "errors",
        }
    }

    pub fn parse(text: &str) -> Option<Fault> {
        match text.trim().to_ascii_lowercase().as_str() {
            "healthy" | "off" | "none" | "ok" => Some(Fault::Healthy),
            "slow" | "latency" => Some(Fault::Slow),
            "errors" | "error" | "5xx" => Some(Fault::Errors),
            _ => None,
        }
    }

    /// The next one in the cycle the cockpit's key walks through.
    pub fn next(self) -> Fault {
        match self {
            Fault::Healthy => Fault::Slow,
            Fault::Slow => Fault::Errors,
            Fault::Errors => Fault::Healthy,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Fault::Healthy => "healthy".into(),
            Fault::Slow => format!("slow (+{} ms per request)", Fault::SLOW_MS),
            Fault::Errors => format!("erroring ({:.0} % of requests answer 500)", Fault::ERROR_SHARE * 100.0),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The demo canary's faults, switched over its HTTP control endpoint: the demo plugs into the
/// cockpit through the metrics seam, like any lab would.
pub struct DemoFaults {
    /// Where the canary's fault is changed (`POST URL/NAME`).
    pub url: String,
}

impl crate::metrics::inject::FaultInjector for DemoFaults {
    fn faults(&self) -> Vec<crate::metrics::inject::Fault> {
        let aliases = |f: Fault| -> Vec<String> {
            let words: &[&str] = match f {
                Fault::Healthy => &["off", "none", "ok"],
                Fault::Slow => &["latency"],
                Fault::Errors => &["error", "5xx"],
            };
            words.iter().map(|w| w.to_string()).collect()
        };
        Fault::ALL
            .iter()
            .map(|&f| crate::metrics::inject::Fault { name: f.to_string(), aliases: aliases(f), description: f.describe() })
            .collect()
    }

    fn inject<'a>(&'a self, name: &'a str) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let url = format!("{}/{name}", self.url);
            match super::http::call("POST", &url, std::time::Duration::from_secs(5)).await {
                Ok((200, _)) => Ok(()),
                Ok((status, body)) => Err(format!("the demo canary answered {status}: {}", crate::logstore::sanitize::plain(body.trim()))),
                Err(e) => Err(format!("cannot reach the demo canary at {url}: {e}")),
            }
        })
    }
}
