//! The conformance suite against every implementation.

use std::sync::Arc;

use bae_bucket::testing::{ConformanceOptions, S3sFsServer, check_bucket, check_many_keys};
use bae_bucket::{
    Bucket, BucketError, BucketUrl, ChecksumMode, Fault, LocalDirBucket, MemoryBucket, OpenOptions,
    RetryPolicy, Retrying, S3Bucket, S3Credentials, open_bucket,
};

#[tokio::test]
async fn memory_bucket() {
    let bucket = MemoryBucket::new().with_page_size(4);
    check_bucket(&bucket, &ConformanceOptions::new("suite", 4)).await;
    assert!(bucket.is_empty());
    check_many_keys(&MemoryBucket::new(), "many", 1_100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_dir_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = LocalDirBucket::open(dir.path()).unwrap().with_page_size(3);
    check_bucket(&bucket, &ConformanceOptions::new("suite", 3)).await;
    check_many_keys(&LocalDirBucket::open(dir.path()).unwrap(), "many", 1_100).await;
    // Nothing left behind: deleted objects' directories are pruned and no
    // temporary file survives.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        left,
        [".bae-tmp"],
        "only the (empty) temporary directory remains"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join(".bae-tmp"))
            .unwrap()
            .count(),
        0
    );
}

/// The retry layer is transparent: with every third request failing
/// transiently (before or after taking effect), the suite still passes.
#[tokio::test(start_paused = true)]
async fn retrying_memory_bucket_with_faults() {
    let memory = MemoryBucket::new().with_page_size(5);
    memory.set_faults(|req| match req.index % 6 {
        2 => Some(Fault::Reject(BucketError::transient(
            req.op,
            req.target,
            "injected 503",
        ))),
        5 => Some(Fault::LoseResponse(BucketError::transient(
            req.op,
            req.target,
            "injected timeout",
        ))),
        _ => None,
    });
    let policy = RetryPolicy {
        max_attempts: 4,
        base_delay_ms: 10,
        max_delay_ms: 100,
        seed: 3,
    };
    let bucket = Retrying::new(memory.clone(), policy);
    check_bucket(&bucket, &ConformanceOptions::new("suite", 5)).await;
    let counts = memory.request_counts();
    assert!(counts.total() > 100, "{counts:?}");
}

async fn s3s_suite(checksums: ChecksumMode, many_keys: bool) {
    let server = S3sFsServer::start().await.unwrap();
    let endpoint = server.endpoint();
    endpoint.create_bucket("bae-conformance").await.unwrap();
    let mut config = endpoint.config("bae-conformance");
    config.checksums = checksums;
    config.list_page_size = Some(5);
    let bucket = S3Bucket::from_config(config).await.unwrap();
    // s3s-fs 0.14 lists objects without etags and ignores `If-Match` on DELETE
    let options = ConformanceOptions {
        listing_etags: false,
        conditional_delete: false,
        ..ConformanceOptions::new("suite", 5)
    };
    let started = std::time::Instant::now();
    check_bucket(&bucket, &options).await;
    eprintln!("suite took {:?}", started.elapsed());
    if many_keys {
        // default page size (the server's, 1000): 1,100 keys take two pages
        let bucket = endpoint.bucket("bae-conformance", None).await.unwrap();
        let started = std::time::Instant::now();
        check_many_keys(&bucket, "many", 1_100).await;
        eprintln!("1,100 keys took {:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bucket_on_s3s_fs() {
    s3s_suite(ChecksumMode::WhenSupported, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_bucket_on_s3s_fs_checksums_when_required() {
    s3s_suite(ChecksumMode::WhenRequired, false).await;
}

/// A key prefix keeps libraries apart inside one bucket, and the suite
/// passes through one.
#[tokio::test]
async fn s3_bucket_with_key_prefix() {
    let server = S3sFsServer::start().await.unwrap();
    let endpoint = server.endpoint();
    endpoint.create_bucket("bae-prefixed").await.unwrap();
    let open = |prefix: &str| {
        let mut config = endpoint.config("bae-prefixed");
        config.prefix = Some(prefix.to_owned());
        config.list_page_size = Some(4);
        S3Bucket::from_config(config)
    };
    let a = open("libs/a").await.unwrap();
    let b = open("libs/b").await.unwrap();
    check_bucket(
        &a,
        &ConformanceOptions {
            listing_etags: false,
            conditional_delete: false,
            ..ConformanceOptions::new("suite", 4)
        },
    )
    .await;

    let key = "heads/d.json.enc".parse().unwrap();
    a.put(&key, bytes::Bytes::from_static(b"in a"))
        .await
        .unwrap();
    assert!(b.get(&key).await.unwrap_err().is_not_found());
    assert!(b.list_all("").await.unwrap().is_empty());
    let listed = a.list_all("").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    let raw = endpoint
        .client()
        .list_objects_v2()
        .bucket("bae-prefixed")
        .send()
        .await
        .unwrap();
    let raw_keys: Vec<&str> = raw.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(raw_keys, ["libs/a/heads/d.json.enc"]);
}

/// `open_bucket` for each scheme, retry layer included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_bucket_from_urls() {
    let server = S3sFsServer::start().await.unwrap();
    let endpoint = server.endpoint();
    endpoint.create_bucket("bae-url").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions {
        credentials: Some(S3Credentials::fixed(
            &endpoint.access_key,
            &endpoint.secret_key,
        )),
        retry: Some(RetryPolicy::seeded(1)),
    };
    let urls = [
        "mem://conformance-url".to_owned(),
        format!("file://{}", dir.path().display()),
        format!(
            "s3://bae-url/lib?endpoint={}&path_style=true",
            endpoint.endpoint
        ),
    ];
    for url in urls {
        let parsed: BucketUrl = url.parse().unwrap();
        let bucket: Arc<dyn Bucket> = open_bucket(&parsed, &options).await.unwrap();
        let shown = format!("{bucket:?}");
        assert!(shown.starts_with("Retrying"), "{shown}");
        // default page sizes here, so pagination is covered by the other tests
        check_many_keys(bucket.as_ref(), "via-url", 25).await;
    }
    let missing: BucketUrl = format!("file://{}/nope", dir.path().display())
        .parse()
        .unwrap();
    let err = open_bucket(&missing, &options).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}
