//! The reverse proxy: which service answers an API path, and passing the
//! request there and the answer back, streamed.
//!
//! Answers stream: live power is a never-ending `text/event-stream` that
//! must reach the browser event by event, and a year's CSV export must not
//! sit in the gateway's memory. Nothing is decompressed or re-encoded:
//! services compress their own answers. Request bodies (a few JSON fields
//! in this API) are read whole first, within `--max-body-bytes` and
//! `--body-timeout`, and passed on with their length: so a slow or endless
//! upload ends here, and a body sent chunked with any method (a GET's too,
//! which the HTTP client would otherwise drop) reaches the service to be
//! judged by its own limit.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;
use wattline_ops::http;

use crate::config::{Config, Upstream};
use crate::error::{self, ApiError};
use crate::telemetry;

/// A service behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// auth-service: accounts, households, devices, the JWKS.
    Auth,
    /// read-service: power, energy, export, live.
    Read,
}

impl Service {
    /// The service that answers `path`, or `None` for paths the gateway
    /// serves itself (the dashboard, /healthz, /metrics).
    pub fn for_path(path: &str) -> Option<Self> {
        const AUTH_PREFIXES: [&str; 4] = [
            "/api/auth/",
            "/api/household",
            "/api/devices",
            "/.well-known/",
        ];
        if path == "/api/auth" || AUTH_PREFIXES.iter().any(|p| path.starts_with(p)) {
            Some(Self::Auth)
        } else if path == "/api" || path.starts_with("/api/") {
            Some(Self::Read)
        } else {
            None
        }
    }

    /// Its label in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Read => "read",
        }
    }

    /// Its name in error messages.
    fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth service",
            Self::Read => "read service",
        }
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1),
/// so they are never passed on; `host` is the upstream's own.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Passes requests to the services.
#[derive(Debug, Clone)]
pub struct Proxy {
    client: reqwest::Client,
    auth: Upstream,
    read: Upstream,
    max_body_bytes: u64,
    body_timeout: Duration,
    upstream_timeout: Duration,
    /// Cancelled at shutdown: ends the responses still streaming (live
    /// power never ends by itself, and a graceful stop waits for every
    /// response to finish).
    shutdown: CancellationToken,
}

impl Proxy {
    /// A proxy for `config`'s services. Needs a rustls crypto provider
    /// installed (for https upstreams), as every Wattline binary does.
    pub fn new(config: &Config, shutdown: CancellationToken) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            // A proxy passes redirects on; the browser follows them.
            .redirect(reqwest::redirect::Policy::none())
            // Bodies pass through as encoded: the browser decompresses.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            // Below the services' --header-read-timeout (30 s by default),
            // after which they close an idle connection: the pool drops it
            // first, rather than sending a request on one being closed.
            .pool_idle_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            client,
            auth: config.auth_url.clone(),
            read: config.read_url.clone(),
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout,
            upstream_timeout: config.upstream_timeout,
            shutdown,
        })
    }

    /// The base URL of `service`.
    pub fn upstream(&self, service: Service) -> &Upstream {
        match service {
            Service::Auth => &self.auth,
            Service::Read => &self.read,
        }
    }

    /// The client the proxy uses (also for health checks).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Passes `request` to `service` and streams its answer back; the
    /// gateway's own JSON error if the service cannot be reached.
    pub async fn forward(&self, service: Service, request: Request) -> Response {
        match self.try_forward(service, request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn try_forward(&self, service: Service, request: Request) -> Result<Response, ApiError> {
        let client_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let (parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        // The path and query exactly as the client sent them (still
        // percent-encoded): the service decodes them itself.
        let url = format!("{}{path_and_query}", self.upstream(service));

        let declared_length = http::declared_length(&parts.headers);
        if declared_length.is_some_and(|length| length > self.max_body_bytes) {
            return Err(error::body_too_large(self.max_body_bytes));
        }
        let has_body = declared_length.is_some_and(|length| length > 0)
            || parts.headers.contains_key(header::TRANSFER_ENCODING);

        let mut upstream_request = self
            .client
            .request(parts.method, url)
            .headers(forwarded_headers(&parts.headers, client_ip));
        if has_body {
            let limit = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
            let body = tokio::time::timeout(self.body_timeout, http::read_body(body, limit))
                .await
                .map_err(|_| http::request_timeout(self.body_timeout))??;
            upstream_request = upstream_request.body(body);
        }

        let started = Instant::now();
        let answer = tokio::time::timeout(self.upstream_timeout, upstream_request.send()).await;
        let upstream_response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                telemetry::upstream_failed(service.label(), "unavailable", &error);
                return Err(error::upstream_unavailable(service.name()));
            }
            Err(_) => {
                telemetry::upstream_failed(service.label(), "timeout", &"no answer in time");
                return Err(error::upstream_timeout(service.name()));
            }
        };
        telemetry::upstream_answered(service.label(), started.elapsed());

        let status = upstream_response.status();
        let mut headers = HeaderMap::with_capacity(upstream_response.headers().len());
        copy_end_to_end(upstream_response.headers(), &mut headers);
        let shutdown = self.shutdown.clone().cancelled_owned();
        let label = service.label();
        let body = upstream_response
            .bytes_stream()
            // The head is sent: a failure now can only cut the body short
            // (the client sees an incomplete response), so it is logged here.
            .inspect_err(move |error| telemetry::upstream_failed(label, "mid_stream", error))
            .take_until(shutdown);
        let mut response = Response::new(Body::from_stream(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// The headers to send upstream: the client's, minus hop-by-hop ones and
/// `host`, plus `X-Forwarded-For` (the client's address appended to any the
/// client sent: services trust only the last entry), `X-Forwarded-Proto` and
/// `X-Forwarded-Host`.
pub fn forwarded_headers(incoming: &HeaderMap, client_ip: Option<IpAddr>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(incoming.len() + 3);
    copy_end_to_end(incoming, &mut headers);
    headers.remove(header::HOST);
    headers.remove("x-forwarded-for");
    headers.remove("x-forwarded-proto");
    headers.remove("x-forwarded-host");

    let earlier: Vec<&str> = incoming
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect();
    let mut chain = earlier.join(", ");
    if let Some(ip) = client_ip {
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&ip.to_string());
    }
    if let Ok(value) = HeaderValue::from_str(&chain) {
        if !chain.is_empty() {
            headers.insert("x-forwarded-for", value);
        }
    }
    // This listener speaks plain HTTP; TLS, where there is any, ends in
    // front of it.
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(host) = incoming.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
    headers
}

/// Copies `from` into `to` without the hop-by-hop headers, including those
/// that `Connection` names.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named_by_connection: Vec<HeaderName> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for (name, value) in from {
        let hop_by_hop = HOP_BY_HOP.contains(&name.as_str()) || named_by_connection.contains(name);
        if !hop_by_hop {
            to.append(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_household_and_device_paths_go_to_auth_service_the_rest_of_the_api_to_read_service() {
        let auth = [
            "/api/auth/login",
            "/api/auth/refresh",
            "/api/household",
            "/api/household/settings",
            "/api/household/members/u-1",
            "/api/devices",
            "/api/devices/d-1/secret",
            "/.well-known/jwks.json",
        ];
        for path in auth {
            assert_eq!(Service::for_path(path), Some(Service::Auth), "{path}");
        }
        let read = [
            "/api/sockets",
            "/api/power",
            "/api/live",
            "/api/export.csv",
            "/api/openapi.json",
            "/api/authx",
        ];
        for path in read {
            assert_eq!(Service::for_path(path), Some(Service::Read), "{path}");
        }
        for path in [
            "/",
            "/index.html",
            "/assets/app-1234.js",
            "/sockets/d-1",
            "/apix",
            "/healthz",
        ] {
            assert_eq!(Service::for_path(path), None, "{path}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_headers_stay_behind_and_the_rest_pass() {
        let incoming = headers(&[
            ("host", "dash.example.org"),
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("authorization", "Bearer abc"),
            ("cookie", "wattline_refresh=r"),
            ("accept-encoding", "br, gzip"),
            ("content-type", "application/json"),
        ]);
        let out = forwarded_headers(&incoming, Some("192.0.2.7".parse().expect("ip")));
        for gone in [
            "connection",
            "keep-alive",
            "x-secret-hop",
            "te",
            "upgrade",
            "host",
        ] {
            assert!(!out.contains_key(gone), "{gone} passed");
        }
        assert_eq!(out["authorization"], "Bearer abc");
        assert_eq!(out["cookie"], "wattline_refresh=r");
        assert_eq!(out["accept-encoding"], "br, gzip");
        assert_eq!(out["x-forwarded-for"], "192.0.2.7");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert_eq!(out["x-forwarded-host"], "dash.example.org");
    }

    #[test]
    fn the_client_address_is_appended_to_any_forwarded_for_chain() {
        let incoming = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-for", "198.51.100.2, 10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let out = forwarded_headers(&incoming, Some("::1".parse().expect("ip")));
        assert_eq!(
            out.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
            ["203.0.113.1, 198.51.100.2, 10.0.0.1, ::1"]
        );
        // What the client claims about the scheme is not believed.
        assert_eq!(out["x-forwarded-proto"], "http");
    }
}
