//! The Prometheus exporter: `metrics-exporter-prometheus`'s recorder, installed once per
//! process before `serve` builds anything (the library's parts take their handles when they
//! are made: [`registryo_core::telemetry`]), rendered by the router's own `/metrics`
//! (`registryo_http::metrics`, which checks who asks) rather than by a listener of its own.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use registryo_core::telemetry;
use registryo_http::metrics::MetricsEndpoint;

use crate::config::Settings;

/// How often histogram samples are folded into their buckets (the exporter keeps raw samples
/// until then, or until a scrape).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder: installed at the first call, the same handle afterwards.
pub fn install() -> Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        // Every histogram of ours is in seconds: buckets, not summaries.
        .set_buckets(telemetry::SECONDS_BUCKETS)
        .context("metrics buckets")?
        .build_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder)
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    telemetry::describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Folds histogram samples into buckets every [`UPKEEP_EVERY`], so that memory stays flat
/// however rarely Prometheus scrapes.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// `/metrics` from the settings: rendering `handle`, for `metrics_allow`, with
/// `metrics_token` when set.
pub fn endpoint(settings: &Settings, handle: PrometheusHandle) -> Result<MetricsEndpoint> {
    let token = settings.metrics_token.expose();
    Ok(MetricsEndpoint::new(move || handle.render())
        .allow(&settings.metrics_allow)
        .context("metrics_allow")?
        .token((!token.is_empty()).then_some(token)))
}
