//! The command line: flags, `BAE_*` environment variables, and the
//! credentials file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use crate::subsonic::{Access, Credentials};

/// bae-server: boots a bae library from its bucket and serves it read-only
/// to Subsonic apps.
///
/// S3 credentials come from the standard AWS environment (AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...). Every flag can also be set with
/// the environment variable shown.
#[derive(Debug, Parser)]
#[command(name = "bae-server", version)]
pub struct Cli {
    /// The library's bucket: s3://bucket/prefix?region=..&endpoint=.., or
    /// file:///path for a local directory.
    #[arg(long, env = "BAE_BUCKET", required_unless_present = "demo")]
    pub bucket: Option<String>,

    /// A file holding the library key (`bae key export` writes one).
    #[arg(long, env = "BAE_KEY_FILE", required_unless_present = "demo")]
    pub key_file: Option<PathBuf>,

    /// Where the booted library is kept between runs [default: the user's
    /// cache directory, one per bucket].
    #[arg(long, env = "BAE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Discard the cache and boot from the bucket anew.
    #[arg(long, env = "BAE_REFRESH")]
    pub refresh: bool,

    /// Address to listen on. Any address but loopback needs credentials.
    #[arg(long, env = "BAE_LISTEN", default_value = "127.0.0.1:4040")]
    pub listen: SocketAddr,

    /// How often to pull new changes from the bucket while serving: 30s,
    /// 500ms, 2m, or plain seconds.
    #[arg(long, env = "BAE_SYNC_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub sync_interval: Duration,

    /// The username Subsonic apps log in with.
    #[arg(long, env = "BAE_USERNAME")]
    pub username: Option<String>,

    /// The password Subsonic apps log in with (prefer --password-file or the
    /// environment: a flag shows in the process list).
    #[arg(long, env = "BAE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// A file whose first line is the password.
    #[arg(long, env = "BAE_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,

    /// An OpenSubsonic API key apps may log in with instead.
    #[arg(long, env = "BAE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// A YAML file with `username`, `password` and optionally `api_key`;
    /// flags and environment variables override it.
    #[arg(long, env = "BAE_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,

    /// Build a demo library into a local-directory bucket under DIR (a
    /// temporary directory if none is given), boot from it and serve it.
    #[arg(long, value_name = "DIR", num_args = 0..=1, conflicts_with_all = ["bucket", "key_file"])]
    pub demo: Option<Option<PathBuf>>,

    /// Seconds of audio per track of a new demo library.
    #[arg(long, value_name = "S", default_value_t = 4.0, requires = "demo")]
    pub demo_seconds: f32,

    /// Log filter (RUST_LOG syntax), e.g. `info` or `bae_server=debug`.
    #[arg(long, env = "BAE_LOG", default_value = "info,lofty=error")]
    pub log: String,
}

/// Parses `30s`, `500ms`, `2m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; write 30s, 500ms, 2m or 1h"))?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s, m or h"
            ));
        }
    };
    if d.is_zero() {
        return Err("the sync interval must be more than zero".to_owned());
    }
    Ok(d)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    username: Option<String>,
    password: Option<String>,
    api_key: Option<String>,
}

fn read_first_line(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").trim_end().to_owned())
}

impl Cli {
    /// The access rules from the flags, environment and files. No
    /// credentials at all is [`Access::Open`] (refused off loopback).
    pub fn access(&self) -> Result<Access, String> {
        let file = match &self.credentials_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("credentials file {}: {e}", path.display()))?;
                serde_yaml::from_str::<CredentialsFile>(&text).map_err(|e| {
                    format!(
                        "credentials file {}: {e}; expected `username: ..`, `password: ..` \
                         and optionally `api_key: ..`",
                        path.display()
                    )
                })?
            }
            None => CredentialsFile::default(),
        };
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(path)) => Some(read_first_line(path)?),
            (None, None) => file.password,
        };
        let username = self.username.clone().or(file.username);
        let api_key = self.api_key.clone().or(file.api_key);
        match (username, password, api_key) {
            (None, None, None) => Ok(Access::Open),
            (Some(username), Some(password), api_key)
                if !username.is_empty() && !password.is_empty() =>
            {
                Ok(Access::User(Credentials {
                    username,
                    password,
                    api_key,
                }))
            }
            (None, None, Some(api_key)) if !api_key.is_empty() => Ok(Access::User(Credentials {
                username: String::new(),
                password: String::new(),
                api_key: Some(api_key),
            })),
            _ => Err(
                "incomplete credentials: give both a username and a password \
                      (--username/--password, BAE_USERNAME/BAE_PASSWORD, or a credentials file)"
                    .to_owned(),
            ),
        }
    }

    /// The cache directory: given, or one per bucket under the user's cache.
    pub fn cache_dir(&self, bucket: &str) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        use md5::Digest as _;
        let digest = hex::encode(md5::Md5::digest(bucket.as_bytes()));
        base.join("bae-server").join(&digest[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").unwrap_err().contains("30s"));
        assert!(parse_duration("3 days").unwrap_err().contains("unit"));
    }

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["bae-server", "--bucket", "file:///b", "--key-file", "/k"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap()
    }

    #[test]
    fn credentials_from_flags_and_file() {
        assert_eq!(cli(&[]).access(), Ok(Access::Open));
        let user = cli(&["--username", "a", "--password", "b"])
            .access()
            .unwrap();
        assert!(matches!(user, Access::User(c) if c.username == "a" && c.password == "b"));
        assert!(cli(&["--username", "a"]).access().is_err());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds.yaml");
        std::fs::write(&file, "username: alice\npassword: s3cret\napi_key: k\n").unwrap();
        let from_file = cli(&["--credentials-file", file.to_str().unwrap()])
            .access()
            .unwrap();
        assert!(matches!(&from_file, Access::User(c)
            if c.username == "alice" && c.password == "s3cret" && c.api_key.as_deref() == Some("k")));
        let overridden = cli(&[
            "--credentials-file",
            file.to_str().unwrap(),
            "--password",
            "other",
        ])
        .access()
        .unwrap();
        assert!(matches!(overridden, Access::User(c) if c.password == "other"));
        std::fs::write(&file, "user: alice\n").unwrap();
        let e = cli(&["--credentials-file", file.to_str().unwrap()])
            .access()
            .unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn demo_needs_no_bucket() {
        let c = Cli::try_parse_from(["bae-server", "--demo"]).unwrap();
        assert_eq!(c.demo, Some(None));
        let c = Cli::try_parse_from(["bae-server", "--demo", "/tmp/x"]).unwrap();
        assert_eq!(c.demo, Some(Some(PathBuf::from("/tmp/x"))));
        assert!(Cli::try_parse_from(["bae-server"]).is_err());
    }
}
