//! Bucket URLs: `s3://`, `file://`, `mem://`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::key::{KeyError, ObjectKey};
use crate::s3::{ChecksumMode, DEFAULT_REGION, S3Config};

/// Where a bucket lives, parsed from a URL:
///
/// - `s3://bucket[/prefix][?region=R&endpoint=URL&path_style=true&checksums=when_required]`
///   (credentials never go in the URL; see [`OpenOptions`](crate::OpenOptions));
/// - `file:///absolute/path` (a [`LocalDirBucket`](crate::LocalDirBucket));
/// - `mem://name` (the process-wide [`MemoryBucket::named`](crate::MemoryBucket::named), for tests).
///
/// `%XX` escapes are decoded in the prefix, path and parameter values.
/// `Display` gives the canonical URL, which parses back to the same value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BucketUrl {
    /// An S3 bucket; credentials default to the AWS chain.
    S3(S3Config),
    /// A local directory.
    File(PathBuf),
    /// A named in-memory bucket.
    Memory(String),
}

/// Why a bucket URL does not parse. Messages quote the URL and name the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BucketUrlError {
    /// No `scheme://` at the start.
    #[error(
        "bucket url '{url}' has no scheme; expected s3://bucket/prefix, file:///absolute/path or mem://name"
    )]
    MissingScheme {
        /// The URL as given.
        url: String,
    },
    /// A scheme other than `s3`, `file` or `mem`.
    #[error("unknown scheme '{scheme}' in bucket url '{url}'; expected s3://, file:// or mem://")]
    UnknownScheme {
        /// The scheme found.
        scheme: String,
        /// The URL as given.
        url: String,
    },
    /// The URL carries `user:password@`; it is not echoed back.
    #[error(
        "bucket url must not contain credentials (found '@' before the bucket name); pass them through the environment or OpenOptions"
    )]
    CredentialsInUrl,
    /// `s3://` without a bucket name.
    #[error("bucket url '{url}' names no bucket; expected s3://bucket/prefix")]
    MissingBucket {
        /// The URL as given.
        url: String,
    },
    /// The bucket name has characters S3 does not allow.
    #[error(
        "bucket name '{bucket}' in bucket url '{url}' is invalid; use letters, digits, '.', '-' or '_'"
    )]
    InvalidBucketName {
        /// The bucket name found.
        bucket: String,
        /// The URL as given.
        url: String,
    },
    /// The key prefix breaks the key rules.
    #[error("key prefix '{prefix}' in bucket url '{url}' is invalid: {reason}")]
    InvalidPrefix {
        /// The decoded prefix.
        prefix: String,
        /// The URL as given.
        url: String,
        /// The rule it breaks.
        #[source]
        reason: KeyError,
    },
    /// A query parameter this crate does not know.
    #[error(
        "unknown parameter '{name}' in bucket url '{url}'; known: region, endpoint, path_style, checksums"
    )]
    UnknownParameter {
        /// The parameter name.
        name: String,
        /// The URL as given.
        url: String,
    },
    /// A query parameter given twice.
    #[error("parameter '{name}' appears twice in bucket url '{url}'; keep one")]
    DuplicateParameter {
        /// The parameter name.
        name: String,
        /// The URL as given.
        url: String,
    },
    /// A query parameter with a value it cannot take.
    #[error("parameter '{name}={value}' in bucket url '{url}' is invalid; expected {expected}")]
    InvalidParameter {
        /// The parameter name.
        name: String,
        /// The decoded value.
        value: String,
        /// The URL as given.
        url: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// A `%` not followed by two hex digits, or an escape that decodes to non-UTF-8.
    #[error("bad %-escape in bucket url '{url}'; write '%' as %25")]
    BadEscape {
        /// The URL as given.
        url: String,
    },
    /// A `file://` URL with a host or a relative path.
    #[error(
        "file bucket url '{url}' must hold an absolute path with an empty host, like file:///var/lib/bae/bucket"
    )]
    NotAbsolutePath {
        /// The URL as given.
        url: String,
    },
    /// A `file://` or `mem://` URL with a query string or fragment, or an `s3://` URL with a fragment.
    #[error("bucket url '{url}' has a '{part}' part that this scheme does not take; remove it")]
    UnexpectedPart {
        /// `?query` or `#fragment`.
        part: &'static str,
        /// The URL as given.
        url: String,
    },
    /// A `mem://` name that is empty or has characters other than letters, digits, `.`, `-`, `_`.
    #[error(
        "memory bucket name '{name}' in bucket url '{url}' is invalid; use letters, digits, '.', '-' or '_'"
    )]
    InvalidMemoryName {
        /// The name found.
        name: String,
        /// The URL as given.
        url: String,
    },
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn decode(s: &str, url: &str) -> Result<String, BucketUrlError> {
    let bad = || BucketUrlError::BadEscape {
        url: url.to_owned(),
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// Escapes everything but unreserved characters and those in `keep`.
fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromStr for BucketUrl {
    type Err = BucketUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(BucketUrlError::MissingScheme {
                url: url.to_owned(),
            });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "s3" => parse_s3(url, rest),
            "file" => parse_file(url, rest),
            "mem" => {
                if rest.contains('?') || rest.contains('#') {
                    let part = if rest.contains('?') {
                        "?query"
                    } else {
                        "#fragment"
                    };
                    return Err(BucketUrlError::UnexpectedPart {
                        part,
                        url: url.to_owned(),
                    });
                }
                if !is_name(rest) {
                    return Err(BucketUrlError::InvalidMemoryName {
                        name: rest.to_owned(),
                        url: url.to_owned(),
                    });
                }
                Ok(BucketUrl::Memory(rest.to_owned()))
            }
            _ => Err(BucketUrlError::UnknownScheme {
                scheme: scheme.to_owned(),
                url: url.to_owned(),
            }),
        }
    }
}

fn parse_file(url: &str, rest: &str) -> Result<BucketUrl, BucketUrlError> {
    if rest.contains('?') || rest.contains('#') {
        let part = if rest.contains('?') {
            "?query"
        } else {
            "#fragment"
        };
        return Err(BucketUrlError::UnexpectedPart {
            part,
            url: url.to_owned(),
        });
    }
    if !rest.starts_with('/') {
        return Err(BucketUrlError::NotAbsolutePath {
            url: url.to_owned(),
        });
    }
    let path = decode(rest, url)?;
    Ok(BucketUrl::File(PathBuf::from(path)))
}

fn parse_s3(url: &str, rest: &str) -> Result<BucketUrl, BucketUrlError> {
    if rest.contains('#') {
        return Err(BucketUrlError::UnexpectedPart {
            part: "#fragment",
            url: url.to_owned(),
        });
    }
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.contains('@') {
        return Err(BucketUrlError::CredentialsInUrl);
    }
    if bucket.is_empty() {
        return Err(BucketUrlError::MissingBucket {
            url: url.to_owned(),
        });
    }
    if !is_name(bucket) {
        return Err(BucketUrlError::InvalidBucketName {
            bucket: bucket.to_owned(),
            url: url.to_owned(),
        });
    }
    let mut config = S3Config::new(bucket);
    let prefix = decode(prefix, url)?;
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        ObjectKey::new(prefix).map_err(|reason| BucketUrlError::InvalidPrefix {
            prefix: prefix.to_owned(),
            url: url.to_owned(),
            reason,
        })?;
        config.prefix = Some(prefix.to_owned());
    }
    let mut seen: Vec<String> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name, url)?;
        let value = decode(value, url)?;
        if seen.contains(&name) {
            return Err(BucketUrlError::DuplicateParameter {
                name,
                url: url.to_owned(),
            });
        }
        let invalid = |expected| BucketUrlError::InvalidParameter {
            name: name.clone(),
            value: value.clone(),
            url: url.to_owned(),
            expected,
        };
        match name.as_str() {
            "region" => {
                if !is_name(&value) {
                    return Err(invalid("a region name such as eu-west-1"));
                }
                config.region = value.clone();
            }
            "endpoint" => {
                let ok = value.split_once("://").is_some_and(|(scheme, host)| {
                    (scheme == "http" || scheme == "https") && !host.is_empty()
                }) && !value.contains(char::is_whitespace);
                if !ok {
                    return Err(invalid(
                        "an http:// or https:// url such as http://127.0.0.1:8333",
                    ));
                }
                config.endpoint = Some(value.clone());
            }
            "path_style" => {
                config.path_style = match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(invalid("true or false")),
                };
            }
            "checksums" => {
                config.checksums = match value.as_str() {
                    "when_supported" => ChecksumMode::WhenSupported,
                    "when_required" => ChecksumMode::WhenRequired,
                    _ => return Err(invalid("when_supported or when_required")),
                };
            }
            _ => {
                return Err(BucketUrlError::UnknownParameter {
                    name,
                    url: url.to_owned(),
                });
            }
        }
        seen.push(name);
    }
    Ok(BucketUrl::S3(config))
}

impl fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketUrl::S3(config) => {
                write!(f, "s3://{}", config.bucket)?;
                if let Some(prefix) = config
                    .prefix
                    .as_deref()
                    .map(|p| p.trim_matches('/'))
                    .filter(|p| !p.is_empty())
                {
                    write!(f, "/{}", encode(prefix, b"/"))?;
                }
                let mut params = Vec::new();
                if config.region != DEFAULT_REGION {
                    params.push(format!("region={}", encode(&config.region, b"")));
                }
                if let Some(endpoint) = &config.endpoint {
                    params.push(format!("endpoint={}", encode(endpoint, b":/")));
                }
                if config.path_style {
                    params.push("path_style=true".to_owned());
                }
                if config.checksums == ChecksumMode::WhenRequired {
                    params.push("checksums=when_required".to_owned());
                }
                if !params.is_empty() {
                    write!(f, "?{}", params.join("&"))?;
                }
                Ok(())
            }
            BucketUrl::File(path) => write!(f, "file://{}", encode(&path.to_string_lossy(), b"/")),
            BucketUrl::Memory(name) => write!(f, "mem://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<BucketUrl, BucketUrlError> {
        s.parse()
    }

    #[test]
    fn parses_a_full_s3_url() {
        let url = parse("s3://my-bucket/libs/one?region=eu-west-1&endpoint=http://127.0.0.1:8333&path_style=true&checksums=when_required").unwrap();
        let BucketUrl::S3(config) = url else {
            panic!("not s3")
        };
        assert_eq!(config.bucket, "my-bucket");
        assert_eq!(config.prefix.as_deref(), Some("libs/one"));
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert!(config.path_style);
        assert_eq!(config.checksums, ChecksumMode::WhenRequired);
    }

    #[test]
    fn s3_defaults() {
        let BucketUrl::S3(config) = parse("s3://bucket").unwrap() else {
            panic!("not s3")
        };
        assert_eq!(config, S3Config::new("bucket"));
        let BucketUrl::S3(config) = parse("s3://bucket/").unwrap() else {
            panic!("not s3")
        };
        assert_eq!(config.prefix, None);
    }

    #[test]
    fn parses_file_and_mem() {
        assert_eq!(
            parse("file:///var/lib/bae").unwrap(),
            BucketUrl::File("/var/lib/bae".into())
        );
        assert_eq!(
            parse("file:///with%20space").unwrap(),
            BucketUrl::File("/with space".into())
        );
        assert_eq!(
            parse("mem://test-1").unwrap(),
            BucketUrl::Memory("test-1".into())
        );
    }

    #[test]
    fn errors_name_the_bad_part() {
        let err = parse("sx3://bucket").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown scheme 'sx3' in bucket url 'sx3://bucket'; expected s3://, file:// or mem://"
        );
        assert!(matches!(
            parse("bucket/prefix"),
            Err(BucketUrlError::MissingScheme { .. })
        ));
        assert!(matches!(
            parse("s3://"),
            Err(BucketUrlError::MissingBucket { .. })
        ));
        assert!(matches!(
            parse("s3:///x"),
            Err(BucketUrlError::MissingBucket { .. })
        ));
        assert!(matches!(
            parse("s3://b b"),
            Err(BucketUrlError::InvalidBucketName { .. })
        ));
        assert!(matches!(
            parse("s3://b/a/../c"),
            Err(BucketUrlError::InvalidPrefix { .. })
        ));
        assert!(matches!(
            parse("s3://b?colour=red"),
            Err(BucketUrlError::UnknownParameter { .. })
        ));
        assert!(matches!(
            parse("s3://b?region=a&region=b"),
            Err(BucketUrlError::DuplicateParameter { .. })
        ));
        assert!(matches!(
            parse("s3://b?path_style=yes"),
            Err(BucketUrlError::InvalidParameter { .. })
        ));
        assert!(matches!(
            parse("s3://b?endpoint=127.0.0.1:9000"),
            Err(BucketUrlError::InvalidParameter { .. })
        ));
        assert!(matches!(
            parse("s3://b?checksums=never"),
            Err(BucketUrlError::InvalidParameter { .. })
        ));
        assert!(matches!(
            parse("s3://b/%zz"),
            Err(BucketUrlError::BadEscape { .. })
        ));
        assert!(matches!(
            parse("s3://b#frag"),
            Err(BucketUrlError::UnexpectedPart { .. })
        ));
        assert!(matches!(
            parse("file://relative/path"),
            Err(BucketUrlError::NotAbsolutePath { .. })
        ));
        assert!(matches!(
            parse("file:///x?y=1"),
            Err(BucketUrlError::UnexpectedPart { .. })
        ));
        assert!(matches!(
            parse("mem://"),
            Err(BucketUrlError::InvalidMemoryName { .. })
        ));
        let msg = parse("s3://b?path_style=yes").unwrap_err().to_string();
        assert!(
            msg.contains("'path_style=yes'") && msg.contains("true or false"),
            "{msg}"
        );
    }

    #[test]
    fn credentials_are_refused_and_not_echoed() {
        let err = parse("s3://AKIA:supersecret@bucket/x").unwrap_err();
        assert_eq!(err, BucketUrlError::CredentialsInUrl);
        assert!(!err.to_string().contains("supersecret"));
    }

    #[test]
    fn display_is_canonical() {
        let s = "s3://b/p/q?region=eu-west-1&endpoint=http://127.0.0.1:8333&path_style=true&checksums=when_required";
        assert_eq!(parse(s).unwrap().to_string(), s);
        assert_eq!(
            parse("s3://b/?region=us-east-1").unwrap().to_string(),
            "s3://b"
        );
        assert_eq!(
            parse("file:///a%20b/c").unwrap().to_string(),
            "file:///a%20b/c"
        );
    }

    fn arb_url() -> impl Strategy<Value = BucketUrl> {
        let s3 = (
            "[a-z0-9][a-z0-9.-]{2,20}",
            proptest::option::of("[a-z0-9_-]{1,8}(/[a-z0-9 _%&?=#-]{1,8}){0,2}"),
            "[a-z]{2}-[a-z]{4,7}-[1-3]",
            proptest::option::of("https?://[a-z0-9.]{1,12}(:[0-9]{2,5})?(/[a-z&=?%#]{0,6})?"),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(bucket, prefix, region, endpoint, path_style, required)| {
                let mut c = S3Config::new(bucket);
                c.prefix = prefix;
                c.region = region;
                c.endpoint = endpoint;
                c.path_style = path_style;
                c.checksums = if required {
                    ChecksumMode::WhenRequired
                } else {
                    ChecksumMode::WhenSupported
                };
                BucketUrl::S3(c)
            });
        let file =
            "(/[a-zA-Z0-9 %?#&_.-]{1,10}){1,4}".prop_map(|p| BucketUrl::File(PathBuf::from(p)));
        let mem = "[a-zA-Z0-9._-]{1,12}".prop_map(BucketUrl::Memory);
        prop_oneof![s3, file, mem]
    }

    proptest! {
        #[test]
        fn display_parses_back(url in arb_url()) {
            let shown = url.to_string();
            prop_assert_eq!(parse(&shown).unwrap(), url, "{}", shown);
        }

        #[test]
        fn parsing_never_panics(s in "[ -~]{0,60}") {
            let _ = parse(&s);
        }
    }
}
