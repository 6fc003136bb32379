//! POSTs line protocol to InfluxDB and classifies the answer.
//!
//! One [`InfluxWriter`] holds a pooled keep-alive `reqwest` client and the prebuilt write URL
//! (v1 `/write?db=..&precision=ms[&rp=..]` or v2 `/api/v2/write?org=..&bucket=..&precision=ms`).
//! [`InfluxWriter::write`] sends one body, optionally gzipped, with no retry: the caller owns
//! the retry policy and decides from [`WriteOutcome`] / [`WriteError`] whether to ack, split or
//! back off. A retrying caller encodes the body once ([`InfluxWriter::encode`]) and resends that
//! ([`InfluxWriter::write_encoded`]).

use std::io::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

/// Longest error text we keep from InfluxDB (its bodies may repeat whole lines).
const MAX_MESSAGE_CHARS: usize = 300;

/// Which InfluxDB write API to use.
#[derive(Debug, Clone)]
pub enum InfluxApi {
    /// POST {url}/write?db=..&precision=ms[&rp=..] (1.x native; 2.x/3.x compat).
    V1 {
        /// Database name.
        database: String,
        /// Retention policy; `None` writes to the database's default.
        retention_policy: Option<String>,
        /// User name (sent with basic auth together with `password`).
        username: Option<String>,
        /// Password.
        password: Option<String>,
    },
    /// POST {url}/api/v2/write?org=..&bucket=..&precision=ms, Authorization: Token ..
    V2 {
        /// Organisation name or id.
        org: String,
        /// Bucket name.
        bucket: String,
        /// API token.
        token: String,
    },
}

impl InfluxApi {
    /// v1 to `database`'s default retention policy, without credentials (an
    /// InfluxDB with auth off, as the local stack runs it).
    pub fn v1(database: impl Into<String>) -> Self {
        Self::V1 {
            database: database.into(),
            retention_policy: None,
            username: None,
            password: None,
        }
    }
}

/// How to reach InfluxDB.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// API and credentials.
    pub api: InfluxApi,
    /// Gzip request bodies (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Per-request timeout (connect + send + answer).
    pub timeout: Duration,
}

impl WriterConfig {
    /// gzip on for remote hosts, off for loopback (where it only costs CPU) — a helper the
    /// write service uses when the operator did not choose: `WriterConfig::default_gzip_for(url)`.
    pub fn default_gzip_for(url: &str) -> bool {
        let Ok(url) = Url::parse(url) else {
            // Unparsable URLs fail in InfluxWriter::new anyway; assume remote.
            return true;
        };
        match url.host_str() {
            Some(host) => match host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => !ip.is_loopback(),
                Err(_) => !host.eq_ignore_ascii_case("localhost"),
            },
            None => true,
        }
    }
}

/// What InfluxDB did with a body it answered without error.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// Every point was written.
    Written,
    /// InfluxDB wrote the batch except points beyond the retention policy (HTTP 400
    /// "partial write: points beyond retention policy dropped=N"): count, log, ack, never retry.
    PartiallyDropped {
        /// Points InfluxDB dropped.
        dropped: u64,
        /// InfluxDB's error text (shortened).
        message: String,
    },
}

/// Why a body was not (fully) written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// 4xx other than retention drops / auth: the batch holds a point InfluxDB will never
    /// accept (field type conflict, unparsable line, 413 too large). Not retryable as is; the
    /// caller splits the batch to find the culprit.
    #[error("InfluxDB rejected the write ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// InfluxDB's error text (shortened).
        message: String,
    },
    /// 401/403: credentials wrong; retryable after operator action (log at ERROR).
    #[error("InfluxDB refused our credentials ({status}): {message}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// InfluxDB's error text (shortened).
        message: String,
    },
    /// 5xx, 429, timeout, refused or cut connection: retry later with backoff.
    #[error("InfluxDB unavailable: {0}")]
    Unavailable(String),
    /// The writer could not be built from its configuration (bad URL, bad token, TLS).
    #[error("invalid InfluxDB writer configuration: {0}")]
    Config(String),
}

impl WriteError {
    /// True when sending the same body again later may succeed (unavailable, or credentials
    /// that an operator can fix). Rejected bodies must be split, not resent.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Unauthorized { .. })
    }
}

/// Sends line-protocol bodies to one InfluxDB. Cheap to clone (shares the connection pool).
#[derive(Debug, Clone)]
pub struct InfluxWriter {
    client: reqwest::Client,
    write_url: Url,
    ping_url: Url,
    auth: Auth,
    gzip: bool,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic { user: String, password: String },
    Header(HeaderValue),
}

impl InfluxWriter {
    /// Builds the client and URLs. Binaries must install a rustls crypto provider first.
    pub fn new(config: WriterConfig) -> Result<Self, WriteError> {
        let base = Url::parse(&config.url)
            .map_err(|e| WriteError::Config(format!("INFLUX URL {:?}: {e}", config.url)))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(WriteError::Config(format!(
                "INFLUX URL {:?} is not an http(s) URL",
                config.url
            )));
        }
        // reqwest built with `rustls-no-provider` panics without a process-wide provider;
        // turn that misconfiguration into an error instead.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(WriteError::Config(
                "no rustls crypto provider installed: call \
                 rustls::crypto::ring::default_provider().install_default() at startup"
                    .into(),
            ));
        }
        let endpoint = |segments: &[&str]| {
            let mut url = base.clone();
            url.set_query(None);
            if let Ok(mut path) = url.path_segments_mut() {
                // Keeps any path prefix of a reverse proxy: {url}/write.
                path.pop_if_empty().extend(segments);
            }
            url
        };
        let (mut write_url, auth) = match &config.api {
            InfluxApi::V1 {
                database,
                retention_policy,
                username,
                password,
            } => {
                let mut url = endpoint(&["write"]);
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("db", database);
                    if let Some(rp) = retention_policy {
                        q.append_pair("rp", rp);
                    }
                }
                // Basic auth rather than u/p query parameters: keeps secrets out of URLs that
                // end up in logs and proxies.
                let auth = match (username, password) {
                    (Some(user), password) => Auth::Basic {
                        user: user.clone(),
                        password: password.clone().unwrap_or_default(),
                    },
                    (None, _) => Auth::None,
                };
                (url, auth)
            }
            InfluxApi::V2 { org, bucket, token } => {
                let mut url = endpoint(&["api", "v2", "write"]);
                url.query_pairs_mut()
                    .append_pair("org", org)
                    .append_pair("bucket", bucket);
                let mut header = HeaderValue::from_str(&format!("Token {token}"))
                    .map_err(|_| WriteError::Config("INFLUX_TOKEN is not a valid header".into()))?;
                header.set_sensitive(true);
                (url, Auth::Header(header))
            }
        };
        write_url.query_pairs_mut().append_pair("precision", "ms");
        let ping_url = endpoint(&["ping"]);
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // A redirect on a POST would resend (or drop) the body; treat it as an error.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WriteError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            write_url,
            ping_url,
            auth,
            gzip: config.gzip,
        })
    }

    /// The write URL this writer POSTs to (no credentials in it).
    pub fn write_url(&self) -> &str {
        self.write_url.as_str()
    }

    /// One POST of a whole line-protocol body. No retry inside: the caller owns retry policy.
    pub async fn write(&self, body: &[u8]) -> Result<WriteOutcome, WriteError> {
        self.write_encoded(&self.encode(body)).await
    }

    /// The request body for `body`: gzipped when this writer gzips, else a copy. Build it once
    /// and pass it to [`write_encoded`](Self::write_encoded) on every attempt of a retry.
    pub fn encode(&self, body: &[u8]) -> Bytes {
        if self.gzip {
            Bytes::from(gzip(body))
        } else {
            Bytes::copy_from_slice(body)
        }
    }

    /// One POST of a body from [`encode`](Self::encode) (sending it shares the buffer, no copy).
    pub async fn write_encoded(&self, body: &Bytes) -> Result<WriteOutcome, WriteError> {
        let mut request = self
            .authorize(self.client.post(self.write_url.clone()))
            .header(CONTENT_TYPE, "text/plain; charset=utf-8");
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = request
            .body(body.clone())
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(WriteOutcome::Written);
        }
        let text = response.text().await.unwrap_or_default();
        classify(status, &text)
    }

    /// GET /ping: InfluxDB reachable (for /healthz and startup checks).
    pub async fn ping(&self) -> Result<(), WriteError> {
        let response = self
            .authorize(self.client.get(self.ping_url.clone()))
            .send()
            .await
            .map_err(network_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        classify(status, &text).map(|_| ())
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => request,
            Auth::Basic { user, password } => request.basic_auth(user, Some(password)),
            Auth::Header(value) => request.header(AUTHORIZATION, value.clone()),
        }
    }
}

/// Gzips `body` with the fast level: writes are CPU-bound on a Pi-class box, and level 1 gets
/// most of the ratio on repetitive line protocol.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    // Writing into a Vec never fails, so neither can compressing into one.
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .expect("gzip into memory cannot fail")
}

fn network_error(error: reqwest::Error) -> WriteError {
    WriteError::Unavailable(shorten(&describe_request_error(&error)))
}

/// What went wrong with an HTTP request, for a log line: the kind (timed
/// out, connect failed, …) and the whole cause chain, which reqwest's
/// `Display` hides (connection refused, reset, …). Other Wattline HTTP
/// clients use it too, so their errors read alike.
pub fn describe_request_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connect failed"
    } else {
        "request failed"
    };
    let mut message = format!("{kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Maps a non-2xx answer to an outcome or error.
fn classify(status: StatusCode, body: &str) -> Result<WriteOutcome, WriteError> {
    // Parsed once; retention drops are matched on the full text (dropped=N sits at the end).
    let full = error_text(body);
    let message = shorten(&full);
    let code = status.as_u16();
    match code {
        401 | 403 => Err(WriteError::Unauthorized {
            status: code,
            message,
        }),
        429 => Err(WriteError::Unavailable(format!("{status}: {message}"))),
        400..=499 => match retention_dropped(&full) {
            Some(dropped) => Ok(WriteOutcome::PartiallyDropped { dropped, message }),
            None => Err(WriteError::Rejected {
                status: code,
                message,
            }),
        },
        _ => Err(WriteError::Unavailable(format!("{status}: {message}"))),
    }
}

/// InfluxDB's `{"error": "..."}` text, or the raw body when it is not that JSON.
pub(crate) fn error_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

/// `Some(N)` for InfluxDB's "partial write: points beyond retention policy dropped=N". Other
/// partial writes (field type conflicts, unparsable lines) are rejections, not drops.
pub fn retention_dropped(message: &str) -> Option<u64> {
    if !message.contains("partial write") || !message.contains("beyond retention policy") {
        return None;
    }
    let rest = &message[message.rfind("dropped=")? + "dropped=".len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

/// Cuts `text` to about [`MAX_MESSAGE_CHARS`] characters (on a char boundary).
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_parser() {
        assert_eq!(
            retention_dropped("partial write: points beyond retention policy dropped=1"),
            Some(1)
        );
        assert_eq!(
            retention_dropped("partial write: points beyond retention policy dropped=4500"),
            Some(4500)
        );
        assert_eq!(
            retention_dropped(
                "partial write: field type conflict: input field \"watts\" on measurement \
                 \"power\" is type float, already exists as type string dropped=1"
            ),
            None
        );
        assert_eq!(
            retention_dropped("partial write: points beyond retention policy dropped="),
            None
        );
        assert_eq!(retention_dropped("unable to parse 'x': dropped=3"), None);
    }

    #[test]
    fn gzip_for_loopback_rule() {
        for url in [
            "http://127.0.0.1:8086",
            "http://127.1.2.3:8086",
            "http://localhost:8086",
            "http://LOCALHOST",
            "http://[::1]:8086",
        ] {
            assert!(!WriterConfig::default_gzip_for(url), "{url}");
        }
        for url in [
            "http://10.0.0.5:8086",
            "https://influx.example.com",
            "http://[2001:db8::1]:8086",
            "not a url",
        ] {
            assert!(WriterConfig::default_gzip_for(url), "{url}");
        }
    }

    #[test]
    fn classification() {
        let s = |c| StatusCode::from_u16(c).expect("status");
        assert_eq!(
            classify(
                s(400),
                r#"{"error":"partial write: points beyond retention policy dropped=2"}"#
            )
            .ok(),
            Some(WriteOutcome::PartiallyDropped {
                dropped: 2,
                message: "partial write: points beyond retention policy dropped=2".into()
            })
        );
        assert!(matches!(
            classify(s(400), r#"{"error":"unable to parse 'x'"}"#),
            Err(WriteError::Rejected { status: 400, ref message }) if message == "unable to parse 'x'"
        ));
        assert!(matches!(
            classify(s(413), "too large"),
            Err(WriteError::Rejected { status: 413, .. })
        ));
        assert!(matches!(
            classify(s(401), "{}"),
            Err(WriteError::Unauthorized { status: 401, .. })
        ));
        assert!(matches!(
            classify(s(429), ""),
            Err(WriteError::Unavailable(_))
        ));
        assert!(matches!(
            classify(s(503), ""),
            Err(WriteError::Unavailable(_))
        ));
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(5000));
        match classify(s(400), &long) {
            Err(WriteError::Rejected { message, .. }) => {
                assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn retryability() {
        assert!(WriteError::Unavailable("x".into()).is_retryable());
        assert!(WriteError::Unauthorized {
            status: 401,
            message: String::new()
        }
        .is_retryable());
        assert!(!WriteError::Rejected {
            status: 400,
            message: String::new()
        }
        .is_retryable());
    }

    #[test]
    fn urls() {
        testkit::init_crypto();
        let w = InfluxWriter::new(WriterConfig {
            url: "http://127.0.0.1:8086/".into(),
            api: InfluxApi::V1 {
                database: "watt line".into(),
                retention_policy: Some("rp&1".into()),
                username: None,
                password: None,
            },
            gzip: false,
            timeout: Duration::from_secs(1),
        })
        .expect("writer");
        assert_eq!(
            w.write_url(),
            "http://127.0.0.1:8086/write?db=watt+line&rp=rp%261&precision=ms"
        );
        assert!(InfluxWriter::new(WriterConfig {
            url: "ftp://x".into(),
            api: InfluxApi::V2 {
                org: "o".into(),
                bucket: "b".into(),
                token: "t".into()
            },
            gzip: true,
            timeout: Duration::from_secs(1),
        })
        .is_err());
    }
}
