//! auth-service's device registry over HTTP: [`AuthDirectory`].
//!
//! The contract (auth-service's internal listener, `--auth-url`):
//! `GET {AUTH_URL}/internal/devices/{device_id}`, the device id as one
//! percent-encoded path segment, answers
//! - 200 `{"device_id": "…", "household_id": "…"}`: the household;
//! - 404 `{"error": {"code": "unknown_device", …}}`: no such device;
//! - anything else (another status, a timeout, a refused connection, a body
//!   that does not parse): the directory is unavailable, and the consumer
//!   holds the message and retries.
//!
//! One client is built per directory and keeps its connections alive. Every
//! lookup waits for its answer before the consumer takes the next delivery,
//! so the timeouts are short; [`super::CachedDirectory`] in front answers
//! almost every lookup from memory and keeps known devices flowing while
//! auth-service is down.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tracing::Instrument;

use super::{DirectoryError, HouseholdDirectory};
use crate::ids::{DeviceId, HouseholdId};

/// Timeout of one lookup, from sending to the last byte of the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Timeout of establishing a connection: auth-service's internal listener
/// sits next to us, so a slow connect means it is gone.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest part of an unexpected answer kept in an error message.
const MAX_BODY_CHARS: usize = 200;

/// auth-service's internal base URL (`--auth-url`): http or https, a path
/// prefix allowed (a reverse proxy's), no query or fragment. A password in
/// it is masked when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthUrl(Url);

impl AuthUrl {
    /// The URL as given.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// `{url}/internal/devices/`: a device's URL is this plus its encoded id.
    fn devices_prefix(&self) -> String {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Keeps a path prefix, with or without its trailing slash.
            path.pop_if_empty().extend(["internal", "devices", ""]);
        }
        url.into()
    }
}

impl FromStr for AuthUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(format!("{s:?} is not an http(s) URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{s:?}: a query or fragment makes no sense here"));
        }
        Ok(Self(url))
    }
}

impl fmt::Display for AuthUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.password().is_some() {
            let mut masked = self.0.clone();
            let _ = masked.set_password(Some("***"));
            f.write_str(masked.as_str())
        } else {
            f.write_str(self.0.as_str())
        }
    }
}

impl fmt::Debug for AuthUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Why an [`AuthDirectory`] could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthDirectoryError {
    #[error(
        "no rustls crypto provider installed: call \
         rustls::crypto::ring::default_provider().install_default() at startup"
    )]
    NoCryptoProvider,
    #[error("cannot build the auth-service HTTP client: {0}")]
    Client(String),
}

/// Looks devices up in auth-service's registry (see the module docs).
#[derive(Clone)]
pub struct AuthDirectory {
    base: AuthUrl,
    devices_prefix: String,
    client: reqwest::Client,
}

impl fmt::Debug for AuthDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthDirectory")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl AuthDirectory {
    /// A directory asking the auth-service at `base`, with the default
    /// timeouts. Binaries must install a rustls crypto provider first.
    pub fn new(base: &AuthUrl) -> Result<Self, AuthDirectoryError> {
        Self::with_timeouts(base, REQUEST_TIMEOUT, CONNECT_TIMEOUT)
    }

    /// [`new`](Self::new) with other timeouts (tests of a hung server).
    pub fn with_timeouts(
        base: &AuthUrl,
        request: Duration,
        connect: Duration,
    ) -> Result<Self, AuthDirectoryError> {
        // reqwest built with `rustls-no-provider` panics without a
        // process-wide provider, even for http URLs: an error instead.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(AuthDirectoryError::NoCryptoProvider);
        }
        let client = reqwest::Client::builder()
            .timeout(request)
            .connect_timeout(connect)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // The internal listener never redirects; following one could
            // land on a page whose 404 reads as "unknown device".
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthDirectoryError::Client(e.to_string()))?;
        Ok(Self {
            base: base.clone(),
            devices_prefix: base.devices_prefix(),
            client,
        })
    }

    /// The URL `device` is looked up at, `None` for the ids `.` and `..`:
    /// URL parsers (WHATWG's, which reqwest uses, and RFC 3986's) resolve
    /// these segments, encoded or not, so no request can carry them.
    pub fn device_url(&self, device: &DeviceId) -> Option<Url> {
        device_url(&self.devices_prefix, device)
    }

    async fn lookup(&self, device: &DeviceId) -> Result<Option<HouseholdId>, DirectoryError> {
        let Some(url) = self.device_url(device) else {
            // Holding the message would block the queue for good; the dead
            // letter keeps it, and says which device.
            tracing::error!(
                %device,
                "device id is a dot segment, which no URL can carry to auth-service; \
                 treating it as an unknown device"
            );
            return Ok(None);
        };
        let response = self.client.get(url).send().await.map_err(network_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(network_error)?;
        match status {
            StatusCode::OK => household_from(device, &body),
            StatusCode::NOT_FOUND => unknown_device_from(device, &body),
            _ => Err(DirectoryError(format!(
                "auth-service answered {status}: {}",
                excerpt(&body)
            ))),
        }
    }
}

impl HouseholdDirectory for AuthDirectory {
    fn household_of<'a>(
        &'a self,
        device: &'a DeviceId,
    ) -> BoxFuture<'a, Result<Option<HouseholdId>, DirectoryError>> {
        let span = tracing::debug_span!("household_lookup", %device);
        Box::pin(self.lookup(device).instrument(span))
    }
}

/// The 200 answer.
#[derive(Debug, Deserialize)]
struct DeviceFound {
    /// Optional so that an auth-service leaving it out still works; when
    /// present it must be the device asked about.
    device_id: Option<String>,
    household_id: String,
}

/// The 404 answer (only the part we check).
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
}

/// A 200 body → the household. A body that breaks the contract is an
/// operator's problem (ERROR) and makes the directory unavailable: storing
/// readings under a wrong or mangled household would be worse than waiting.
fn household_from(device: &DeviceId, body: &[u8]) -> Result<Option<HouseholdId>, DirectoryError> {
    let broken = |what: String| {
        tracing::error!(%device, what, "auth-service broke the device lookup contract");
        DirectoryError(format!("auth-service: {what}"))
    };
    let found: DeviceFound = serde_json::from_slice(body)
        .map_err(|e| broken(format!("unexpected 200 body ({e}): {}", excerpt(body))))?;
    if let Some(id) = found.device_id.filter(|id| id != device.as_str()) {
        return Err(broken(format!(
            "asked for device {:?}, answered for {id:?}",
            device.as_str()
        )));
    }
    HouseholdId::parse(&found.household_id)
        .map(Some)
        .map_err(|e| broken(format!("household id {:?}: {e}", found.household_id)))
}

/// A 404 means "unknown device" only with the contract's error code: a 404
/// from anything else (a wrong `--auth-url`, a proxy, the public listener)
/// would otherwise dead-letter every device's readings.
fn unknown_device_from(
    device: &DeviceId,
    body: &[u8],
) -> Result<Option<HouseholdId>, DirectoryError> {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) if error.code == "unknown_device" => Ok(None),
        _ => {
            let message = format!(
                "404 without error code unknown_device (is --auth-url auth-service's \
                 internal listener?): {}",
                excerpt(body)
            );
            tracing::error!(%device, message, "auth-service broke the device lookup contract");
            Err(DirectoryError(format!("auth-service: {message}")))
        }
    }
}

/// `prefix` (ending in `/`) plus `device` as one path segment.
fn device_url(prefix: &str, device: &DeviceId) -> Option<Url> {
    if matches!(device.as_str(), "." | "..") {
        return None;
    }
    let mut url = String::with_capacity(prefix.len() + device.as_str().len() * 3);
    url.push_str(prefix);
    push_path_segment(&mut url, device.as_str());
    // Only unreserved characters and %XX escapes follow a valid prefix, so
    // this parses, and the path stays exactly as written.
    Url::parse(&url).ok()
}

/// Appends `segment` with every byte outside RFC 3986's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`) percent-encoded: `/`, `%`, `?`, `#`, spaces,
/// commas, quotes and every non-ASCII byte among them. Stricter than the
/// `url` crate's segment encoding, which leaves `,;=@:` and more alone.
pub fn push_path_segment(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in segment.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

fn network_error(error: reqwest::Error) -> DirectoryError {
    DirectoryError(format!(
        "auth-service {}",
        wattline_influx::describe_request_error(&error)
    ))
}

/// The start of a body, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(MAX_BODY_CHARS).collect();
    if text.chars().nth(MAX_BODY_CHARS).is_some() {
        excerpt.push('…');
    }
    excerpt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str) -> DeviceId {
        DeviceId::parse(id).unwrap()
    }

    fn encoded(segment: &str) -> String {
        let mut out = String::new();
        push_path_segment(&mut out, segment);
        out
    }

    #[test]
    fn everything_outside_unreserved_characters_is_percent_encoded() {
        assert_eq!(encoded("a/b c%?#é"), "a%2Fb%20c%25%3F%23%C3%A9");
        assert_eq!(encoded("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(
            encoded("a,b;c=d@e:f+g&h'i\"j!k$l(m)n*o[p]q"),
            "a%2Cb%3Bc%3Dd%40e%3Af%2Bg%26h%27i%22j%21k%24l%28m%29n%2Ao%5Bp%5Dq"
        );
        assert_eq!(encoded("Küche 🔌"), "K%C3%BCche%20%F0%9F%94%8C");
    }

    #[test]
    fn an_awkward_id_becomes_exactly_one_path_segment() {
        let base: AuthUrl = "http://auth.internal:8091".parse().unwrap();
        let prefix = base.devices_prefix();
        assert_eq!(prefix, "http://auth.internal:8091/internal/devices/");
        for id in ["a/b c%?#é", "../x", "%2e%2e", "a..", "...", "~", "a\\b"] {
            let url = device_url(&prefix, &device(id)).unwrap();
            assert_eq!(
                url.path(),
                format!("/internal/devices/{}", encoded(id)),
                "{id:?}"
            );
            assert_eq!(url.query(), None, "{id:?}");
            assert_eq!(url.fragment(), None, "{id:?}");
        }
    }

    #[test]
    fn dot_segments_cannot_be_sent() {
        let prefix = "http://h/internal/devices/";
        assert!(device_url(prefix, &device(".")).is_none());
        assert!(device_url(prefix, &device("..")).is_none());
        assert!(device_url(prefix, &device(".a")).is_some());
    }

    #[test]
    fn a_path_prefix_is_kept() {
        for base in ["http://h/auth", "http://h/auth/"] {
            let base: AuthUrl = base.parse().unwrap();
            assert_eq!(base.devices_prefix(), "http://h/auth/internal/devices/");
        }
    }

    #[test]
    fn auth_urls_are_checked_and_passwords_masked() {
        assert!("ftp://h".parse::<AuthUrl>().is_err());
        assert!("not a url".parse::<AuthUrl>().is_err());
        assert!("http://h/?x=1".parse::<AuthUrl>().is_err());
        let url: AuthUrl = "https://svc:hunter2@auth:8091".parse().unwrap();
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("svc:***@auth"), "{shown}");
    }

    #[test]
    fn answers_map_to_the_directory_contract() {
        let d = device("d 1");
        let ok = |body: &str| household_from(&d, body.as_bytes());
        assert_eq!(
            ok(r#"{"device_id": "d 1", "household_id": "home, 1"}"#)
                .unwrap()
                .unwrap()
                .as_str(),
            "home, 1"
        );
        assert!(ok(r#"{"household_id": "h"}"#).unwrap().is_some());
        assert!(ok(r#"{"device_id": "other", "household_id": "h"}"#).is_err());
        assert!(ok(r#"{"device_id": "d 1", "household_id": ""}"#).is_err());
        assert!(ok(r#"{"device_id": "d 1", "household_id": "a\nb"}"#).is_err());
        assert!(ok("<html>").is_err());

        let not_found = |body: &str| unknown_device_from(&d, body.as_bytes());
        assert!(matches!(
            not_found(r#"{"error": {"code": "unknown_device", "message": "no"}}"#),
            Ok(None)
        ));
        assert!(not_found(r#"{"error": {"code": "not_found", "message": "no"}}"#).is_err());
        assert!(not_found("").is_err());
    }
}
