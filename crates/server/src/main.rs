//! The `bae-server` binary.

#![allow(clippy::print_stdout)] // It tells its user where it listens on stdout.

use std::process::ExitCode;

use bae_server::boot::{BootOptions, read_key_file};
use bae_server::cli::Cli;
use bae_server::server::{ServerConfig, start};
use clap::Parser as _;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bae-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bae-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut access = cli.access().map_err(anyhow::Error::msg)?;
    let mut demo_note = None;
    // Holds the demo's temporary directory until the server stops.
    let mut _demo_dir = None;
    let boot = if let Some(dir) = &cli.demo {
        let demo = bae_server::demo::build(dir.as_deref(), cli.demo_seconds, &mut access).await?;
        demo_note = Some(demo.note);
        _demo_dir = demo.tmp;
        demo.boot
    } else {
        let url = cli.bucket.clone().unwrap_or_default();
        let bucket = url.parse().map_err(|e| anyhow::anyhow!("--bucket: {e}"))?;
        let key_file = cli.key_file.clone().unwrap_or_default();
        BootOptions {
            bucket,
            open: bae_bucket::OpenOptions::default(),
            key: read_key_file(&key_file)?,
            cache_dir: cli.cache_dir(&url),
            refresh: cli.refresh,
            progress: true,
        }
    };
    if access == bae_server::subsonic::Access::Open {
        tracing::warn!(
            "no credentials configured: anyone who can reach {} can read the library",
            cli.listen
        );
    }
    let mut running = start(ServerConfig {
        boot,
        listen: cli.listen,
        sync_interval: cli.sync_interval,
        access: access.clone(),
    })
    .await?;
    println!("bae-server: listening on http://{}", running.addr);
    if let Some(note) = demo_note {
        println!("{note}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tokio::select! {
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            running.shutdown().await?;
        }
        result = running.wait() => result?,
    }
    Ok(())
}
