//! Request parameters (query string and form body together) and the
//! Subsonic error codes.

use std::fmt;

/// A Subsonic error: answered as an error envelope with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The standard code.
    pub code: u32,
    /// A message for a person.
    pub message: String,
}

/// The standard Subsonic error codes this server answers with.
pub mod code {
    /// A generic error (also: a malformed parameter value, an unknown method).
    pub const GENERIC: u32 = 0;
    /// A required parameter is missing.
    pub const MISSING_PARAMETER: u32 = 10;
    /// Wrong username or password.
    pub const WRONG_CREDENTIALS: u32 = 40;
    /// The authentication mechanism is not supported (token auth without
    /// a configured password, for example).
    pub const AUTH_NOT_SUPPORTED: u32 = 42;
    /// Several authentication mechanisms were given at once.
    pub const CONFLICTING_AUTH: u32 = 43;
    /// The API key is not valid.
    pub const INVALID_API_KEY: u32 = 44;
    /// The requested data was not found.
    pub const NOT_FOUND: u32 = 70;
}

impl ApiError {
    /// Code 10 for a missing parameter.
    pub fn missing(name: &str) -> ApiError {
        ApiError {
            code: code::MISSING_PARAMETER,
            message: format!("Required parameter is missing: {name}"),
        }
    }

    /// Code 0 for a parameter whose value cannot be used.
    pub fn invalid(name: &str, value: &str, expected: &str) -> ApiError {
        ApiError {
            code: code::GENERIC,
            message: format!("Invalid value for parameter {name}: {value:?}; expected {expected}"),
        }
    }

    /// Code 70.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError {
            code: code::NOT_FOUND,
            message: format!("{what} not found: {id}"),
        }
    }

    /// Code 0 with a message.
    pub fn generic(message: impl Into<String>) -> ApiError {
        ApiError {
            code: code::GENERIC,
            message: message.into(),
        }
    }

    /// Code 40.
    pub fn wrong_credentials() -> ApiError {
        ApiError {
            code: code::WRONG_CREDENTIALS,
            message: "Wrong username or password".to_owned(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)
    }
}

/// The parameters of one request: the query string's, then the form
/// body's, in order. A name may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from `application/x-www-form-urlencoded` text (a query
    /// string or a form body); malformed escapes are taken literally.
    pub fn parse(text: &str) -> Params {
        let mut p = Params::default();
        p.extend(text);
        p
    }

    /// Adds the parameters of more urlencoded text.
    pub fn extend(&mut self, text: &str) {
        self.pairs.extend(
            form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or error 10.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// An integer parameter, `default` when absent, within `min..=max`
    /// (values above `max` are clamped to it, as Subsonic does for sizes).
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => {
                let n: i64 = v.trim().parse().map_err(|_| {
                    ApiError::invalid(name, v, &format!("an integer from {min} to {max}"))
                })?;
                if n < min {
                    return Err(ApiError::invalid(
                        name,
                        v,
                        &format!("an integer from {min} to {max}"),
                    ));
                }
                Ok(n.min(max))
            }
        }
    }

    /// An optional integer parameter.
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(name, v, "an integer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_repeats() {
        let mut p = Params::parse("u=al%20ice&id=1&id=2&p=enc%3A41&empty=");
        p.extend("f=json&u=ignored");
        assert_eq!(p.get("u"), Some("al ice"), "the first value wins");
        assert_eq!(p.get("p"), Some("enc:41"));
        assert_eq!(p.get("f"), Some("json"));
        assert_eq!(p.required("empty"), Err(ApiError::missing("empty")));
        assert_eq!(p.required("nope").unwrap_err().code, 10);
    }

    #[test]
    fn integers() {
        let p = Params::parse("size=600&offset=-1&bad=x1&ok=7");
        assert_eq!(p.int("size", 10, 0, 500), Ok(500), "clamped");
        assert_eq!(p.int("missing", 10, 0, 500), Ok(10));
        assert_eq!(p.int("offset", 0, 0, i64::MAX).unwrap_err().code, 0);
        let e = p.int("bad", 0, 0, 5).unwrap_err();
        assert!(e.message.contains("bad") && e.message.contains("x1"), "{e}");
        assert_eq!(p.opt_int("ok"), Ok(Some(7)));
        assert_eq!(p.opt_int("missing"), Ok(None));
        assert!(p.opt_int("bad").is_err());
    }
}
