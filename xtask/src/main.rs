//! `cargo xtask <command>`: project automation (the alias is in
//! `.cargo/config.toml`). Each command runs another package through cargo,
//! with the terminal inherited and its exit code passed on.

use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  bench [--smoke] [--large] [args]   run the benchmarks in release mode
                                     (cargo run --release -p bae-bench -- args;
                                     `cargo xtask bench --help` lists every option)
  sim [--seeds N | --seed S] [--devices N|A..B] [--long] [args]
                                     run the deterministic simulation in release mode
                                     (cargo run --release -p bae-sim -- args, with
                                     --features planted-bugs if args name --plant;
                                     `cargo xtask sim --help` lists every option)";

/// A command: its name and the cargo arguments that run it, before the
/// user's own arguments.
struct Task {
    name: &'static str,
    cargo_args: &'static [&'static str],
}

/// Every command. A new one (`sim`, ...) is a new entry here and a line in
/// [`USAGE`].
const TASKS: &[Task] = &[
    Task {
        name: "bench",
        cargo_args: &["run", "--release", "-p", "bae-bench", "--"],
    },
    Task {
        name: "sim",
        cargo_args: &["run", "--release", "-p", "bae-sim", "--"],
    },
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        eprintln!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some(task) = TASKS.iter().find(|t| t.name == command) else {
        eprintln!("cargo xtask: unknown command {command:?}\n\n{USAGE}");
        return ExitCode::from(2);
    };
    // Cargo tells the programs it runs where it is; fall back to PATH.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let rest: Vec<String> = args.collect();
    let mut cargo_args: Vec<&str> = task.cargo_args.to_vec();
    // `sim --plant BUG` needs the planted bugs compiled in: the replay line a
    // failing planted seed prints is then one `cargo xtask sim` command too.
    if task.name == "sim" && rest.iter().any(|a| a == "--plant") {
        let at = cargo_args.len() - 1;
        cargo_args.splice(at..at, ["--features", "planted-bugs"]);
    }
    let shown: Vec<&str> = cargo_args
        .iter()
        .copied()
        .chain(rest.iter().map(String::as_str))
        .collect();
    eprintln!(
        "cargo xtask {}: running `cargo {}`",
        task.name,
        shown.join(" ")
    );
    match Command::new(&cargo).args(&cargo_args).args(&rest).status() {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            // Killed by a signal: report failure.
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("cargo xtask: cannot run {cargo}: {e}");
            ExitCode::FAILURE
        }
    }
}
