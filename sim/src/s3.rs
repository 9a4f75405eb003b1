//! The bucket host's S3 backend: objects in memory, only the operations the
//! sync uses (PutObject with `If-None-Match: *`, GetObject with `Range`,
//! HeadObject, ListObjectsV2 with pagination, DeleteObject, CreateBucket),
//! with injected errors, stalls, lost replies and latency, and a hook that
//! judges every deletion (GC safety) as it happens.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use s3s::dto::{
    CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput, ETag,
    GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object as S3Object, PutObjectInput, PutObjectOutput, StreamingBlob,
};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::world::{Object, Phase, World};

/// The in-memory backend. Its state lives in the [`World`], so it survives
/// anything that happens to the host.
#[derive(Debug, Clone)]
pub struct MemS3 {
    /// The run.
    pub world: Arc<World>,
}

/// What the fault plan says about one request.
enum Plan {
    /// Serve it (after the latency).
    Serve,
    /// Answer an error.
    Fail(bool),
    /// Never answer in time.
    Stall,
    /// Serve it, then never answer in time.
    LoseReply,
}

impl MemS3 {
    /// Builds the s3s service around the backend.
    pub fn service(world: Arc<World>) -> s3s::service::S3Service {
        let mut builder = s3s::service::S3ServiceBuilder::new(MemS3 { world });
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            crate::net::ACCESS_KEY,
            crate::net::SECRET_KEY,
        ));
        // s3s checks x-amz-date against the real clock; ours is virtual.
        let mut config = s3s::config::S3Config::default();
        config.presigned_url_max_skew_time_secs = u32::MAX;
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            config,
        ))));
        builder.build()
    }

    fn plan(&self, write: bool) -> (Plan, u64) {
        let mut s = self.world.state();
        s.stats.requests += 1;
        if s.phase != Phase::Chaos {
            return (Plan::Serve, 0);
        }
        let f = s.faults.clone();
        let rng = &mut s.bucket_rng;
        let latency = if f.latency_ms > 0 {
            rng.random_range(0..=f.latency_ms)
        } else {
            0
        };
        let roll = rng.random_range(0..100u32);
        let plan = if roll < f.error_pct {
            Plan::Fail(rng.random_bool(0.5))
        } else if roll < f.error_pct + f.stall_pct {
            Plan::Stall
        } else if write && roll < f.error_pct + f.stall_pct + f.lost_reply_pct {
            Plan::LoseReply
        } else {
            Plan::Serve
        };
        if !matches!(plan, Plan::Serve) {
            s.stats.faults += 1;
        }
        (plan, latency)
    }

    /// Applies the fault plan before serving; `Ok(true)` if the reply must
    /// then be lost.
    async fn before(&self, op: &str, key: &str, write: bool) -> S3Result<bool> {
        let (plan, latency) = self.plan(write);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        match plan {
            Plan::Serve => Ok(false),
            Plan::Fail(internal) => {
                self.world.event(format!(
                    "bucket: {op} {key} answered with an injected error"
                ));
                if internal {
                    Err(s3_error!(InternalError, "injected"))
                } else {
                    Err(s3_error!(SlowDown, "injected"))
                }
            }
            Plan::Stall => {
                self.world.event(format!("bucket: {op} {key} stalls"));
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(s3_error!(InternalError, "stalled"))
            }
            Plan::LoseReply => {
                self.world
                    .event(format!("bucket: {op} {key} succeeds but the reply is lost"));
                Ok(true)
            }
        }
    }

    async fn lose_reply(&self, lost: bool) {
        if lost {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }

    fn check_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.world.store().buckets.iter().any(|b| b == bucket) {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }
}

fn etag(o: &Object) -> ETag {
    ETag::Strong(o.etag.clone())
}

#[async_trait::async_trait]
impl S3 for MemS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let mut store = self.world.store();
        if !store.buckets.contains(&req.input.bucket) {
            store.buckets.push(req.input.bucket);
        }
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let lost = self.before("put", &input.key, true).await?;
        let Some(body) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        let mut body: s3s::Body = body.into();
        let data = body
            .store_all_limited(64 << 20)
            .await
            .map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
        let tag = {
            let mut store = self.world.store();
            let create_only = input.if_none_match.as_ref().is_some_and(|c| c.is_any());
            if create_only && store.objects.contains_key(&input.key) {
                return Err(s3_error!(PreconditionFailed, "object exists"));
            }
            store.writes += 1;
            let tag = format!("{:016x}", store.writes);
            store.history.push((input.key.clone(), data.clone()));
            store.objects.insert(
                input.key.clone(),
                Object {
                    data,
                    etag: tag.clone(),
                },
            );
            tag
        };
        self.lose_reply(lost).await;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(tag)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        self.before("get", &input.key, false).await?;
        let object = self
            .world
            .store()
            .objects
            .get(&input.key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        let len = object.data.len() as u64;
        let (data, content_range) = match input.range {
            None => (object.data.clone(), None),
            Some(range) => {
                let r = range.check(len)?;
                (
                    object.data.slice(r.start as usize..r.end as usize),
                    Some(format!("bytes {}-{}/{len}", r.start, r.end - 1)),
                )
            }
        };
        let output = GetObjectOutput {
            content_length: Some(data.len() as i64),
            content_range,
            e_tag: Some(etag(&object)),
            body: Some(StreamingBlob::from(s3s::Body::from(data))),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        self.before("head", &input.key, false).await?;
        let object = self
            .world
            .store()
            .objects
            .get(&input.key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(object.data.len() as i64),
            e_tag: Some(etag(&object)),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        self.before("list", &prefix, false).await?;
        let max = input.max_keys.unwrap_or(1000).clamp(1, 1000) as usize;
        // Small pages so that pagination is exercised.
        let max = max.min(25);
        let after = input
            .continuation_token
            .clone()
            .or(input.start_after.clone());
        let store = self.world.store();
        let mut contents = Vec::new();
        let mut truncated = false;
        let range = store.objects.range(prefix.clone()..);
        for (key, object) in range {
            if !key.starts_with(&prefix) {
                break;
            }
            if after.as_ref().is_some_and(|a| key <= a) {
                continue;
            }
            if contents.len() == max {
                truncated = true;
                break;
            }
            contents.push(S3Object {
                key: Some(key.clone()),
                size: Some(object.data.len() as i64),
                e_tag: Some(etag(object)),
                ..Default::default()
            });
        }
        let next = truncated
            .then(|| contents.last().and_then(|o: &S3Object| o.key.clone()))
            .flatten();
        Ok(S3Response::new(ListObjectsV2Output {
            key_count: Some(contents.len() as i32),
            max_keys: Some(max as i32),
            is_truncated: Some(truncated),
            contents: (!contents.is_empty()).then_some(contents),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            name: Some(input.bucket),
            prefix: input.prefix,
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let lost = self.before("delete", &input.key, true).await?;
        let peer = crate::net::PEER.try_with(Clone::clone).unwrap_or_default();
        // `If-Match`: only the version the caller read may go. A missing
        // object matches nothing, like S3, which answers 404 then; the client
        // takes that as gone.
        if let Some(condition) = &input.if_match {
            let current = self
                .world
                .store()
                .objects
                .get(&input.key)
                .map(|o| o.etag.clone());
            match (condition.as_etag(), current) {
                (_, None) => return Err(s3_error!(NoSuchKey)),
                (Some(wanted), Some(current)) if wanted.value() != current => {
                    return Err(s3_error!(PreconditionFailed, "object changed"));
                }
                _ => {}
            }
        }
        crate::check::on_delete(&self.world, &peer, &input.key);
        {
            let mut store = self.world.store();
            if store.objects.remove(&input.key).is_some() {
                store
                    .deletes
                    .push((crate::world::now(), peer, input.key.clone()));
            }
        }
        self.lose_reply(lost).await;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }
}
