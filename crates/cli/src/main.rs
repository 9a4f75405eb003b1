//! `bae`: a headless, scriptable bae device. It creates or joins a library
//! synced through a bucket, imports real audio files, lists and edits the
//! library, and syncs it. It holds no sync logic of its own: everything
//! goes through `bae-library`, `bae-sync` and `bae-media`.

mod commands;
mod device;
mod error;
mod out;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a local failure (library directory, database)
  2  usage error: bad arguments, a malformed bucket URL, no library here
  3  bucket or sync error: the bucket cannot be reached, refuses, or sync failed
  4  data error: an unreadable or corrupt audio file, an unknown id,
     a malformed key or one that does not open the bucket";

/// A headless bae device: import real music and sync it, end-to-end
/// encrypted, through a plain S3 bucket or a local directory.
#[derive(Debug, Parser)]
#[command(
    name = "bae",
    version,
    after_help = format!("Example (two devices sharing a local-directory bucket):
  bae demo ~/bae-demo
  bae --library ~/bae-a init --bucket file:///srv/bae-bucket
  bae --library ~/bae-a import ~/bae-demo && bae --library ~/bae-a sync
  bae --library ~/bae-a key export > library.key
  bae --library ~/bae-b join --bucket file:///srv/bae-bucket --key-file library.key
  bae --library ~/bae-b ls albums

{EXIT_CODES}")
)]
struct Cli {
    /// The library directory [default: the platform data directory, e.g.
    /// ~/.local/share/bae]
    #[arg(long, global = true, env = "BAE_LIBRARY", value_name = "DIR")]
    library: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

/// S3 credentials, when not in the standard AWS environment
/// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, ...).
#[derive(Debug, Args, Clone, Default)]
pub struct S3Args {
    /// S3 access key id; kept in the library directory (0600) for later
    /// commands
    #[arg(long, requires = "secret_access_key", value_name = "ID")]
    access_key_id: Option<String>,
    /// S3 secret access key
    #[arg(long, requires = "access_key_id", value_name = "SECRET")]
    secret_access_key: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a library and attach a bucket to it
    #[command(after_help = format!("Examples:
  bae --library ~/bae-a init --bucket file:///srv/bae-bucket
  bae init --bucket 's3://my-bucket/music?region=eu-west-1' --store-files
  bae init --bucket 's3://bae?endpoint=http://127.0.0.1:8333&path_style=true&region=us-east-1'

{EXIT_CODES}"))]
    Init {
        /// The bucket: s3://bucket/prefix?region=…&endpoint=…&path_style=true or file:///path
        #[arg(long, value_name = "URL")]
        bucket: String,
        /// Also keep the audio files in the bucket, encrypted (storage/)
        #[arg(long)]
        store_files: bool,
        /// Keep the library key in a 0600 key file even if an OS keyring is available
        #[arg(long)]
        no_keyring: bool,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Attach a bucket that holds a library, with its key, and bootstrap from it
    #[command(after_help = format!("Examples:
  bae --library ~/bae-b join --bucket file:///srv/bae-bucket --key-file library.key
  bae key export | ssh laptop bae join --bucket file:///srv/bae-bucket --key-stdin

Without --key-file or --key-stdin the key is looked up in the OS keyring.

{EXIT_CODES}"))]
    Join {
        /// The bucket the library is in
        #[arg(long, value_name = "URL")]
        bucket: String,
        /// Read the key from this file (as `bae key export` writes it)
        #[arg(long, value_name = "FILE", conflicts_with = "key_stdin")]
        key_file: Option<PathBuf>,
        /// Read the key from standard input
        #[arg(long)]
        key_stdin: bool,
        /// Also keep this device's audio files in the bucket, encrypted
        #[arg(long)]
        store_files: bool,
        /// Keep the library key in a 0600 key file even if an OS keyring is available
        #[arg(long)]
        no_keyring: bool,
        #[command(flatten)]
        s3: S3Args,
    },
    /// Import audio files (FLAC, MP3, Ogg/Opus, M4A, WAV) and folders of them
    #[command(after_help = format!("Examples:
  bae import ~/Music/Some\\ Album
  bae import ~/Music --no-upload

Files are grouped into albums by their tags; each album is one transaction.
A file that cannot be read is reported with its path and the rest goes on
(exit code 4 at the end). With file storage on (init --store-files), each
file is uploaded encrypted; `bae sync` retries uploads that failed.

{EXIT_CODES}"))]
    Import {
        /// Files or directories (searched recursively)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Do not upload to the file storage now (`bae sync` will)
        #[arg(long)]
        no_upload: bool,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// List artists, albums or tracks, with their ids
    #[command(after_help = format!("Examples:
  bae ls
  bae ls artists
  bae ls tracks --album 7d3f…
  bae ls albums --json | jq '.[].title'

{EXIT_CODES}"))]
    Ls {
        /// What to list
        #[arg(value_enum, default_value = "albums")]
        what: commands::library::Listing,
        /// Only the tracks of this album
        #[arg(long, value_name = "ID")]
        album: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show an artist, album, release, track or file
    #[command(after_help = format!("Example:
  bae show 7d3f5c2e-…

{EXIT_CODES}"))]
    Show {
        /// The id (from `bae ls`)
        id: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Change fields of an artist, album, release or track (one transaction)
    #[command(after_help = format!("Examples:
  bae edit 7d3f… title='Blue Train' year=1957
  bae edit 0a1b… track_number=3 disc_number=
  bae edit 9c8d… private=true

Fields: artist: name sort_name musicbrainz_artist_id discogs_artist_id;
album: title year is_compilation; release: release_name year format label
catalog_number country barcode private; track: title disc_number
track_number duration_ms. An empty value clears an optional field.

{EXIT_CODES}"))]
    Edit {
        /// The id
        id: String,
        /// field=value pairs
        #[arg(required = true, value_name = "FIELD=VALUE")]
        changes: Vec<String>,
    },
    /// Remove an artist, album, release, track or file, with what depends on it
    #[command(after_help = format!("Example:
  bae rm 7d3f…      # an album: its releases, tracks, files, formats, cover

{EXIT_CODES}"))]
    Rm {
        /// The id
        id: String,
    },
    /// Push local changes and pull other devices' now
    #[command(after_help = format!("Example:
  bae sync && bae status

{EXIT_CODES}"))]
    Sync {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show sync status: pending batches, other devices, image gaps, stopped streams
    #[command(after_help = format!("Example:
  bae status --json

Reads only the library; run `bae sync` to refresh what it knows.

{EXIT_CODES}"))]
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Write a checkpoint now, then collect what the grace period allows
    #[command(after_help = format!("Example:
  bae compact

{EXIT_CODES}"))]
    Compact {
        /// Only write the checkpoint; collect nothing
        #[arg(long)]
        no_gc: bool,
    },
    /// Export the library key (for `bae join` on another device, or bae-server)
    #[command(subcommand)]
    Key(KeyCommand),
    /// Write a demo library of real, playable, tagged audio files
    #[command(after_help = format!("Example:
  bae demo ~/bae-demo && bae import ~/bae-demo

Three artists, five albums, forty tracks of synthesized melodies, as FLAC
and WAV files with tags and covers (embedded and cover.png).

{EXIT_CODES}"))]
    Demo {
        /// The directory to write to (created if needed)
        dir: PathBuf,
        /// Seconds of audio per track
        #[arg(long, default_value_t = 4.0, value_name = "S")]
        seconds: f32,
        /// Sample rate in Hz
        #[arg(long, default_value_t = 44_100, value_name = "HZ")]
        sample_rate: u32,
        /// Seed of the melodies and covers
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print the library key (64 hex digits) to stdout, or write it to a 0600 file
    #[command(after_help = format!("Examples:
  bae key export > library.key
  bae key export --output /etc/bae-server/library.key

Anyone with the key and the bucket can read the whole library.

{EXIT_CODES}"))]
    Export {
        /// Write to this file (created 0600) instead of stdout
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out::error(&CliError::internal(format!(
                "cannot start the runtime: {e}"
            )));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out::error(&e);
            ExitCode::from(e.kind.code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    use commands::*;
    let dir = || device::library_dir(cli.library.clone());
    match cli.command {
        Command::Init {
            bucket,
            store_files,
            no_keyring,
            s3,
        } => setup::init(&dir()?, &bucket, store_files, no_keyring, &s3).await,
        Command::Join {
            bucket,
            key_file,
            key_stdin,
            store_files,
            no_keyring,
            s3,
        } => {
            setup::join(
                &dir()?,
                &bucket,
                setup::KeySource::from_flags(key_file, key_stdin),
                store_files,
                no_keyring,
                &s3,
            )
            .await
        }
        Command::Import {
            paths,
            no_upload,
            json,
        } => import::import(&dir()?, &paths, no_upload, json).await,
        Command::Ls { what, album, json } => library::ls(&dir()?, what, album.as_deref(), json),
        Command::Show { id, json } => library::show(&dir()?, &id, json),
        Command::Edit { id, changes } => library::edit(&dir()?, &id, &changes),
        Command::Rm { id } => library::rm(&dir()?, &id),
        Command::Sync { json } => syncing::sync(&dir()?, json).await,
        Command::Status { json } => syncing::status(&dir()?, json).await,
        Command::Compact { no_gc } => syncing::compact(&dir()?, no_gc).await,
        Command::Key(KeyCommand::Export { output }) => {
            setup::key_export(&dir()?, output.as_deref())
        }
        Command::Demo {
            dir: target,
            seconds,
            sample_rate,
            seed,
        } => import::demo(&target, seconds, sample_rate, seed),
    }
}
