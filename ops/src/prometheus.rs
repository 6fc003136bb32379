//! The process's Prometheus recorder and the `/metrics` answer, the same in
//! every service.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for one metric (by full name).
pub type Buckets = (&'static str, &'static [f64]);

/// Installs the process-wide recorder on first call (with `buckets`; later
/// calls' buckets are ignored) and returns its handle.
///
/// A metrics recorder is global, and tests may start a service several
/// times in one process, so it is installed once and shared. Histograms not
/// listed get summaries (quantiles), the exporter's default.
pub fn install(buckets: &[Buckets]) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = buckets
                .iter()
                .try_fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
                    builder.set_buckets_for_metric(Matcher::Full((*name).into()), buckets)
                })
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                // Someone else installed a recorder first: our handle then
                // renders nothing, which /metrics makes visible.
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// The `/metrics` response: Prometheus text format 0.0.4.
pub fn render(handle: &PrometheusHandle) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}
