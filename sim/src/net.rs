//! The simulated network: aws-sdk-s3 dialing turmoil TCP streams, and the
//! s3s service accepting them. Everything here runs on turmoil's virtual
//! network and clock; nothing touches a real socket.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, IdentityCache, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::rt::TokioIo;

/// The bucket host's name and port in the simulation.
pub const S3_HOST: &str = "s3";
/// The port the bucket host listens on.
pub const S3_PORT: u16 = 9000;
/// The bucket name.
pub const BUCKET: &str = "bae-sim";
/// The access key pair the server accepts.
pub const ACCESS_KEY: &str = "sim-access";
/// The secret key.
pub const SECRET_KEY: &str = "sim-secret-key";

/// The SDK's time source: turmoil's virtual clock, so request signatures are
/// the same on every run of a seed.
#[derive(Debug, Clone, Copy)]
pub struct TurmoilTime;

impl TimeSource for TurmoilTime {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + turmoil::since_epoch().unwrap_or_default()
    }
}

/// An HTTP client for the SDK that opens one turmoil TCP connection per
/// request and speaks HTTP/1.1 over it with hyper.
#[derive(Debug, Clone, Copy)]
struct TurmoilHttp;

impl HttpClient for TurmoilHttp {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(TurmoilConnector)
    }
}

#[derive(Debug, Clone, Copy)]
struct TurmoilConnector;

#[derive(Debug)]
struct Failed(String);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

fn io_error(what: &str, e: impl fmt::Display) -> ConnectorError {
    ConnectorError::io(Box::new(Failed(format!("{what}: {e}"))))
}

impl HttpConnector for TurmoilConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(Box::new(Failed(e.to_string()))))?;
            let (mut parts, body) = request.into_parts();
            let host = parts.uri.host().unwrap_or(S3_HOST).to_owned();
            let port = parts.uri.port_u16().unwrap_or(80);
            if !parts.headers.contains_key(http::header::HOST) {
                let value = http::HeaderValue::from_str(&format!("{host}:{port}"))
                    .map_err(|e| io_error("host header", e))?;
                parts.headers.insert(http::header::HOST, value);
            }
            parts.uri = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse()
                .map_err(|e| io_error("uri", e))?;
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| io_error("connect", e))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| io_error("handshake", e))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let response = sender
                .send_request(http::Request::from_parts(parts, body))
                .await
                .map_err(|e| io_error("request", e))?;
            let (parts, incoming) = response.into_parts();
            let response = http::Response::from_parts(parts, SdkBody::from_body_1_x(incoming));
            HttpResponse::try_from(response).map_err(|e| io_error("response", e))
        })
    }
}

/// A retry partition name no other client in this process has used: the
/// SDK keeps a token bucket per name in a process-wide static, which must
/// not carry over from one run (or seed) to the next.
pub fn partition_name(seed: u64, slot: usize, incarnation: u64) -> String {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("sim-{seed}-{slot}-{incarnation}-{n}")
}

/// An S3 client for one device incarnation, with every source of hidden
/// randomness or global state removed (DEPENDENCIES.md §2): no SDK retries
/// (the `Retrying` wrapper retries, with seeded jitter), a retry partition
/// of its own, turmoil's clock, no stalled-stream protection, no identity
/// cache. Timeouts run on virtual time, so a held link times out.
pub fn s3_client(partition: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{S3_HOST}:{S3_PORT}"))
        .force_path_style(true)
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "sim"))
        .http_client(SharedHttpClient::new(TurmoilHttp))
        .retry_config(RetryConfig::disabled().with_use_static_exponential_base(true))
        .retry_partition(RetryPartition::new(partition.to_owned()))
        .time_source(TurmoilTime)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .identity_cache(IdentityCache::no_cache())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .build(),
        )
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

tokio::task_local! {
    /// The host name of the peer whose request is being served.
    pub static PEER: String;
}

/// The bucket host: accepts turmoil TCP connections and serves each with the
/// s3s service, remembering the peer's host name for the backend.
pub async fn serve(service: s3s::service::S3Service) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind((IpAddr::from([0, 0, 0, 0]), S3_PORT)).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        let name = turmoil::reverse_lookup(peer.ip()).unwrap_or_else(|| peer.ip().to_string());
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let service = service.clone();
                let name = name.clone();
                async move {
                    PEER.scope(name, hyper::service::Service::call(&service, req))
                        .await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
