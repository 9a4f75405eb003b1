//! What a test server hands out: endpoint and credentials.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;

use crate::s3::{S3Bucket, S3Config, S3Credentials};

/// Why a test server could not be started or prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestServerError {
    /// SeaweedFS's `weed` binary was not found.
    #[error(
        "the SeaweedFS `weed` binary was not found (looked at $BAE_WEED, PATH and {}); \
         run scripts/install-test-deps.sh at the repository root, or set BAE_WEED",
        venv.display()
    )]
    WeedMissing {
        /// The `.venv/bin/weed` path that was tried.
        venv: PathBuf,
    },
    /// A local resource (socket, directory, process) could not be set up.
    #[error("could not start the test server: {0}")]
    Setup(String),
    /// The server did not become ready in time.
    #[error(
        "the test server at {endpoint} was not ready after {waited:?}: {last_error}\n--- server log (tail) ---\n{log_tail}"
    )]
    NotReady {
        /// The endpoint that was polled.
        endpoint: String,
        /// How long we waited.
        waited: Duration,
        /// The last error seen.
        last_error: String,
        /// The end of the server's log, when there is one.
        log_tail: String,
    },
    /// An S3 request to the server failed.
    #[error("s3 request to the test server failed: {0}")]
    Request(String),
}

/// Endpoint and credentials of a running S3 test server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3TestEndpoint {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Access key id the server accepts.
    pub access_key: String,
    /// Secret key the server accepts.
    pub secret_key: String,
    /// Region to sign with.
    pub region: String,
}

impl S3TestEndpoint {
    /// An [`S3Config`] for `bucket` on this server: path style, static
    /// credentials, short connect timeout.
    pub fn config(&self, bucket: &str) -> S3Config {
        let mut config = S3Config::new(bucket);
        config.endpoint = Some(self.endpoint.clone());
        config.region = self.region.clone();
        config.path_style = true;
        config.credentials = S3Credentials::fixed(&self.access_key, &self.secret_key);
        config.connect_timeout = Duration::from_secs(2);
        config.attempt_timeout = Some(Duration::from_secs(30));
        config
    }

    /// A raw SDK client for this server, without retries.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "test",
            ))
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Creates `bucket` (an existing bucket of ours is fine).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), TestServerError> {
        match self.client().create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(err) => {
                let code = err
                    .as_service_error()
                    .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code);
                // The server is ours alone, so an existing bucket is ours.
                if matches!(
                    code,
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) {
                    Ok(())
                } else {
                    Err(TestServerError::Request(
                        DisplayErrorContext(&err).to_string(),
                    ))
                }
            }
        }
    }

    /// Creates `bucket` and opens it with `page_size` keys per list request.
    pub async fn bucket(
        &self,
        bucket: &str,
        page_size: Option<u32>,
    ) -> Result<S3Bucket, TestServerError> {
        self.create_bucket(bucket).await?;
        let mut config = self.config(bucket);
        config.list_page_size = page_size;
        S3Bucket::from_config(config)
            .await
            .map_err(|e| TestServerError::Setup(e.to_string()))
    }
}
