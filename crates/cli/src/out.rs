//! Writing to the terminal: results on stdout (through a locked handle, so
//! a closed pipe ends the output quietly), messages on stderr.

use std::io::Write as _;

use crate::error::CliError;

/// Writes lines to stdout; a closed pipe (`bae ls | head`) is not an error.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                stdout.write_all(b"\n")
            }
        })
        .and_then(|()| stdout.flush());
}

/// Writes a value as pretty JSON to stdout.
pub fn json(value: &serde_json::Value) {
    print(&serde_json::to_string_pretty(value).expect("JSON values serialize"));
}

/// A note for the user on stderr.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A warning on stderr.
pub fn warn(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "bae: warning: {text}");
}

/// The one line a failed command prints.
pub fn error(e: &CliError) {
    let _ = writeln!(std::io::stderr().lock(), "bae: error: {e}");
}

/// A duration in milliseconds as m:ss.
pub fn duration(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms >= 0 => format!("{}:{:02}", ms / 60_000, (ms / 1000) % 60),
        _ => "-:--".to_owned(),
    }
}
