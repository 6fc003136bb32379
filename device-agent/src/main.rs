//! `device-agent`: parses the configuration, sets up logging, runs the agent
//! and turns its summary into the exit code.

use std::process::ExitCode;

use clap::Parser;
use device_agent::Config;
use tokio_util::sync::CancellationToken;

/// Exit code when the run ended (on a signal) with batches still spooled.
const EXIT_UNCONFIRMED: u8 = 3;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(error) = wattline_ops::init_tracing(config.log_format) {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    // lapin's TLS (amqps://) uses rustls with the ring provider.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let shutdown = CancellationToken::new();
    tokio::spawn(wattline_ops::cancel_on_signal(shutdown.clone()));
    match device_agent::run(config, shutdown).await {
        Ok(summary) if summary.everything_confirmed() => ExitCode::SUCCESS,
        Ok(summary) => {
            tracing::warn!(
                spooled_batches = summary.spool.batches,
                spooled_readings = summary.spool.readings,
                "stopped before the broker confirmed everything; the spool sends the rest on the next start"
            );
            ExitCode::from(EXIT_UNCONFIRMED)
        }
        Err(error) => {
            tracing::error!("device agent failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}
