//! Model-based test: memory and local-directory buckets against a plain map.

use std::collections::BTreeMap;

use bae_bucket::{Bucket, LocalDirBucket, MemoryBucket, ObjectKey, PutOutcome};
use bytes::Bytes;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put(String, u8),
    PutIfAbsent(String, u8),
    Delete(String),
}

/// Keys over a tiny alphabet, so prefixes collide and '-' (0x2d) < '.' <
/// '/' (0x2f) < '0' ordering matters.
fn arb_key() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just("a"), Just("a-b"), Just("a.c"), Just("b"), Just("a0")],
        1..4,
    )
    .prop_map(|segments| segments.join("/"))
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (arb_key(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        (arb_key(), any::<u8>()).prop_map(|(k, v)| Op::PutIfAbsent(k, v)),
        arb_key().prop_map(Op::Delete),
    ]
}

/// A local directory cannot hold `a` and `a/…` at once; the model skips such
/// writes for both stores (that limit has its own test).
fn conflicts(model: &BTreeMap<String, Bytes>, key: &str) -> bool {
    model
        .keys()
        .any(|k| k.starts_with(&format!("{key}/")) || key.starts_with(&format!("{k}/")))
}

async fn check(
    bucket: &dyn Bucket,
    ops: &[Op],
    prefixes: &[String],
    page_size: usize,
) -> Result<(), TestCaseError> {
    let mut model: BTreeMap<String, Bytes> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put(k, v) | Op::PutIfAbsent(k, v) if conflicts(&model, k) => {
                let _ = v;
            }
            Op::Put(k, v) => {
                let body = Bytes::from(vec![*v; usize::from(*v % 7)]);
                bucket
                    .put(&ObjectKey::new(k.clone()).unwrap(), body.clone())
                    .await
                    .unwrap();
                model.insert(k.clone(), body);
            }
            Op::PutIfAbsent(k, v) => {
                let body = Bytes::from(vec![*v; 3]);
                let outcome = bucket
                    .put_if_absent(&ObjectKey::new(k.clone()).unwrap(), body.clone())
                    .await
                    .unwrap();
                let expected = if model.contains_key(k) {
                    PutOutcome::AlreadyExists
                } else {
                    PutOutcome::Created
                };
                prop_assert_eq!(outcome, expected, "put_if_absent {}", k);
                model.entry(k.clone()).or_insert(body);
            }
            Op::Delete(k) => {
                bucket
                    .delete(&ObjectKey::new(k.clone()).unwrap())
                    .await
                    .unwrap();
                model.remove(k);
            }
        }
    }
    for prefix in prefixes {
        let want: Vec<(String, u64)> = model
            .iter()
            .filter(|(k, _)| k.starts_with(prefix.as_str()))
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect();
        let mut got = Vec::new();
        let mut token = None;
        loop {
            let page = bucket.list(prefix, token).await.unwrap();
            prop_assert!(page.objects.len() <= page_size);
            got.extend(
                page.objects
                    .into_iter()
                    .map(|m| (m.key.into_string(), m.size)),
            );
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        prop_assert_eq!(&got, &want, "listing of prefix {:?}", prefix);
    }
    for (k, v) in &model {
        prop_assert_eq!(
            &bucket
                .get(&ObjectKey::new(k.clone()).unwrap())
                .await
                .unwrap(),
            v
        );
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn arb_prefixes() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            Just(String::new()),
            Just("a".into()),
            Just("a/".into()),
            Just("a-".into()),
            Just("a/a".into()),
            Just("b/".into())
        ],
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn memory_matches_the_model(ops in proptest::collection::vec(arb_op(), 1..40), prefixes in arb_prefixes(), page_size in 1usize..5) {
        let bucket = MemoryBucket::new().with_page_size(page_size);
        runtime().block_on(check(&bucket, &ops, &prefixes, page_size))?;
    }

    #[test]
    fn local_dir_matches_the_model(ops in proptest::collection::vec(arb_op(), 1..40), prefixes in arb_prefixes(), page_size in 1usize..5) {
        let dir = tempfile::tempdir().unwrap();
        let bucket = LocalDirBucket::open(dir.path()).unwrap().with_page_size(page_size);
        runtime().block_on(check(&bucket, &ops, &prefixes, page_size))?;
    }
}
