//! The recording proxy: read-service's `--influx-url` points here while one
//! user opens every view once, and each `/query` it forwards to InfluxDB is
//! kept (method, path and query string, content type, body) with when it
//! started and ended. So the baseline replays exactly the InfluxQL
//! read-service sent, without perf knowing how read-service builds it.
//!
//! The recording pass sends one API request at a time, so whatever arrives
//! between a request's start and its answer is that request's InfluxQL.
//! Statements that overlapped in time were sent together (read-service joins
//! some); [`stages`] turns the timings into the order to replay them in.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

/// One InfluxDB request, as sent: enough to send it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub method: Method,
    /// Path and query string, e.g. `/query?db=…` (or just `/query` for a form POST).
    pub path_and_query: String,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// A statement and when the proxy saw it start and end.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub statement: Statement,
    pub started: Instant,
    pub ended: Instant,
}

/// Statements to send in order; the statements of one stage together.
pub type Stages = Vec<Vec<Statement>>;

/// Groups `records` into stages: a statement that started before every
/// statement of the current stage had ended was sent alongside them (joined);
/// one that started after they all ended waited for them.
pub fn stages(mut records: Vec<Recorded>) -> Stages {
    records.sort_by_key(|r| r.started);
    let mut stages: Stages = Vec::new();
    let mut stage_end: Option<Instant> = None;
    for record in records {
        match stage_end {
            Some(end) if record.started < end => {
                stage_end = Some(end.max(record.ended));
                if let Some(stage) = stages.last_mut() {
                    stage.push(record.statement);
                }
            }
            _ => {
                stage_end = Some(record.ended);
                stages.push(vec![record.statement]);
            }
        }
    }
    stages
}

#[derive(Debug)]
struct Shared {
    http: reqwest::Client,
    target: String,
    records: Mutex<Vec<Recorded>>,
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl RecordingProxy {
    /// Listens on a free loopback port and forwards everything to `target`
    /// (InfluxDB's base URL).
    pub async fn start(target: &str) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            target: target.trim_end_matches('/').to_owned(),
            records: Mutex::new(Vec::new()),
        });
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let until = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(until)
                .await
            {
                tracing::warn!(error = %e, "recording proxy stopped");
            }
        });
        Ok(Self { addr, shared, stop })
    }

    /// The URL to give read-service as `--influx-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `/query` requests recorded since the last call, and forgets them.
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(
            &mut *self
                .shared
                .records
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Forwards one request to InfluxDB; records it if it is a query.
async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let started = Instant::now();
    let mut request = shared
        .http
        .request(method.clone(), format!("{}{path_and_query}", shared.target))
        .body(body.clone());
    for (name, value) in &headers {
        // Hop-by-hop and length headers are the client's business.
        if name != header::HOST && name != header::CONTENT_LENGTH && name != header::CONNECTION {
            request = request.header(name, value);
        }
    }
    let answer = async {
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, bytes))
    }
    .await;
    let ended = Instant::now();
    if uri.path() == "/query" {
        shared
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Recorded {
                statement: Statement {
                    method,
                    path_and_query,
                    content_type,
                    body,
                },
                started,
                ended,
            });
    }
    match answer {
        Ok((status, headers, bytes)) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            for name in [header::CONTENT_TYPE, header::CONTENT_ENCODING] {
                if let Some(value) = headers.get(&name) {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("recording proxy: {e}")).into_response(),
    }
}

/// Sends one recorded statement to InfluxDB at `base`; fails on a non-2xx
/// answer or an InfluxQL error in the body.
pub async fn send(http: &reqwest::Client, base: &str, statement: &Statement) -> Result<()> {
    let mut request = http
        .request(
            statement.method.clone(),
            format!("{base}{}", statement.path_and_query),
        )
        .body(statement.body.clone());
    if let Some(content_type) = &statement.content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = request.send().await.context("InfluxDB")?;
    let status = response.status();
    let body = response.bytes().await.context("InfluxDB answer")?;
    anyhow::ensure!(status.is_success(), "InfluxDB answered {status}");
    // An InfluxQL error comes with a 200: `"error":` in the results.
    anyhow::ensure!(
        !contains(&body, b"\"error\":"),
        "InfluxDB refused the statement: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(q: &str, started_ms: u64, ended_ms: u64, t0: Instant) -> Recorded {
        Recorded {
            statement: Statement {
                method: Method::POST,
                path_and_query: "/query".into(),
                content_type: None,
                body: Bytes::from(q.to_owned()),
            },
            started: t0 + Duration::from_millis(started_ms),
            ended: t0 + Duration::from_millis(ended_ms),
        }
    }

    fn names(stages: &Stages) -> Vec<Vec<String>> {
        stages
            .iter()
            .map(|s| {
                s.iter()
                    .map(|st| String::from_utf8_lossy(&st.body).into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn overlapping_statements_share_a_stage_and_later_ones_wait() {
        let t0 = Instant::now();
        let records = vec![
            record("c", 12, 20, t0), // after a and b ended: waited for them
            record("b", 1, 8, t0),   // while a ran: joined
            record("a", 0, 10, t0),
            record("d", 15, 16, t0), // while c ran
        ];
        assert_eq!(
            names(&stages(records)),
            vec![vec!["a", "b"], vec!["c", "d"]]
        );
        assert!(stages(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn the_proxy_forwards_and_records_queries_only() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The upstream: a tiny server answering every request with its own path.
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_url = format!("http://{}", upstream.local_addr().unwrap());
        let app = axum::Router::new().fallback(|uri: Uri, body: Bytes| async move {
            (
                [(header::CONTENT_TYPE, "application/json")],
                format!("{}|{}", uri, String::from_utf8_lossy(&body)),
            )
        });
        tokio::spawn(async move { axum::serve(upstream, app).await });

        let proxy = RecordingProxy::start(&upstream_url).await.unwrap();
        let http = reqwest::Client::new();
        let answer = http
            .post(format!("{}/query?db=x", proxy.url()))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("q=SELECT+1")
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
        assert_eq!(answer.text().await.unwrap(), "/query?db=x|q=SELECT+1");
        let ping = http
            .get(format!("{}/ping", proxy.url()))
            .send()
            .await
            .unwrap();
        assert!(ping.status().is_success());

        let recorded = proxy.take();
        assert_eq!(recorded.len(), 1, "the ping is forwarded, not recorded");
        let statement = &recorded[0].statement;
        assert_eq!(statement.method, Method::POST);
        assert_eq!(statement.path_and_query, "/query?db=x");
        assert_eq!(
            statement.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(&statement.body[..], b"q=SELECT+1");
        assert!(proxy.take().is_empty(), "taken once");
        send(&http, &upstream_url, statement).await.unwrap();
    }
}
