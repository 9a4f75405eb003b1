//! A bucket on S3 (or any S3-compatible store) through aws-sdk-s3.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::bucket::{
    BoxFuture, Bucket, DeleteOutcome, ListPage, ObjectMeta, PutOutcome, check_list_prefix,
    check_range,
};
use crate::error::{BucketError, Operation};
use crate::key::ObjectKey;
use crate::open::OpenError;

/// Region used when none is given; most S3-compatible stores accept any.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Whether the SDK adds optional checksums (CRC32) to requests and checks them on responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ChecksumMode {
    /// The SDK default: checksum every request that supports one.
    #[default]
    WhenSupported,
    /// Only where the API requires one. For third-party stores that reject
    /// the SDK's checksum headers (older MinIO, Ceph, some hosted stores).
    WhenRequired,
}

/// Where the credentials come from.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum S3Credentials {
    /// A fixed key pair (and optional session token).
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Session token of temporary credentials.
        session_token: Option<String>,
    },
    /// The standard AWS chain (aws-config): environment variables, profile
    /// files, web identity, ECS and EC2 instance metadata.
    #[default]
    DefaultChain,
}

impl S3Credentials {
    /// Static credentials without a session token.
    pub fn fixed(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        S3Credentials::Static {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Credentials::Static {
                access_key_id,
                session_token,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field(
                    "session_token",
                    &session_token.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
            S3Credentials::DefaultChain => f.write_str("DefaultChain"),
        }
    }
}

/// How to reach an S3 bucket. Build with [`S3Config::new`] and set fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (`library1` stores `ops/x` at
    /// `library1/ops/x`); leading and trailing '/' are ignored.
    pub prefix: Option<String>,
    /// Signing region (default [`DEFAULT_REGION`]).
    pub region: String,
    /// Custom endpoint such as `http://127.0.0.1:8333`; `None` for AWS.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most
    /// self-hosted stores and IP endpoints.
    pub path_style: bool,
    /// Credentials source (default: the AWS chain).
    pub credentials: S3Credentials,
    /// Optional-checksum behaviour (default `WhenSupported`).
    pub checksums: ChecksumMode,
    /// TCP connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Timeout of one HTTP attempt, transfer included (default none).
    pub attempt_timeout: Option<Duration>,
    /// `max-keys` per list request; `None` lets the store choose (1000 on S3).
    pub list_page_size: Option<u32>,
}

impl S3Config {
    /// A config for `bucket` with every other field at its default.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: None,
            region: DEFAULT_REGION.to_owned(),
            endpoint: None,
            path_style: false,
            credentials: S3Credentials::DefaultChain,
            checksums: ChecksumMode::WhenSupported,
            connect_timeout: Duration::from_secs(10),
            attempt_timeout: None,
            list_page_size: None,
        }
    }
}

/// A bucket on S3 or an S3-compatible store.
///
/// Built from an [`S3Config`] the SDK's own retries are off: wrap the bucket
/// in [`Retrying`](crate::Retrying) (as [`open_bucket`](crate::open_bucket)
/// does) for one retry layer with a seeded policy.
///
/// Error mapping: `NoSuchKey`/404 → [`BucketError::NotFound`]; 412 on
/// `put_if_absent` → [`PutOutcome::AlreadyExists`]; 501 `NotImplemented` on
/// `put_if_absent` → [`BucketError::ConditionalCreateUnsupported`]; 403 →
/// [`BucketError::AccessDenied`]; `NoSuchBucket` → [`BucketError::NoSuchBucket`];
/// 408, 429, 5xx, `SlowDown` and similar codes, 409
/// `ConditionalRequestConflict`, timeouts, connection failures and broken
/// responses → [`BucketError::Transient`]; the rest → [`BucketError::Store`].
#[derive(Debug, Clone)]
pub struct S3Bucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// "" or "some/prefix/".
    prefix: String,
    page_size: Option<i32>,
}

impl S3Bucket {
    /// Builds the SDK client described by `config`.
    pub async fn from_config(config: S3Config) -> Result<Self, OpenError> {
        check_bucket_name(&config.bucket)?;
        if let Some(endpoint) = &config.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(OpenError::InvalidS3Config {
                field: "endpoint",
                detail: format!("endpoint '{endpoint}' must start with http:// or https://"),
            });
        }
        let region = Region::new(config.region.clone());
        let mut builder = match &config.credentials {
            S3Credentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => aws_sdk_s3::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(Credentials::new(
                    access_key_id,
                    secret_access_key,
                    session_token.clone(),
                    None,
                    "bae-bucket-static",
                )),
            S3Credentials::DefaultChain => {
                // The region is given, so loading looks up no region itself.
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(region.clone())
                    .load()
                    .await;
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        let (request_checksums, response_checksums) = match config.checksums {
            ChecksumMode::WhenSupported => (
                RequestChecksumCalculation::WhenSupported,
                ResponseChecksumValidation::WhenSupported,
            ),
            ChecksumMode::WhenRequired => (
                RequestChecksumCalculation::WhenRequired,
                ResponseChecksumValidation::WhenRequired,
            ),
        };
        builder = builder
            .region(region)
            .force_path_style(config.path_style)
            .retry_config(RetryConfig::disabled())
            .timeout_config({
                let mut timeouts = TimeoutConfig::builder().connect_timeout(config.connect_timeout);
                timeouts.set_operation_attempt_timeout(config.attempt_timeout);
                timeouts.build()
            })
            .request_checksum_calculation(request_checksums)
            .response_checksum_validation(response_checksums);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        let client = aws_sdk_s3::Client::from_conf(builder.build());
        let mut bucket = Self::from_client(client, config.bucket, config.prefix.as_deref())?;
        if let Some(n) = config.list_page_size {
            bucket = bucket.with_page_size(n);
        }
        Ok(bucket)
    }

    /// Wraps a ready client (for instance one with a simulated HTTP
    /// connector). Its retry, timeout and checksum settings are used as they are.
    pub fn from_client(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: Option<&str>,
    ) -> Result<Self, OpenError> {
        let bucket = bucket.into();
        check_bucket_name(&bucket)?;
        let prefix = normalize_prefix(prefix)?;
        Ok(Self {
            client,
            bucket,
            prefix,
            page_size: None,
        })
    }

    /// This bucket asking for at most `page_size` keys per list request (1 to 1000).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size.clamp(1, 1000) as i32);
        self
    }

    /// The SDK client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// The bucket name.
    pub fn bucket_name(&self) -> &str {
        &self.bucket
    }

    fn full_key(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Maps an SDK failure. `key` is set for single-object requests, where a
    /// plain 404 means the object is missing.
    fn error<E>(
        &self,
        err: SdkError<E>,
        op: Operation,
        target: &str,
        key: Option<&ObjectKey>,
    ) -> BucketError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let detail = DisplayErrorContext(&err).to_string();
        let transient = |detail: String| BucketError::transient(op, target, detail);
        let store = |detail: String| BucketError::Store {
            op,
            target: target.to_owned(),
            detail,
        };
        match &err {
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => transient(detail),
            SdkError::DispatchFailure(failure) if failure.is_user() => store(detail),
            SdkError::DispatchFailure(_) => transient(detail),
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let code = context.err().code().unwrap_or_default();
                match (status, code) {
                    (_, "NoSuchBucket") => BucketError::NoSuchBucket {
                        bucket: self.bucket.clone(),
                    },
                    (404, _) | (_, "NoSuchKey") => match key {
                        Some(key) => BucketError::NotFound { key: key.clone() },
                        None => BucketError::NoSuchBucket {
                            bucket: self.bucket.clone(),
                        },
                    },
                    (403, _)
                    | (_, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
                        BucketError::AccessDenied {
                            op,
                            target: target.to_owned(),
                            detail,
                        }
                    }
                    (
                        _,
                        "SlowDown"
                        | "RequestTimeout"
                        | "Throttling"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "TooManyRequests"
                        | "InternalError"
                        | "ServiceUnavailable"
                        | "ConditionalRequestConflict",
                    ) => transient(detail),
                    (408 | 429 | 500 | 502..=599, _) => transient(detail),
                    _ => store(detail),
                }
            }
            _ => store(detail),
        }
    }
}

fn check_bucket_name(bucket: &str) -> Result<(), OpenError> {
    let ok = !bucket.is_empty()
        && bucket.len() <= 255
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(OpenError::InvalidS3Config {
            field: "bucket",
            detail: format!(
                "bucket name {bucket:?} is invalid; use letters, digits, '.', '-' or '_' \
                 (S3 itself wants 3 to 63 lowercase letters, digits, '.' and '-')"
            ),
        })
    }
}

/// "" for no prefix, otherwise the validated prefix with one trailing '/'.
fn normalize_prefix(prefix: Option<&str>) -> Result<String, OpenError> {
    let trimmed = prefix.unwrap_or("").trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    ObjectKey::new(trimmed).map_err(|reason| OpenError::InvalidS3Config {
        field: "prefix",
        detail: format!("key prefix {trimmed:?} is invalid: {reason}"),
    })?;
    Ok(format!("{trimmed}/"))
}

/// The etag without its quotes; `None` when absent or empty.
fn strip_etag(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_matches('"'))
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
}

/// Parses `bytes START-END/SIZE` (END inclusive; SIZE may be `*`).
fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, size) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let size = if size == "*" {
        None
    } else {
        Some(size.parse().ok()?)
    };
    Some((start.parse().ok()?, end.parse().ok()?, size))
}

impl Bucket for S3Bucket {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| self.error(e, Operation::Put, key.as_str(), Some(key)))?;
            Ok(())
        })
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<PutOutcome, BucketError>> {
        Box::pin(async move {
            let result = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .if_none_match("*")
                .body(ByteStream::from(body))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(PutOutcome::Created),
                Err(err) => err,
            };
            if let SdkError::ServiceError(context) = &err {
                let status = context.raw().status().as_u16();
                let code = context.err().code().unwrap_or_default();
                if status == 412 || code == "PreconditionFailed" {
                    return Ok(PutOutcome::AlreadyExists);
                }
                if status == 501 || code == "NotImplemented" {
                    return Err(BucketError::ConditionalCreateUnsupported {
                        key: key.clone(),
                        detail: DisplayErrorContext(&err).to_string(),
                    });
                }
            }
            Err(self.error(err, Operation::PutIfAbsent, key.as_str(), Some(key)))
        })
    }

    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            let op = Operation::Get;
            let output = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .send()
                .await
                .map_err(|e| self.error(e, op, key.as_str(), Some(key)))?;
            let body = output.body.collect().await.map_err(|e| {
                BucketError::transient(op, key.as_str(), format!("reading the body failed: {e}"))
            })?;
            Ok(body.into_bytes())
        })
    }

    fn get_range<'a>(
        &'a self,
        key: &'a ObjectKey,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            if check_range(key, &range)? {
                return Ok(Bytes::new());
            }
            let op = Operation::GetRange;
            let invalid = |size| BucketError::InvalidRange {
                key: key.clone(),
                start: range.start,
                end: range.end,
                size,
            };
            let result = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .range(format!("bytes={}-{}", range.start, range.end - 1))
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(SdkError::ServiceError(context))
                    if context.raw().status().as_u16() == 416
                        || context.err().code() == Some("InvalidRange") =>
                {
                    return Err(invalid(None));
                }
                Err(err) => return Err(self.error(err, op, key.as_str(), Some(key))),
            };
            let content_range = output.content_range().map(str::to_owned);
            let body = output
                .body
                .collect()
                .await
                .map_err(|e| {
                    BucketError::transient(
                        op,
                        key.as_str(),
                        format!("reading the body failed: {e}"),
                    )
                })?
                .into_bytes();
            let want = range.end - range.start;
            match content_range.as_deref().map(parse_content_range) {
                Some(Some((start, end, size))) => {
                    if start != range.start
                        || end.checked_sub(start).map(|n| n + 1) != Some(body.len() as u64)
                    {
                        return Err(BucketError::Store {
                            op,
                            target: key.to_string(),
                            detail: format!(
                                "asked for bytes {}..{} and got Content-Range {:?} with {} bytes",
                                range.start,
                                range.end,
                                content_range.unwrap_or_default(),
                                body.len()
                            ),
                        });
                    }
                    if (body.len() as u64) < want {
                        return Err(invalid(size));
                    }
                    Ok(body)
                }
                Some(None) => Err(BucketError::Store {
                    op,
                    target: key.to_string(),
                    detail: format!(
                        "unparsable Content-Range {:?}",
                        content_range.unwrap_or_default()
                    ),
                }),
                // No Content-Range: the store ignored the Range header and sent
                // the whole object. Cut the range out of it.
                None => {
                    let size = body.len() as u64;
                    if range.end > size {
                        return Err(invalid(Some(size)));
                    }
                    Ok(body.slice(range.start as usize..range.end as usize))
                }
            }
        })
    }

    fn head<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<ObjectMeta, BucketError>> {
        Box::pin(async move {
            let output = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .send()
                .await
                .map_err(|e| self.error(e, Operation::Head, key.as_str(), Some(key)))?;
            Ok(ObjectMeta {
                key: key.clone(),
                size: output
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                etag: strip_etag(output.e_tag()),
            })
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        continuation: Option<String>,
    ) -> BoxFuture<'a, Result<ListPage, BucketError>> {
        Box::pin(async move {
            check_list_prefix(prefix)?;
            let op = Operation::List;
            let output = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(format!("{}{}", self.prefix, prefix))
                .set_continuation_token(continuation)
                .set_max_keys(self.page_size)
                .send()
                .await
                .map_err(|e| self.error(e, op, prefix, None))?;
            let mut objects = Vec::with_capacity(output.contents().len());
            for object in output.contents() {
                let Some(full) = object.key() else { continue };
                let Some(relative) = full.strip_prefix(&self.prefix) else {
                    continue;
                };
                match ObjectKey::new(relative) {
                    Ok(key) => objects.push(ObjectMeta {
                        key,
                        size: object
                            .size()
                            .and_then(|n| u64::try_from(n).ok())
                            .unwrap_or(0),
                        etag: strip_etag(object.e_tag()),
                    }),
                    Err(reason) => {
                        tracing::warn!(bucket = %self.bucket, key = full, %reason, "skipping an object whose key is not a valid bucket key");
                    }
                }
            }
            let next = if output.is_truncated().unwrap_or(false) {
                match output.next_continuation_token() {
                    Some(token) if !token.is_empty() => Some(token.to_owned()),
                    _ => {
                        return Err(BucketError::Store {
                            op,
                            target: prefix.to_owned(),
                            detail: "the store reported a truncated listing without a continuation token"
                                .into(),
                        });
                    }
                }
            } else {
                None
            };
            Ok(ListPage { objects, next })
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>> {
        Box::pin(async move {
            match self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(err) => match self.error(err, Operation::Delete, key.as_str(), Some(key)) {
                    // S3 answers 204 for a missing key; some stores say 404.
                    BucketError::NotFound { .. } => Ok(()),
                    other => Err(other),
                },
            }
        })
    }

    fn delete_if_match<'a>(
        &'a self,
        key: &'a ObjectKey,
        etag: &'a str,
    ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>> {
        Box::pin(async move {
            let result = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .if_match(format!("\"{etag}\""))
                .send()
                .await;
            match result {
                Ok(_) => Ok(DeleteOutcome::Deleted),
                Err(err) => {
                    // AWS answers 412 for another version and 404 for none;
                    // SeaweedFS answers 412 for none too, so a 412 is
                    // checked (rare: GC deleting what was just rewritten).
                    if err.raw_response().map(|r| r.status().as_u16()) == Some(412) {
                        return match self.head(key).await {
                            Ok(_) => Ok(DeleteOutcome::Changed),
                            Err(BucketError::NotFound { .. }) => Ok(DeleteOutcome::Deleted),
                            Err(e) => Err(e),
                        };
                    }
                    match self.error(err, Operation::Delete, key.as_str(), Some(key)) {
                        BucketError::NotFound { .. } => Ok(DeleteOutcome::Deleted),
                        other => Err(other),
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(
            parse_content_range("bytes 0-9/100"),
            Some((0, 9, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5, 5, None)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn prefixes_are_normalized_and_checked() {
        assert_eq!(normalize_prefix(None).unwrap(), "");
        assert_eq!(normalize_prefix(Some("/")).unwrap(), "");
        assert_eq!(normalize_prefix(Some("lib/one/")).unwrap(), "lib/one/");
        assert_eq!(normalize_prefix(Some("/lib")).unwrap(), "lib/");
        let err = normalize_prefix(Some("a/../b")).unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::InvalidS3Config {
                    field: "prefix",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let creds = S3Credentials::Static {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
        };
        let shown = format!("{creds:?}");
        assert!(
            shown.contains("AKIDEXAMPLE")
                && !shown.contains("secret\"")
                && !shown.contains("very-secret")
        );
        assert!(!shown.contains("token-secret"), "{shown}");
    }

    #[tokio::test]
    async fn config_is_checked_before_any_request() {
        let mut config = S3Config::new("bucket");
        config.endpoint = Some("127.0.0.1:9000".into());
        config.credentials = S3Credentials::fixed("a", "b");
        let err = S3Bucket::from_config(config).await.unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        let err = S3Bucket::from_config(S3Config::new("has space"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::InvalidS3Config {
                    field: "bucket",
                    ..
                }
            ),
            "{err}"
        );
    }
}
