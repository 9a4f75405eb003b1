//! SeaweedFS (`weed mini`) as a child process on free loopback ports.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::DisplayErrorContext;
use bytes::Bytes;

use super::endpoint::{S3TestEndpoint, TestServerError};

/// How long `start` waits for SeaweedFS to answer and accept a write.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `weed` in the background and kills it (SIGKILL) as soon as its
/// standard input reaches end of file: when the server handle is dropped, or
/// when the test process dies in any way, so no server outlives its test.
/// Exits when `weed` exits, so an early crash is visible.
const WATCHDOG: &str = r#"
weed="$1"; shift
exec 3<&0
"$weed" "$@" 3<&- </dev/null &
pid=$!
( read -r _ <&3; kill -9 "$pid" 2>/dev/null ) &
exec 3<&-
wait "$pid"
"#;

/// Finds `weed`: `$BAE_WEED`, then `PATH`, then `<repo>/.venv/bin/weed`
/// (where `scripts/install-test-deps.sh` puts it).
pub fn find_weed() -> Result<PathBuf, TestServerError> {
    if let Some(path) = std::env::var_os("BAE_WEED").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(TestServerError::Setup(format!(
                "BAE_WEED={} is not a file",
                path.display()
            )))
        };
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("weed");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/weed");
    if venv.is_file() {
        return Ok(venv);
    }
    Err(TestServerError::WeedMissing { venv })
}

/// Ports `weed mini` listens on.
#[derive(Debug, Clone, Copy)]
struct Ports {
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    s3: u16,
    s3_grpc: u16,
    admin: u16,
    /// Must be `admin + 10000`: SeaweedFS's worker dials that regardless of flags.
    admin_grpc: u16,
}

impl Ports {
    fn all(&self) -> [u16; 10] {
        [
            self.master,
            self.master_grpc,
            self.volume,
            self.volume_grpc,
            self.filer,
            self.filer_grpc,
            self.s3,
            self.s3_grpc,
            self.admin,
            self.admin_grpc,
        ]
    }

    /// Picks free loopback ports. The listeners are held until all are chosen
    /// so no port is picked twice; another process could still take one before
    /// `weed` binds it, which `start` survives by trying again.
    fn pick() -> Result<Self, TestServerError> {
        let bind = |port: u16| TcpListener::bind(("127.0.0.1", port));
        let mut held = Vec::new();
        let mut free = || -> Result<u16, TestServerError> {
            let listener =
                bind(0).map_err(|e| TestServerError::Setup(format!("bind 127.0.0.1:0: {e}")))?;
            let port = listener
                .local_addr()
                .map_err(|e| TestServerError::Setup(e.to_string()))?
                .port();
            held.push(listener);
            Ok(port)
        };
        let (master, master_grpc, volume, volume_grpc) = (free()?, free()?, free()?, free()?);
        let (filer, filer_grpc, s3, s3_grpc) = (free()?, free()?, free()?, free()?);
        let mut admin_pair = None;
        for _ in 0..100 {
            let port = free()?;
            if let Some(grpc) = port.checked_add(10_000)
                && let Ok(listener) = bind(grpc)
            {
                held.push(listener);
                admin_pair = Some((port, grpc));
                break;
            }
        }
        let (admin, admin_grpc) = admin_pair
            .ok_or_else(|| TestServerError::Setup("found no free port pair p, p+10000".into()))?;
        Ok(Self {
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3,
            s3_grpc,
            admin,
            admin_grpc,
        })
    }
}

/// A SeaweedFS server (`weed mini`: master, volume, filer and S3 gateway in
/// one process) on free `127.0.0.1` ports, telemetry off, data in a temporary
/// directory. Credentials go in through `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`, which `weed mini` turns into its admin identity,
/// so requests are SigV4-checked.
///
/// Dropping it kills the process and removes its directory and sockets.
#[derive(Debug)]
pub struct SeaweedServer {
    endpoint: S3TestEndpoint,
    child: Child,
    stdin: Option<ChildStdin>,
    ports: Ports,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl SeaweedServer {
    /// Starts SeaweedFS and waits until its S3 gateway takes a write.
    /// Fails with [`TestServerError::WeedMissing`] when `weed` is not installed.
    pub async fn start() -> Result<Self, TestServerError> {
        let weed = find_weed()?;
        let mut last = None;
        for _ in 0..3 {
            let mut server = Self::spawn(&weed)?;
            match server.wait_ready().await {
                Ok(()) => return Ok(server),
                // Most likely a port was taken between picking and binding.
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| TestServerError::Setup("no attempt made".into())))
    }

    fn spawn(weed: &Path) -> Result<Self, TestServerError> {
        let setup = |what: &str, e: std::io::Error| TestServerError::Setup(format!("{what}: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("bae-seaweedfs-")
            .tempdir()
            .map_err(|e| setup("temporary directory", e))?;
        let data = dir.path().join("data");
        let tmp = dir.path().join("tmp");
        fs::create_dir_all(&data).map_err(|e| setup("data directory", e))?;
        fs::create_dir_all(&tmp).map_err(|e| setup("tmp directory", e))?;
        let log = dir.path().join("weed.log");
        let log_file = fs::File::create(&log).map_err(|e| setup("log file", e))?;
        let log_err = log_file.try_clone().map_err(|e| setup("log file", e))?;
        let endpoint_creds = (
            "bae-test-access".to_owned(),
            format!("bae-test-secret-{:016x}", rand::random::<u64>()),
        );
        let ports = Ports::pick()?;
        let p = ports;
        let args = [
            "mini".to_owned(),
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            "-master.telemetry=false".into(),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            format!("-master.port={}", p.master),
            format!("-master.port.grpc={}", p.master_grpc),
            format!("-volume.port={}", p.volume),
            format!("-volume.port.grpc={}", p.volume_grpc),
            format!("-filer.port={}", p.filer),
            format!("-filer.port.grpc={}", p.filer_grpc),
            format!(
                "-filer.localSocket={}",
                dir.path().join("filer.sock").display()
            ),
            format!("-s3.port={}", p.s3),
            format!("-s3.port.grpc={}", p.s3_grpc),
            format!("-s3.localSocket={}", dir.path().join("s3.sock").display()),
            format!("-admin.port={}", p.admin),
            format!("-admin.port.grpc={}", p.admin_grpc),
        ];
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("bae-weed-watchdog")
            .arg(weed)
            .args(&args)
            .current_dir(dir.path())
            // weed writes its glog files to TMPDIR
            .env("TMPDIR", &tmp)
            .env("AWS_ACCESS_KEY_ID", &endpoint_creds.0)
            .env("AWS_SECRET_ACCESS_KEY", &endpoint_creds.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| setup("spawn sh running weed", e))?;
        let stdin = child.stdin.take();
        Ok(Self {
            endpoint: S3TestEndpoint {
                endpoint: format!("http://127.0.0.1:{}", p.s3),
                access_key: endpoint_creds.0,
                secret_key: endpoint_creds.1,
                region: "us-east-1".to_owned(),
            },
            child,
            stdin,
            ports,
            log,
            dir,
        })
    }

    async fn wait_ready(&mut self) -> Result<(), TestServerError> {
        let started = Instant::now();
        let client = self.endpoint.client();
        let probe_bucket = "bae-ready-probe";
        let mut last_error = String::from("no answer yet");
        while started.elapsed() < READY_TIMEOUT {
            if let Ok(Some(status)) = self.child.try_wait() {
                last_error = format!("weed exited early ({status})");
                break;
            }
            // Answering is not enough: the first writes fail until a volume
            // server has registered, so probe with a real write.
            let probe = async {
                self.endpoint.create_bucket(probe_bucket).await?;
                client
                    .put_object()
                    .bucket(probe_bucket)
                    .key("probe")
                    .body(Bytes::from_static(b"probe").into())
                    .send()
                    .await
                    .map_err(|e| TestServerError::Request(DisplayErrorContext(&e).to_string()))?;
                client
                    .delete_object()
                    .bucket(probe_bucket)
                    .key("probe")
                    .send()
                    .await
                    .map_err(|e| TestServerError::Request(DisplayErrorContext(&e).to_string()))?;
                Ok::<(), TestServerError>(())
            };
            match probe.await {
                Ok(()) => {
                    tracing::debug!(elapsed = ?started.elapsed(), "seaweedfs ready");
                    return Ok(());
                }
                Err(err) => last_error = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(TestServerError::NotReady {
            endpoint: self.endpoint.endpoint.clone(),
            waited: started.elapsed(),
            last_error,
            log_tail: self.log_tail(40),
        })
    }

    /// Endpoint and credentials.
    pub fn endpoint(&self) -> &S3TestEndpoint {
        &self.endpoint
    }

    /// The server's directory (data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for SeaweedServer {
    fn drop(&mut self) {
        // End of file on the watchdog's stdin: it kills weed and exits.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.wait();
        // weed leaves unix sockets named after its ports in /tmp.
        if let Ok(entries) = fs::read_dir("/tmp") {
            let suffixes: Vec<String> = self
                .ports
                .all()
                .iter()
                .map(|p| format!("-{p}.sock"))
                .collect();
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("seaweedfs-")
                    && suffixes.iter().any(|s| name.ends_with(s.as_str()))
                {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        // `dir` (data, logs) is removed when the field drops, after this.
    }
}
