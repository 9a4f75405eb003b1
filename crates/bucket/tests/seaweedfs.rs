//! S3Bucket against a real SeaweedFS server (`weed mini`), started here.
//!
//! Needs `weed`: run `scripts/install-test-deps.sh` (or set BAE_WEED). When
//! it is missing these tests fail and say so; they never skip.

use std::time::Instant;

use bae_bucket::testing::{
    ConformanceOptions, ListOrder, SeaweedServer, check_bucket, check_many_keys,
};
use bae_bucket::{Bucket, BucketError, ObjectKey, Operation, PutOutcome, S3Bucket, S3Credentials};
use bytes::Bytes;

async fn start() -> SeaweedServer {
    let started = Instant::now();
    let server = SeaweedServer::start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "seaweedfs ready at {} in {:?}",
        server.endpoint().endpoint,
        started.elapsed()
    );
    server
}

#[tokio::test]
async fn conformance_on_seaweedfs() {
    let server = start().await;
    let bucket = server
        .endpoint()
        .bucket("bae-conformance", Some(5))
        .await
        .unwrap();
    // SeaweedFS lists directory by directory: `dev1/…` before `dev1-old/…`.
    let options = ConformanceOptions {
        order: ListOrder::SegmentWise,
        ..ConformanceOptions::new("suite", 5)
    };
    check_bucket(&bucket, &options).await;
    let bucket = server
        .endpoint()
        .bucket("bae-conformance", None)
        .await
        .unwrap();
    let started = Instant::now();
    check_many_keys(&bucket, "many", 1_100).await;
    eprintln!(
        "1,100 keys written, listed, deleted in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn errors_on_seaweedfs() {
    let server = start().await;
    let endpoint = server.endpoint();
    let bucket = endpoint.bucket("bae-errors", None).await.unwrap();
    let key: ObjectKey = "ops/d/00000001.enc".parse().unwrap();

    assert!(bucket.get(&key).await.unwrap_err().is_not_found());
    assert!(bucket.head(&key).await.unwrap_err().is_not_found());
    assert_eq!(
        bucket
            .put_if_absent(&key, Bytes::from_static(b"a"))
            .await
            .unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        bucket
            .put_if_absent(&key, Bytes::from_static(b"b"))
            .await
            .unwrap(),
        PutOutcome::AlreadyExists
    );
    assert_eq!(bucket.get(&key).await.unwrap(), Bytes::from_static(b"a"));

    let mut config = endpoint.config("bae-errors");
    config.credentials = S3Credentials::fixed(&endpoint.access_key, "wrong-secret");
    let denied = S3Bucket::from_config(config).await.unwrap();
    let err = denied.get(&key).await.unwrap_err();
    assert!(
        matches!(
            err,
            BucketError::AccessDenied {
                op: Operation::Get,
                ..
            }
        ),
        "{err:?}"
    );

    let missing = S3Bucket::from_config(endpoint.config("bae-never-created"))
        .await
        .unwrap();
    let err = missing.list("", None).await.unwrap_err();
    assert_eq!(
        err,
        BucketError::NoSuchBucket {
            bucket: "bae-never-created".into()
        }
    );
}
