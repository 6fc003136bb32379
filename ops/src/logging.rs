//! Structured logs filtered by `RUST_LOG` (default `info`), as text for
//! people or JSON for log shippers: on standard output for services, on
//! standard error for tools whose standard output is their result.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Sets up the global tracing subscriber, logging to standard output.
/// Called by a binary's `main` only: tests stay silent unless they set one up.
pub fn init_tracing(format: LogFormat) -> Result<(), String> {
    init(format, std::io::stdout, std::io::stdout().is_terminal())
}

/// Like [`init_tracing`], logging to standard error (for tools such as
/// `perf`, whose standard output is a report).
pub fn init_tracing_to_stderr(format: LogFormat) -> Result<(), String> {
    init(format, std::io::stderr, std::io::stderr().is_terminal())
}

fn init<W>(format: LogFormat, writer: W, terminal: bool) -> Result<(), String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours only for a person at a terminal, never in log files.
        .with_ansi(terminal);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot set up logging: {e}"))
}
