//! The headers every response carries, set unless a service already set its
//! own: a Content-Security-Policy that fits a Vite build, and the usual
//! hardening.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// The policy: the app's own scripts only (Vite emits no inline script in a
/// build). Styles allow inline ones because charting code and templates set
/// `style` attributes; images and fonts allow `data:` because Vite inlines
/// small ones, and images `blob:` for downloads and canvases; API calls go
/// to this origin only; no frames, plugins or foreign form targets.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

const HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

/// Response middleware (`axum::middleware::map_response`): adds the headers
/// the response does not have yet.
pub async fn add_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    response
}
