//! The two-device flow through a real S3 server: SeaweedFS on 127.0.0.1,
//! started here (`scripts/install-test-deps.sh` installs it; when it is
//! missing this test fails and says so).

mod common;

use bae_bucket::Bucket as _;
use bae_bucket::testing::SeaweedServer;
use common::{World, two_device_flow};

#[tokio::test]
async fn two_devices_through_seaweedfs() {
    let server = SeaweedServer::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let endpoint = server.endpoint().clone();
    endpoint.create_bucket("bae-e2e").await.unwrap();
    let url = format!(
        "s3://bae-e2e/library-1?endpoint={}&region={}&path_style=true",
        endpoint.endpoint, endpoint.region
    );
    let w = World::new();
    let creds = [
        "--access-key-id",
        endpoint.access_key.as_str(),
        "--secret-access-key",
        endpoint.secret_key.as_str(),
    ];
    two_device_flow(&w, &url, &creds);

    // The credentials given as flags are kept readable by the owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(w.path("a").join("s3-credentials.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    // Everything went under the prefix, audio files included.
    let bucket = endpoint.bucket("bae-e2e", None).await.unwrap();
    let objects = bucket.list_all("library-1/").await.unwrap();
    let count = |prefix: &str| {
        objects
            .iter()
            .filter(|o| o.key.as_str().starts_with(prefix))
            .count()
    };
    assert_eq!(count("library-1/storage/"), 40);
    assert_eq!(count("library-1/images/"), 5);
    assert_eq!(count("library-1/heads/"), 2);
    assert!(count("library-1/ops/") >= 7);
}
