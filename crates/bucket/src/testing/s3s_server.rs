//! s3s-fs served in-process on a loopback socket.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::{
    CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput, GetObjectInput,
    GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput,
    ListObjectsV2Input, ListObjectsV2Output, PutObjectInput, PutObjectOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use super::endpoint::{S3TestEndpoint, TestServerError};

/// Switches that make an [`S3sFsServer`] misbehave. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct S3Faults {
    state: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    fail_next: u32,
    reject_conditional_put: bool,
    ignore_range: bool,
    requests: u64,
}

impl S3Faults {
    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next `n` requests answer 503 `SlowDown`.
    pub fn fail_next(&self, n: u32) {
        self.state().fail_next = n;
    }

    /// While on, a PUT carrying `If-None-Match` answers 501 `NotImplemented`,
    /// like a store without conditional writes.
    pub fn reject_conditional_put(&self, on: bool) {
        self.state().reject_conditional_put = on;
    }

    /// While on, GET ignores `Range` and sends the whole object (200).
    pub fn ignore_range(&self, on: bool) {
        self.state().ignore_range = on;
    }

    /// Requests that reached the S3 layer (signature checked) so far.
    pub fn requests(&self) -> u64 {
        self.state().requests
    }

    fn before(&self) -> S3Result<()> {
        let mut state = self.state();
        state.requests += 1;
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Err(s3_error!(SlowDown, "injected by S3Faults::fail_next"));
        }
        Ok(())
    }
}

/// s3s-fs with [`S3Faults`] in front, delegating the operations the bucket uses.
struct FaultyFs {
    fs: s3s_fs::FileSystem,
    faults: S3Faults,
    /// s3s-fs 0.14 checks `If-None-Match: *` and then writes, so concurrent
    /// conditional PUTs can all succeed (seen: 3 of 8 racers "created" one
    /// key). Serializing conditional PUTs makes the check atomic, as on S3.
    conditional_put: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl S3 for FaultyFs {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.faults.before()?;
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.faults.before()?;
        self.fs.head_bucket(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.faults.before()?;
        if req.input.if_none_match.is_some() {
            if self.faults.state().reject_conditional_put {
                return Err(s3_error!(
                    NotImplemented,
                    "conditional writes are not supported"
                ));
            }
            let _one_at_a_time = self.conditional_put.lock().await;
            return self.fs.put_object(req).await;
        }
        self.fs.put_object(req).await
    }

    async fn get_object(
        &self,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.faults.before()?;
        if self.faults.state().ignore_range {
            req.input.range = None;
        }
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.faults.before()?;
        self.fs.head_object(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.faults.before()?;
        self.fs.list_objects_v2(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.faults.before()?;
        self.fs.delete_object(req).await
    }
}

/// An s3s-fs server in this process, listening on `127.0.0.1:{free port}`,
/// storing into a temporary directory, with SigV4 auth (`SimpleAuth`).
///
/// Conditional PUTs (`If-None-Match`) are serialized in front of s3s-fs,
/// whose own check is not atomic. Known s3s-fs 0.14 quirks: listings carry
/// no etags, and a PUT into a missing bucket succeeds.
///
/// Runs on the current tokio runtime; dropping it stops the accept loop and
/// every open connection, then removes the directory.
#[derive(Debug)]
pub struct S3sFsServer {
    endpoint: S3TestEndpoint,
    faults: S3Faults,
    accept: tokio::task::JoinHandle<()>,
    root: tempfile::TempDir,
}

impl S3sFsServer {
    /// Starts the server; call from inside a tokio runtime.
    pub async fn start() -> Result<Self, TestServerError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Debug| TestServerError::Setup(format!("{what}: {e:?}"));
        let root = tempfile::Builder::new()
            .prefix("bae-s3s-fs-")
            .tempdir()
            .map_err(|e| setup("temporary directory", &e))?;
        let fs = s3s_fs::FileSystem::new(root.path()).map_err(|e| setup("s3s-fs", &e))?;
        let faults = S3Faults::default();
        let endpoint = S3TestEndpoint {
            endpoint: String::new(),
            access_key: "bae-test-access".to_owned(),
            secret_key: format!("bae-test-secret-{:016x}", rand::random::<u64>()),
            region: "us-east-1".to_owned(),
        };
        let service = {
            let mut builder = s3s::service::S3ServiceBuilder::new(FaultyFs {
                fs,
                faults: faults.clone(),
                conditional_put: tokio::sync::Mutex::new(()),
            });
            builder.set_auth(s3s::auth::SimpleAuth::from_single(
                endpoint.access_key.clone(),
                endpoint.secret_key.clone(),
            ));
            builder.build()
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| setup("bind 127.0.0.1", &e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| setup("local address", &e))?;
        let accept = tokio::spawn(async move {
            // Owned here so aborting this task aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let socket = match listener.accept().await {
                    Ok((socket, _)) => socket,
                    Err(err) => {
                        tracing::warn!(%err, "s3s test server: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let service = service.clone();
                connections.spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            endpoint: S3TestEndpoint {
                endpoint: format!("http://{addr}"),
                ..endpoint
            },
            faults,
            accept,
            root,
        })
    }

    /// Endpoint and credentials.
    pub fn endpoint(&self) -> &S3TestEndpoint {
        &self.endpoint
    }

    /// The fault switches.
    pub fn faults(&self) -> &S3Faults {
        &self.faults
    }

    /// The directory the objects are stored in.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for S3sFsServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
