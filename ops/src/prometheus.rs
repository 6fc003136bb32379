//! The process's Prometheus recorder, the `/metrics` answer and the count
//! of HTTP requests, the same in every service.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
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

/// The `/metrics` route: GET renders `handle`.
pub fn route<S: Clone + Send + Sync + 'static>(handle: PrometheusHandle) -> MethodRouter<S> {
    get(move || std::future::ready(render(&handle)))
}

/// The names of a service's HTTP metrics (`wattline_<service>_http_…`).
#[derive(Debug, Clone, Copy)]
pub struct HttpMetrics {
    /// Counter of requests, by route, method and status.
    pub requests: &'static str,
    /// Histogram of the time to the response head, by route and method.
    pub duration: &'static str,
}

/// Middleware (`axum::middleware::from_fn_with_state(names, count_requests)`)
/// that counts requests and their latency by matched route and status.
pub async fn count_requests(
    State(names): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    // Clients may send any method name: only the standard ones become label
    // values, so a scanner cannot grow the metrics without bound.
    let method = match *request.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => request.method().as_str(),
        _ => "other",
    }
    .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("route", route),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(names.requests, &labels).increment(1);
    metrics::histogram!(names.duration, &labels[..2]).record(started.elapsed().as_secs_f64());
    response
}
