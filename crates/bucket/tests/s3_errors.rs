//! S3Bucket error mapping and store quirks, against s3s-fs over loopback TCP.

use std::time::Duration;

use bae_bucket::testing::S3sFsServer;
use bae_bucket::{
    Bucket, BucketError, ObjectKey, Operation, PutOutcome, RetryPolicy, Retrying, S3Bucket,
    S3Config, S3Credentials,
};
use bytes::Bytes;

fn key(s: &str) -> ObjectKey {
    ObjectKey::new(s).unwrap()
}

async fn server_with_bucket(name: &str) -> (S3sFsServer, S3Bucket) {
    let server = S3sFsServer::start().await.unwrap();
    let bucket = server.endpoint().bucket(name, None).await.unwrap();
    (server, bucket)
}

#[tokio::test]
async fn wrong_secret_is_access_denied() {
    let (server, _) = server_with_bucket("bae-auth").await;
    let mut config = server.endpoint().config("bae-auth");
    config.credentials = S3Credentials::fixed(&server.endpoint().access_key, "not-the-secret");
    let bucket = S3Bucket::from_config(config).await.unwrap();
    let err = bucket
        .put(&key("a"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BucketError::AccessDenied {
                op: Operation::Put,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let err = bucket.list("", None).await.unwrap_err();
    assert!(
        matches!(
            err,
            BucketError::AccessDenied {
                op: Operation::List,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("check the credentials"), "{err}");
}

#[tokio::test]
async fn missing_bucket_is_no_such_bucket() {
    let server = S3sFsServer::start().await.unwrap();
    let bucket = S3Bucket::from_config(server.endpoint().config("bae-never-created"))
        .await
        .unwrap();
    // s3s-fs 0.14 answers a GET in a missing bucket with NoSuchKey and accepts
    // a PUT into one, so only the listing can tell (SeaweedFS: see seaweedfs.rs).
    let err = bucket.list("", None).await.unwrap_err();
    assert_eq!(
        err,
        BucketError::NoSuchBucket {
            bucket: "bae-never-created".into()
        },
        "{err}"
    );
    assert!(
        err.to_string().contains("create it or fix the bucket url"),
        "{err}"
    );
}

#[tokio::test]
async fn not_found_is_typed() {
    let (_server, bucket) = server_with_bucket("bae-notfound").await;
    assert_eq!(
        bucket.get(&key("nope")).await.unwrap_err(),
        BucketError::NotFound { key: key("nope") }
    );
    assert_eq!(
        bucket.head(&key("nope")).await.unwrap_err(),
        BucketError::NotFound { key: key("nope") }
    );
    bucket.delete(&key("nope")).await.unwrap();
}

#[tokio::test]
async fn slow_down_is_transient_and_retried() {
    let (server, bucket) = server_with_bucket("bae-slowdown").await;
    bucket
        .put(&key("a"), Bytes::from_static(b"v"))
        .await
        .unwrap();

    server.faults().fail_next(1);
    let err = bucket.get(&key("a")).await.unwrap_err();
    assert!(
        matches!(
            err,
            BucketError::Transient {
                op: Operation::Get,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("SlowDown"), "{err}");

    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay_ms: 5,
        max_delay_ms: 20,
        seed: 9,
    };
    let retrying = Retrying::new(bucket.clone(), policy);
    let before = server.faults().requests();
    server.faults().fail_next(2);
    assert_eq!(
        retrying.get(&key("a")).await.unwrap(),
        Bytes::from_static(b"v")
    );
    assert_eq!(
        server.faults().requests() - before,
        3,
        "two 503s then success"
    );

    let before = server.faults().requests();
    server.faults().fail_next(5);
    let err = retrying.get(&key("a")).await.unwrap_err();
    match &err {
        BucketError::RetriesExhausted {
            attempts: 3, last, ..
        } => assert!(last.is_transient()),
        other => panic!("expected RetriesExhausted after 3 attempts, got {other:?}"),
    }
    assert_eq!(server.faults().requests() - before, 3);
    server.faults().fail_next(0);
}

#[tokio::test]
async fn store_without_conditional_writes_is_detected() {
    let (server, bucket) = server_with_bucket("bae-nocond").await;
    server.faults().reject_conditional_put(true);
    let err = bucket
        .put_if_absent(&key("ops/d/1.enc"), Bytes::from_static(b"v"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BucketError::ConditionalCreateUnsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("If-None-Match"), "{err}");
    assert!(!err.is_transient(), "must not be retried");
    // plain puts still work
    bucket
        .put(&key("ops/d/1.enc"), Bytes::from_static(b"v"))
        .await
        .unwrap();
    server.faults().reject_conditional_put(false);
    assert_eq!(
        bucket
            .put_if_absent(&key("ops/d/1.enc"), Bytes::from_static(b"w"))
            .await
            .unwrap(),
        PutOutcome::AlreadyExists
    );
}

#[tokio::test]
async fn range_is_exact_even_when_the_store_ignores_range() {
    let (server, bucket) = server_with_bucket("bae-norange").await;
    let body: Bytes = (0..10_000u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    bucket.put(&key("blob"), body.clone()).await.unwrap();
    server.faults().ignore_range(true);
    assert_eq!(
        bucket.get_range(&key("blob"), 100..200).await.unwrap(),
        body.slice(100..200)
    );
    assert_eq!(
        bucket.get_range(&key("blob"), 9_990..10_000).await.unwrap(),
        body.slice(9_990..)
    );
    let err = bucket
        .get_range(&key("blob"), 9_990..10_001)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BucketError::InvalidRange {
            key: key("blob"),
            start: 9_990,
            end: 10_001,
            size: Some(10_000)
        }
    );
    server.faults().ignore_range(false);
    let err = bucket
        .get_range(&key("blob"), 9_990..10_001)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BucketError::InvalidRange {
                size: Some(10_000),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn idle_poll_is_one_request() {
    let (server, bucket) = server_with_bucket("bae-idle").await;
    for d in ["a", "b", "c"] {
        bucket
            .put(
                &key(&format!("heads/{d}.json.enc")),
                Bytes::from_static(b"h"),
            )
            .await
            .unwrap();
    }
    let before = server.faults().requests();
    assert_eq!(bucket.list_all("heads/").await.unwrap().len(), 3);
    assert_eq!(server.faults().requests() - before, 1);
}

#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    // A port that was just free: connecting is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = S3Config::new("bae-gone");
    config.endpoint = Some(format!("http://127.0.0.1:{port}"));
    config.path_style = true;
    config.credentials = S3Credentials::fixed("a", "b");
    let bucket = S3Bucket::from_config(config).await.unwrap();
    let err = bucket.get(&key("a")).await.unwrap_err();
    assert!(matches!(err, BucketError::Transient { .. }), "{err:?}");

    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay_ms: 1,
        max_delay_ms: 2,
        seed: 0,
    };
    let err = Retrying::new(bucket, policy)
        .list("ops/", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BucketError::RetriesExhausted {
                attempts: 3,
                op: Operation::List,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    // Accepts connections (through the backlog) but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = S3Config::new("bae-silent");
    config.endpoint = Some(format!("http://{}", listener.local_addr().unwrap()));
    config.path_style = true;
    config.credentials = S3Credentials::fixed("a", "b");
    config.attempt_timeout = Some(Duration::from_millis(300));
    let bucket = S3Bucket::from_config(config).await.unwrap();
    let err = bucket.head(&key("a")).await.unwrap_err();
    assert!(
        matches!(
            err,
            BucketError::Transient {
                op: Operation::Head,
                ..
            }
        ),
        "{err:?}"
    );
    drop(listener);
}
