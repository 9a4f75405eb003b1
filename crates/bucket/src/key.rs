//! Object keys, validated once.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// The longest key accepted, in bytes (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// A validated object key such as `ops/{device}/{seq}.enc`.
///
/// Rules, checked once at construction so every store can rely on them:
/// - 1 to [`MAX_KEY_LEN`] bytes of printable ASCII (`0x20..=0x7e`), no `\`;
/// - no leading `/`, no empty segment (`a//b`, trailing `/`);
/// - no segment starting with `.`: this rules out `.` and `..` (no escape from
///   a local directory) and reserves dot names for the stores' own files
///   (the local-directory bucket keeps its temporary files in `.bae-tmp/`).
///
/// Keys order bytewise, which is S3's listing order.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

/// Why a string is not a valid [`ObjectKey`] (or list prefix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is the empty string.
    #[error("object key is empty; give a relative path such as 'ops/device/0001.enc'")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes.
    #[error("object key is {len} bytes long; keys are limited to 1024 bytes, shorten it")]
    TooLong {
        /// Length of the rejected key in bytes.
        len: usize,
    },
    /// The key starts with `/`.
    #[error("object key '{key}' starts with '/'; keys are relative, drop the leading slash")]
    LeadingSlash {
        /// The rejected key.
        key: String,
    },
    /// The key holds a byte outside printable ASCII.
    #[error(
        "object key {key:?} has byte 0x{byte:02x} at position {position}; \
         only printable ascii (space to '~') is allowed"
    )]
    NotPrintableAscii {
        /// The rejected key.
        key: String,
        /// Byte offset of the offending character.
        position: usize,
        /// First byte of the offending character.
        byte: u8,
    },
    /// The key holds a backslash.
    #[error("object key '{key}' contains '\\'; separate segments with '/'")]
    Backslash {
        /// The rejected key.
        key: String,
    },
    /// The key has an empty segment: `a//b` or a trailing `/`.
    #[error(
        "object key '{key}' has an empty segment ('//' or a trailing '/'); remove the extra '/'"
    )]
    EmptySegment {
        /// The rejected key.
        key: String,
    },
    /// A segment starts with `.` (this includes `.` and `..`).
    #[error(
        "object key '{key}' has segment '{segment}' starting with '.'; \
         segments must not start with a dot ('.', '..' and dot names are reserved)"
    )]
    DotSegment {
        /// The rejected key.
        key: String,
        /// The offending segment.
        segment: String,
    },
}

impl ObjectKey {
    /// Validates `key` and wraps it.
    pub fn new(key: impl Into<String>) -> Result<Self, KeyError> {
        let key = key.into();
        check_chars(&key)?;
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        for segment in key.split('/') {
            check_segment(&key, segment)?;
        }
        Ok(Self(key))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks a list prefix: empty, or complete segments that follow the key
/// rules followed by a possibly empty partial last segment (`ops/dev` and
/// `ops/` are both fine; `../x` and `/ops` are not).
pub(crate) fn check_prefix(prefix: &str) -> Result<(), KeyError> {
    check_chars(prefix)?;
    if let Some((dirs, _partial)) = prefix.rsplit_once('/') {
        for segment in dirs.split('/') {
            check_segment(prefix, segment)?;
        }
    }
    Ok(())
}

fn check_chars(key: &str) -> Result<(), KeyError> {
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong { len: key.len() });
    }
    if key.starts_with('/') {
        return Err(KeyError::LeadingSlash {
            key: key.to_owned(),
        });
    }
    if let Some((position, byte)) = key
        .bytes()
        .enumerate()
        .find(|&(_, b)| !(0x20..=0x7e).contains(&b))
    {
        return Err(KeyError::NotPrintableAscii {
            key: key.to_owned(),
            position,
            byte,
        });
    }
    if key.contains('\\') {
        return Err(KeyError::Backslash {
            key: key.to_owned(),
        });
    }
    Ok(())
}

fn check_segment(key: &str, segment: &str) -> Result<(), KeyError> {
    if segment.is_empty() {
        return Err(KeyError::EmptySegment {
            key: key.to_owned(),
        });
    }
    if segment.starts_with('.') {
        return Err(KeyError::DotSegment {
            key: key.to_owned(),
            segment: segment.to_owned(),
        });
    }
    Ok(())
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({:?})", self.0)
    }
}

impl FromStr for ObjectKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for ObjectKey {
    type Error = KeyError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl AsRef<str> for ObjectKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ObjectKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<ObjectKey> for String {
    fn from(key: ObjectKey) -> Self {
        key.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_bucket_layout() {
        for key in [
            "heads/0123abcd.json.enc",
            "ops/0123abcd/00000001.enc",
            "checkpoints/x.enc",
            "images/ab/cd/img-1",
            "a",
            "with space/and~tilde",
        ] {
            assert_eq!(ObjectKey::new(key).unwrap().as_str(), key);
        }
    }

    #[test]
    fn rejects_each_rule_with_its_variant() {
        assert_eq!(ObjectKey::new(""), Err(KeyError::Empty));
        assert!(matches!(
            ObjectKey::new("/a"),
            Err(KeyError::LeadingSlash { .. })
        ));
        assert!(matches!(
            ObjectKey::new("a//b"),
            Err(KeyError::EmptySegment { .. })
        ));
        assert!(matches!(
            ObjectKey::new("a/"),
            Err(KeyError::EmptySegment { .. })
        ));
        assert!(matches!(
            ObjectKey::new("a/../b"),
            Err(KeyError::DotSegment { .. })
        ));
        assert!(matches!(
            ObjectKey::new(".."),
            Err(KeyError::DotSegment { .. })
        ));
        assert!(matches!(
            ObjectKey::new("a/./b"),
            Err(KeyError::DotSegment { .. })
        ));
        assert!(matches!(
            ObjectKey::new(".bae-tmp/x"),
            Err(KeyError::DotSegment { .. })
        ));
        assert!(matches!(
            ObjectKey::new("a\\b"),
            Err(KeyError::Backslash { .. })
        ));
        assert_eq!(
            ObjectKey::new("a\nb"),
            Err(KeyError::NotPrintableAscii {
                key: "a\nb".into(),
                position: 1,
                byte: b'\n'
            })
        );
        assert!(matches!(
            ObjectKey::new("caf\u{e9}"),
            Err(KeyError::NotPrintableAscii { .. })
        ));
        assert_eq!(
            ObjectKey::new("x".repeat(1025)),
            Err(KeyError::TooLong { len: 1025 })
        );
        assert!(ObjectKey::new("x".repeat(1024)).is_ok());
        // a dot inside a segment is fine, and so is '..' inside a name
        assert!(ObjectKey::new("a/b.c..d").is_ok());
    }

    #[test]
    fn messages_name_the_key_and_the_fix() {
        let err = ObjectKey::new("a/../b").unwrap_err().to_string();
        assert!(err.contains("'a/../b'") && err.contains("'..'"), "{err}");
    }

    #[test]
    fn prefixes_allow_a_partial_last_segment() {
        for ok in ["", "ops/", "ops/dev", "ops/dev1/0000", "o"] {
            assert_eq!(check_prefix(ok), Ok(()), "{ok}");
        }
        for bad in ["/ops", "../x", "ops//", "a/./", "\u{1}"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn valid_keys_round_trip(segments in proptest::collection::vec("[a-zA-Z0-9_-][ -.0-\\[\\]-~]{0,10}", 1..6)) {
            let joined = segments.join("/");
            let key = ObjectKey::new(joined.clone()).unwrap();
            prop_assert_eq!(key.as_str(), joined.as_str());
            prop_assert_eq!(key.to_string().parse::<ObjectKey>().unwrap(), key);
        }

        #[test]
        fn accepted_keys_never_escape(s in "[ -~]{0,40}") {
            if let Ok(key) = ObjectKey::new(s) {
                prop_assert!(!key.as_str().starts_with('/'));
                prop_assert!(key.as_str().split('/').all(|seg| !seg.is_empty() && !seg.starts_with('.')));
            }
        }
    }
}
