//! The demo's load generator (`flightdeck demo-traffic`, hidden): a steady stream of requests to
//! each target, so the canary and stable always have traffic to judge.

use std::time::Duration;

use anyhow::Context;
use tokio::time::MissedTickBehavior;

/// Requests in flight per target beyond which ticks are skipped (a hung target must not pile up
/// thousands of connections).
const MAX_IN_FLIGHT: usize = 256;

pub fn run(targets: Vec<String>, rps: u32) -> anyhow::Result<()> {
    anyhow::ensure!(!targets.is_empty(), "give at least one --target URL");
    anyhow::ensure!(rps > 0, "--rps must be at least 1");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for url in targets {
            tasks.push(tokio::spawn(drive(url, rps)));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok(())
}

async fn drive(url: String, rps: u32) {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Ok(permit) = gate.clone().try_acquire_owned() else { continue };
        let url = url.clone();
        tokio::spawn(async move {
            let _ = super::http::call("GET", &url, Duration::from_secs(10)).await;
            drop(permit);
        });
    }
}
