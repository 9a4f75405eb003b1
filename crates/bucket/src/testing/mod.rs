//! Test support (feature `testing`): real S3 servers on loopback and the
//! conformance suite.
//!
//! - [`S3sFsServer`]: s3s-fs in this process on a `127.0.0.1` socket, with
//!   [`S3Faults`] to make it answer 503, refuse conditional writes or ignore
//!   ranges.
//! - [`SeaweedServer`]: SeaweedFS (`weed mini`) as a child process on free
//!   loopback ports, telemetry off, killed on drop. Needs `weed`; run
//!   `scripts/install-test-deps.sh`.
//! - [`check_bucket`] and [`check_many_keys`]: the conformance suite.

mod conformance;
mod endpoint;
mod s3s_server;
mod seaweed;

pub use conformance::{ConformanceOptions, ListOrder, check_bucket, check_many_keys};
pub use endpoint::{S3TestEndpoint, TestServerError};
pub use s3s_server::{S3Faults, S3sFsServer};
pub use seaweed::{SeaweedServer, find_weed};
