//! Subsonic authentication: token + salt (`t = md5(password + s)`), a
//! password in `p` (plain or `enc:` hex), and the OpenSubsonic `apiKey`.

use md5::{Digest, Md5};

use super::params::{ApiError, Params, code};

/// Who may use the server.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// No credentials configured (allowed on loopback only): every request
    /// is let in, whatever it sends.
    Open,
    /// One user.
    User(Credentials),
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Open => f.write_str("Open"),
            Access::User(c) => f
                .debug_struct("User")
                .field("username", &c.username)
                .finish_non_exhaustive(),
        }
    }
}

/// A username, its password, and optionally an API key.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username.
    pub username: String,
    /// The password (needed in clear: token auth hashes it with each salt).
    pub password: String,
    /// An OpenSubsonic API key, if one is configured.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Compares without an early exit, so the time taken does not say how much
/// of a secret matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The password a `p` parameter carries: plain, or `enc:` + hex of its bytes.
fn decode_password(p: &str) -> Option<Vec<u8>> {
    match p.strip_prefix("enc:") {
        Some(hex_text) => hex::decode(hex_text).ok(),
        None => Some(p.as_bytes().to_vec()),
    }
}

impl Access {
    /// Checks a request's credentials; `Ok` lets it in.
    pub fn check(&self, params: &Params) -> Result<(), ApiError> {
        let creds = match self {
            Access::Open => return Ok(()),
            Access::User(c) => c,
        };
        if let Some(key) = params.get("apiKey") {
            if params.get("u").is_some() {
                return Err(ApiError {
                    code: code::CONFLICTING_AUTH,
                    message: "Multiple conflicting authentication mechanisms provided: \
                              send apiKey without u"
                        .to_owned(),
                });
            }
            return match &creds.api_key {
                Some(expected) if same(expected.as_bytes(), key.as_bytes()) => Ok(()),
                _ => Err(ApiError {
                    code: code::INVALID_API_KEY,
                    message: "Invalid API key".to_owned(),
                }),
            };
        }
        let user = params.required("u")?;
        let user_ok = same(user.as_bytes(), creds.username.as_bytes());
        let password_ok = if let Some(token) = params.get("t") {
            let salt = params.required("s")?;
            let mut hasher = Md5::new();
            hasher.update(creds.password.as_bytes());
            hasher.update(salt.as_bytes());
            let expected = hex::encode(hasher.finalize());
            same(expected.as_bytes(), token.to_ascii_lowercase().as_bytes())
        } else if let Some(p) = params.get("p") {
            decode_password(p).is_some_and(|given| same(&given, creds.password.as_bytes()))
        } else {
            return Err(ApiError {
                code: code::MISSING_PARAMETER,
                message: "Required parameter is missing: t and s, or p, or apiKey".to_owned(),
            });
        };
        if user_ok && password_ok {
            Ok(())
        } else {
            Err(ApiError::wrong_credentials())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::User(Credentials {
            username: "alice".into(),
            password: "sesame".into(),
            api_key: Some("k3y".into()),
        })
    }

    fn check(query: &str) -> Result<(), u32> {
        access().check(&Params::parse(query)).map_err(|e| e.code)
    }

    #[test]
    fn every_mechanism() {
        // md5("sesame" + "c19b2d") computed independently (Python hashlib).
        let t = hex::encode(Md5::digest(b"sesamec19b2d"));
        assert_eq!(check(&format!("u=alice&t={t}&s=c19b2d")), Ok(()));
        assert_eq!(
            check(&format!("u=alice&t={}&s=c19b2d", t.to_uppercase())),
            Ok(())
        );
        assert_eq!(check("u=alice&t=00&s=c19b2d"), Err(40));
        assert_eq!(check(&format!("u=bob&t={t}&s=c19b2d")), Err(40));
        assert_eq!(check(&format!("u=alice&t={t}")), Err(10));
        assert_eq!(check("u=alice&p=sesame"), Ok(()));
        assert_eq!(check("u=alice&p=enc:736573616d65"), Ok(()));
        assert_eq!(check("u=alice&p=enc:736573616D65"), Ok(()));
        assert_eq!(check("u=alice&p=enc:zz"), Err(40));
        assert_eq!(check("u=alice&p=wrong"), Err(40));
        assert_eq!(check("u=alice"), Err(10));
        assert_eq!(check("p=sesame"), Err(10));
        assert_eq!(check("apiKey=k3y"), Ok(()));
        assert_eq!(check("apiKey=nope"), Err(44));
        assert_eq!(check("apiKey=k3y&u=alice"), Err(43));
        assert_eq!(Access::Open.check(&Params::default()), Ok(()));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?}", access());
        assert!(
            !shown.contains("sesame") && !shown.contains("k3y"),
            "{shown}"
        );
    }
}
