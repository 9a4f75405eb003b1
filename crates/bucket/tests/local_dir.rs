//! What the local-directory bucket adds to the shared contract.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bae_bucket::{Bucket, BucketError, LocalDirBucket, ObjectKey, OpenError, PutOutcome};
use bytes::Bytes;

fn key(s: &str) -> ObjectKey {
    ObjectKey::new(s).unwrap()
}

#[tokio::test]
async fn files_mirror_keys_and_stray_files_are_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = LocalDirBucket::open(dir.path()).unwrap();
    bucket
        .put(&key("ops/dev/00000001.enc"), Bytes::from_static(b"op"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("ops/dev/00000001.enc")).unwrap(),
        b"op"
    );

    // a crashed writer's temporary file, editor droppings, a symlink
    std::fs::write(dir.path().join(".bae-tmp/0123456789abcdef.tmp"), b"half").unwrap();
    std::fs::write(dir.path().join("ops/dev/.00000002.enc.swp"), b"x").unwrap();
    std::fs::write(dir.path().join(".DS_Store"), b"x").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        dir.path().join("ops/dev/00000001.enc"),
        dir.path().join("ops/link"),
    )
    .unwrap();

    let listed: Vec<String> = bucket
        .list_all("")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.into_string())
        .collect();
    assert_eq!(listed, ["ops/dev/00000001.enc"]);
}

#[tokio::test]
async fn open_checks_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert_eq!(
        LocalDirBucket::open(&missing).unwrap_err(),
        OpenError::DirectoryMissing {
            path: missing.clone()
        }
    );
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    assert_eq!(
        LocalDirBucket::open(&file).unwrap_err(),
        OpenError::NotADirectory { path: file }
    );
    let created = LocalDirBucket::create(&missing).unwrap();
    assert_eq!(created.root(), missing);
    assert!(missing.is_dir());
}

#[tokio::test]
async fn a_key_cannot_be_both_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = LocalDirBucket::open(dir.path()).unwrap();
    bucket
        .put(&key("a/b"), Bytes::from_static(b"file"))
        .await
        .unwrap();
    let err = bucket
        .put(&key("a/b/c"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, BucketError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot hold both"), "{err}");
    let err = bucket
        .put_if_absent(&key("a/b/c"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, BucketError::Io { .. }), "{err:?}");

    // 'a' is a directory, not an object
    assert!(bucket.get(&key("a")).await.unwrap_err().is_not_found());
    assert!(bucket.head(&key("a")).await.unwrap_err().is_not_found());
    bucket.delete(&key("a")).await.unwrap();
    let err = bucket
        .put_if_absent(&key("a"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BucketError::Io { .. }),
        "not AlreadyExists: {err:?}"
    );
    let err = bucket
        .put(&key("a"), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, BucketError::Io { .. }), "{err:?}");
    assert_eq!(
        bucket.get(&key("a/b")).await.unwrap(),
        Bytes::from_static(b"file")
    );
    // nothing half-written stays behind
    assert_eq!(
        std::fs::read_dir(dir.path().join(".bae-tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn delete_prunes_empty_directories_only() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = LocalDirBucket::open(dir.path()).unwrap();
    bucket
        .put(&key("images/ab/cd/one"), Bytes::from_static(b"1"))
        .await
        .unwrap();
    bucket
        .put(&key("images/ab/two"), Bytes::from_static(b"2"))
        .await
        .unwrap();
    bucket.delete(&key("images/ab/cd/one")).await.unwrap();
    assert!(!dir.path().join("images/ab/cd").exists());
    assert!(dir.path().join("images/ab/two").is_file());
    bucket.delete(&key("images/ab/two")).await.unwrap();
    assert!(!dir.path().join("images").exists());
    assert!(dir.path().is_dir(), "the root stays");
}

/// Readers never see a half-written object while a writer keeps replacing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_is_atomic_for_concurrent_readers() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = Arc::new(LocalDirBucket::open(dir.path()).unwrap());
    let k = key("heads/dev.json.enc");
    let a = Bytes::from(vec![b'a'; 256 * 1024]);
    let b = Bytes::from(vec![b'b'; 200 * 1024]);
    bucket.put(&k, a.clone()).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (bucket, k, stop, a, b) = (
            bucket.clone(),
            k.clone(),
            stop.clone(),
            a.clone(),
            b.clone(),
        );
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let got = bucket.get(&k).await.unwrap();
                assert!(got == a || got == b, "torn read of {} bytes", got.len());
                reads += 1;
            }
            reads
        })
    };
    for i in 0..100 {
        bucket
            .put(&k, if i % 2 == 0 { b.clone() } else { a.clone() })
            .await
            .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.await.unwrap();
    assert!(reads > 0);
}

/// `put_if_absent` from many OS threads at once: exactly one creates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_if_absent_is_atomic_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = Arc::new(LocalDirBucket::open(dir.path()).unwrap());
    for round in 0..20 {
        let k = key(&format!("ops/dev/{round:08}.enc"));
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let (bucket, k) = (bucket.clone(), k.clone());
                tokio::spawn(async move {
                    (
                        i,
                        bucket
                            .put_if_absent(&k, Bytes::from(vec![i; 32]))
                            .await
                            .unwrap(),
                    )
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (i, outcome) = task.await.unwrap();
            if outcome == PutOutcome::Created {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            bucket.get(&k).await.unwrap(),
            Bytes::from(vec![winners[0]; 32])
        );
    }
}
