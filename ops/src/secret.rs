//! Values that must never reach a log: `Debug` masks them and there is no
//! `Display`, so neither `{:?}` on a config nor a stray `{}` leaks them.

use std::fmt;

/// A secret (password, token, device secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// An AMQP URL whose password is masked in `Debug` and [`AmqpUrl::redacted`].
#[derive(Clone, PartialEq, Eq)]
pub struct AmqpUrl(String);

impl AmqpUrl {
    /// The URL to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        redact_password(&self.0)
    }
}

impl fmt::Debug for AmqpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for AmqpUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("amqp://") || s.starts_with("amqps://") {
            Ok(Self(s.to_owned()))
        } else {
            Err("must start with amqp:// or amqps://".into())
        }
    }
}

impl From<&str> for AmqpUrl {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// `scheme://user:pass@host/...` → `scheme://user:***@host/...`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_masked() {
        let secret: Secret = "hunter2".into();
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(redact_password("amqp://u:p@h:1/v"), "amqp://u:***@h:1/v");
        assert_eq!(redact_password("amqp://h:1/%2f"), "amqp://h:1/%2f");
        assert_eq!(redact_password("amqp://u@h"), "amqp://u@h");
        assert_eq!(redact_password("amqp://u:p@ss@h/v"), "amqp://u:***@h/v");
        let url: AmqpUrl = "amqps://svc:s3cret@rabbit/prod".parse().expect("valid");
        assert_eq!(format!("{url:?}"), "amqps://svc:***@rabbit/prod");
        assert!("http://x".parse::<AmqpUrl>().is_err());
    }
}
