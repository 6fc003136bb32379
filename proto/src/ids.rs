//! The id rule every Wattline part shares (DESIGN.md, "Ids"): device,
//! household and socket ids are UTF-8 text of 1–64 characters with no control
//! characters. Spaces, commas, `=`, quotes and non-ASCII letters are legal;
//! the line-protocol builder escapes them, so nothing here rejects or mangles
//! them. [`check_id`] checks a borrowed id; [`DeviceId`] and [`HouseholdId`]
//! are validated owned ids.

use std::fmt;
use std::str::FromStr;

/// Longest legal id, in characters (not bytes).
pub const MAX_ID_CHARS: usize = 64;

/// Why a string is not a legal id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id has {0} characters, more than {MAX_ID_CHARS}")]
    TooLong(usize),
    #[error("id has a control character (U+{code:04X}) at character {position}")]
    ControlCharacter { position: usize, code: u32 },
}

/// Checks the id rule without allocating (used for socket ids, which stay
/// borrowed from the decoded batch).
pub fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    let mut chars = 0;
    for (position, c) in id.chars().enumerate() {
        if c.is_control() {
            return Err(IdError::ControlCharacter {
                position,
                code: u32::from(c),
            });
        }
        chars += 1;
    }
    if chars > MAX_ID_CHARS {
        return Err(IdError::TooLong(chars));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `id` against the id rule.
            pub fn parse(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                check_id(&id)?;
                Ok(Self(id))
            }

            /// The id as text, exactly as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A device (agent) id. The write service takes it from the routing key
    /// the broker enforced, never from the payload.
    DeviceId
);
id_type!(
    /// A household id, from the household directory.
    HouseholdId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_but_legal_ids_pass() {
        for id in [
            "a",
            "living room",
            "a,b=c",
            "\"quoted\"",
            "Küche – Kühlschrank",
            "back\\slash\\",
            &"x".repeat(64),
            &"é".repeat(64),
        ] {
            assert_eq!(check_id(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn empty_long_and_control_characters_fail() {
        assert_eq!(check_id(""), Err(IdError::Empty));
        assert_eq!(check_id(&"x".repeat(65)), Err(IdError::TooLong(65)));
        assert_eq!(
            check_id("ab\ncd"),
            Err(IdError::ControlCharacter {
                position: 2,
                code: 10
            })
        );
        assert!(matches!(
            check_id("tab\there"),
            Err(IdError::ControlCharacter { .. })
        ));
        assert!(DeviceId::parse("\u{7f}").is_err());
    }
}
