//! The browser's session cookie: the refresh token in `wattline_refresh`,
//! out of reach of the page's scripts.
//!
//! `HttpOnly` keeps it from scripts (an XSS cannot steal the session);
//! `SameSite=Strict` keeps other sites' pages from sending it (no CSRF on
//! refresh or logout); `Path=/api/auth` sends it to the session endpoints
//! only. The dashboard keeps just the short-lived access token, in memory.
//! API clients ignore the cookie and use the JSON body's `refresh_token`.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use std::time::Duration;

use super::SecretField;

/// The cookie's name.
pub const NAME: &str = "wattline_refresh";

/// `Set-Cookie` for a new refresh token, living as long as the token.
pub fn set(token: &str, ttl: Duration, secure: bool) -> HeaderValue {
    cookie(token, ttl.as_secs(), secure)
}

/// `Set-Cookie` that makes the browser forget the cookie.
pub fn clear(secure: bool) -> HeaderValue {
    cookie("", 0, secure)
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{NAME}={value}; HttpOnly; SameSite=Strict; Path=/api/auth; Max-Age={max_age}{secure}"
    );
    // Tokens are base64url, so the header is always valid; an empty value
    // (which clears) is the fallback should that ever change.
    let mut header = HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("wattline_refresh=; Max-Age=0"));
    header.set_sensitive(true);
    header
}

/// The refresh token in the request's `Cookie` headers, if any (the first
/// non-empty `wattline_refresh`).
pub fn read(headers: &HeaderMap) -> Option<SecretField> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| SecretField::from(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_has_every_attribute() {
        let header = set("abc-_1", Duration::from_secs(2_592_000), true);
        assert_eq!(
            header.to_str().unwrap(),
            "wattline_refresh=abc-_1; HttpOnly; SameSite=Strict; Path=/api/auth; Max-Age=2592000; Secure"
        );
        assert!(header.is_sensitive());
        let insecure = set("abc", Duration::from_secs(60), false);
        assert!(!insecure.to_str().unwrap().contains("Secure"));
        assert_eq!(
            clear(true).to_str().unwrap(),
            "wattline_refresh=; HttpOnly; SameSite=Strict; Path=/api/auth; Max-Age=0; Secure"
        );
    }

    #[test]
    fn reads_the_token_among_other_cookies() {
        let mut headers = HeaderMap::new();
        assert!(read(&headers).is_none());
        headers.append(
            COOKIE,
            HeaderValue::from_static("theme=dark; wattline_refresh_old=x"),
        );
        assert!(read(&headers).is_none());
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=b;wattline_refresh=tok-1 ; c=d"),
        );
        assert_eq!(read(&headers).unwrap().expose(), "tok-1");
        let mut empty = HeaderMap::new();
        empty.append(COOKIE, HeaderValue::from_static("wattline_refresh="));
        assert!(read(&empty).is_none());
    }
}
