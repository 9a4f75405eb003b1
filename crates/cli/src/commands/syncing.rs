//! `bae sync`, `bae status`, `bae compact`.

use std::path::Path;

use bae_media::{FileStorage, NoProgress};
use serde_json::json;

use crate::device::{Device, SyncState, ms_rfc3339, now_rfc3339};
use crate::error::{CliError, CliResult};
use crate::out;

fn pending_uploads(device: &Device) -> CliResult<i64> {
    if !device.settings.store_files {
        return Ok(0);
    }
    let l = device.lib.lock().expect("library mutex");
    Ok(l.database().conn().query_row(
        "SELECT count(*) FROM files WHERE source_path IS NOT NULL AND encryption_nonce IS NULL",
        [],
        |r| r.get(0),
    )?)
}

/// `bae sync`: uploads pending audio files (file storage), then push, pull.
/// A failure is recorded for `bae status`.
pub async fn sync(dir: &Path, json: bool) -> CliResult<()> {
    let device = Device::open(dir)?;
    let result = sync_device(&device, json).await;
    if let Err(e) = &result {
        SyncState {
            at: now_rfc3339(),
            error: Some(e.message.clone()),
            ..SyncState::default()
        }
        .save(dir)?;
    }
    result
}

async fn sync_device(device: &Device, json: bool) -> CliResult<()> {
    let dir = device.dir.as_path();
    let url = device.bucket_url()?;
    let mut syncer = device.syncer().await?;
    let upload = if device.settings.store_files {
        let storage = FileStorage::new(syncer.bucket().clone(), device.key()?);
        Some(storage.upload_pending(&device.lib, &NoProgress).await)
    } else {
        None
    };
    let result = syncer.sync(&device.lib).await;
    let mut state = SyncState {
        at: now_rfc3339(),
        ..SyncState::default()
    };
    let (pushed, pulled) =
        result.map_err(|e| CliError::sync(&format!("sync with bucket {url} failed"), e))?;
    let status = syncer
        .status(&device.lib)
        .map_err(|e| CliError::sync("cannot read the sync status", e))?;
    for (id, d) in &status.devices {
        if let Some(reason) = &d.stopped {
            state.stopped.push((id.to_string(), reason.clone()));
        }
        if let Some(warning) = &d.clock_warning {
            state.clock_warnings.push((id.to_string(), warning.clone()));
        }
    }
    state.save(dir)?;
    let upload_problems = upload
        .as_ref()
        .map(|u| u.problems.clone())
        .unwrap_or_default();
    if json {
        out::json(&json!({
            "pushed_batches": pushed.batches,
            "pushed_images": pushed.images,
            "pulled_batches": pulled.batches_applied,
            "pulled_images": pulled.images_fetched,
            "image_gaps": pulled.image_gaps,
            "booted_from_checkpoint": pulled.booted_from,
            "uploaded_files": upload.as_ref().map(|u| u.uploaded),
            "stopped": state.stopped,
            "upload_problems": upload_problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        }));
    } else {
        let mut text = format!(
            "pushed {} batches, {} images; pulled {} batches, {} images",
            pushed.batches, pushed.images, pulled.batches_applied, pulled.images_fetched
        );
        if let Some(u) = &upload
            && u.uploaded > 0
        {
            text.push_str(&format!("; uploaded {} audio files", u.uploaded));
        }
        if let Some(c) = &pulled.booted_from {
            text.push_str(&format!("; started from checkpoint {c}"));
        }
        out::print(&text);
        if pulled.image_gaps > 0 {
            out::warn(&format!(
                "{} images are not in the bucket yet; the next sync tries again",
                pulled.image_gaps
            ));
        }
        for (device, reason) in &state.stopped {
            out::warn(&format!("stopped applying device {device}: {reason}"));
        }
        for p in &upload_problems {
            out::warn(&format!("audio file {p}"));
        }
    }
    Ok(())
}

/// `bae status`: reads the library only.
pub async fn status(dir: &Path, json: bool) -> CliResult<()> {
    let device = Device::open(dir)?;
    let syncer = device.offline_syncer();
    let status = syncer
        .status(&device.lib)
        .map_err(|e| CliError::sync("cannot read the sync status", e))?;
    let state = SyncState::load(dir);
    let device_id = device.lib.lock().expect("library mutex").device_id();
    let pending_uploads = pending_uploads(&device)?;
    let stopped = |id: &str| {
        state.as_ref().and_then(|s| {
            s.stopped
                .iter()
                .find(|(d, _)| d == id)
                .map(|(_, r)| r.clone())
        })
    };
    let devices: Vec<serde_json::Value> = status
        .devices
        .iter()
        .map(|(id, d)| {
            let id = id.to_string();
            json!({
                "device_id": id,
                "last_sync": ms_rfc3339(d.last_sync_ms),
                "last_sync_ms": d.last_sync_ms,
                "pushed_seq": d.pushed_seq,
                "applied_seq": d.applied_seq,
                "stopped": d.stopped.clone().or_else(|| stopped(&id)),
                "clock_warning": d.clock_warning,
            })
        })
        .collect();
    let stopped_streams: Vec<serde_json::Value> = devices
        .iter()
        .filter(|d| !d["stopped"].is_null())
        .map(|d| json!({"device_id": d["device_id"], "reason": d["stopped"]}))
        .collect();
    let value = json!({
        "library": dir,
        "device_id": device_id.to_string(),
        "bucket": device.settings.bucket,
        "store_files": device.settings.store_files,
        "pending_batches": status.pending_batches,
        "pending_uploads": pending_uploads,
        "image_gaps": status.image_gaps,
        "devices": devices,
        "stopped_streams": stopped_streams,
        "last_sync": state.as_ref().map(|s| s.at.clone()),
        "last_sync_error": state.as_ref().and_then(|s| s.error.clone()),
    });
    if json {
        out::json(&value);
        return Ok(());
    }
    let mut text = format!(
        "library  {}\ndevice   {device_id}\nbucket   {}{}\npending  {} batches to push{}\nimages   {} missing from the bucket\nlast sync {}\n",
        dir.display(),
        device.settings.bucket,
        if device.settings.store_files {
            " (also file storage)"
        } else {
            ""
        },
        status.pending_batches,
        if device.settings.store_files {
            format!(", {pending_uploads} audio files to upload")
        } else {
            String::new()
        },
        status.image_gaps,
        match &state {
            Some(s) => match &s.error {
                Some(e) => format!("{} FAILED: {e}", s.at),
                None => s.at.clone(),
            },
            None => "never".to_owned(),
        }
    );
    if devices.is_empty() {
        text.push_str("other devices: none seen yet\n");
    } else {
        text.push_str("other devices:\n");
        for d in &devices {
            text.push_str(&format!(
                "  {}  last synced {}, applied {}/{} batches{}{}\n",
                d["device_id"].as_str().unwrap_or_default(),
                d["last_sync"].as_str().unwrap_or_default(),
                d["applied_seq"],
                d["pushed_seq"],
                d["stopped"]
                    .as_str()
                    .map(|r| format!(", STOPPED: {r}"))
                    .unwrap_or_default(),
                d["clock_warning"]
                    .as_str()
                    .map(|r| format!(", CLOCK: {r}"))
                    .unwrap_or_default(),
            ));
        }
    }
    out::print(&text);
    Ok(())
}

/// `bae compact`: a checkpoint now, then GC with the grace period.
pub async fn compact(dir: &Path, no_gc: bool) -> CliResult<()> {
    let device = Device::open(dir)?;
    let url = device.bucket_url()?;
    let mut syncer = device.syncer().await?;
    let meta = syncer
        .checkpoint(&device.lib)
        .await
        .map_err(|e| CliError::sync(&format!("cannot write a checkpoint to bucket {url}"), e))?;
    let mut text = format!(
        "wrote checkpoint {} ({} bytes, covering {} devices)",
        meta.id,
        meta.data_len,
        meta.cursors.len()
    );
    if !no_gc {
        let gc = syncer
            .gc(&device.lib)
            .await
            .map_err(|e| CliError::sync(&format!("cannot collect garbage in bucket {url}"), e))?;
        text.push_str(&format!(
            "\ncollected {} batches, {} checkpoints, {} heads (grace period {} days)",
            gc.batches_deleted,
            gc.checkpoints_deleted,
            gc.heads_deleted,
            device.settings.gc_grace_days
        ));
    }
    out::print(&text);
    Ok(())
}
