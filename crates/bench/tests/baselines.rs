//! Every baseline ends where the measured path ends: the same synced rows,
//! field for field (the groups check digests at run time; these tests
//! compare the rows themselves), and the same plaintext for the crypto
//! baseline.

use bae_bench::fixture::WRITERS;
use bae_bench::groups::replay::{Route, database_path, run_route};
use bae_bench::groups::{Context, Group};
use bae_bench::measure::{synced_digest, synced_rows};
use bae_bench::sinks::Variant;
use bae_bench::workload::{Scale, Spec};
use bae_store::Database;

fn context(seed: u64) -> Context {
    let mut ctx = Context::new(Spec::for_scale(Scale::Smoke, seed), 1, std::env::temp_dir());
    ctx.verbose = false;
    ctx
}

#[test]
fn several_devices_write_the_plain_writers_library() {
    let ctx = context(11);
    let fx = ctx.library().unwrap();
    let workload = ctx.workload();
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Variant::Plain
        .open(&dir.path().join("plain.db"), ctx.spec.seed)
        .unwrap();
    workload.execute(sink.as_mut()).unwrap();
    assert_eq!(
        synced_digest(sink.database()).unwrap(),
        (fx.rows, fx.digest)
    );
    assert_eq!(fx.batches as usize, workload.txns.len());
    assert!(
        fx.handovers >= 2 * usize::from(WRITERS),
        "every writer takes several turns"
    );
    for n in 1..=WRITERS {
        let prefix = format!(
            "ops/{}/",
            bae_hlc::DeviceId::from_bytes([n; 16]).to_simple()
        );
        assert!(
            fx.objects_under(&prefix).count() > 0,
            "device {n} wrote batches"
        );
    }
}

#[test]
fn every_replay_route_ends_with_the_rows_of_the_merge() {
    let ctx = context(12);
    let fx = ctx.library().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for route in Route::ALL {
        let at = dir.path().join(route.name());
        std::fs::create_dir_all(&at).unwrap();
        run_route(&ctx, fx, route, &at).unwrap();
        let path = database_path(route, &at);
        let db = match route {
            Route::Merge | Route::Pull => Database::open(&path).unwrap(),
            _ => Database::open_at(Some(&path), 1).unwrap(),
        };
        results.push((route, synced_rows(&db).unwrap()));
    }
    let merge = &results.iter().find(|(r, _)| *r == Route::Merge).unwrap().1;
    assert_eq!(merge.len() as u64, fx.rows);
    for (route, rows) in &results {
        assert_eq!(rows.len(), merge.len(), "{}: row count", route.name());
        for (a, b) in rows.iter().zip(merge) {
            assert_eq!(
                a,
                b,
                "{}: first row that differs from the merge",
                route.name()
            );
        }
    }
}

#[test]
fn the_bootstrap_and_metadata_groups_end_with_the_library() {
    // Both groups fail if a boot or a baseline ends with other rows.
    let ctx = context(13);
    for group in [
        &bae_bench::groups::bootstrap::Bootstrap as &dyn Group,
        &bae_bench::groups::metadata::Metadata,
    ] {
        let report = group.run(&ctx).unwrap();
        assert!(!report.figures.is_empty());
        assert!(report.figures.iter().all(|f| f.value.is_finite()));
    }
}

#[test]
fn the_raw_libsodium_baseline_seals_the_same_bytes() {
    let input = bae_bench::groups::crypto::Inputs::new(3 * 65_536 + 5);
    input.check().unwrap();
    assert_eq!(input.sealed.len(), input.plaintext.len() + 16);
    assert_eq!(input.object.len(), 24 + input.plaintext.len() + 4 * 16);
}

#[test]
fn every_group_runs_in_smoke_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_bae-bench"))
        .args(["--smoke", "--out"])
        .arg(&out)
        .arg("--tmp")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let names: Vec<&str> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "recording",
            "replay",
            "bootstrap",
            "metadata",
            "crypto",
            "bucket",
            "memory"
        ]
    );
    for g in report["groups"].as_array().unwrap() {
        for f in g["figures"].as_array().unwrap() {
            assert!(f["value"].is_number(), "{}: {}", g["name"], f["id"]);
        }
    }
}
