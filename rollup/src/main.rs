//! `rollup`: parses the command line, sets up logging, and runs the
//! subcommand (see the library for everything else).

use anyhow::Context;
use clap::Parser;
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use wattline_rollup::config::{Cli, Command};
use wattline_rollup::service::RollupService;
use wattline_rollup::{backfill, setup, Rollup};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let options = &cli.options;
    // `run` is a service (logs on stdout); setup and backfill are tools whose
    // standard output is their result.
    match cli.command {
        Command::Run(_) => wattline_ops::init_tracing(options.log_format),
        _ => wattline_ops::logging::init_tracing_to_stderr(options.log_format),
    }
    .map_err(anyhow::Error::msg)?;
    // reqwest is built without a default TLS provider (see the workspace).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = options.settings();

    match cli.command {
        Command::Setup(args) => {
            let client = settings.influx.query_client().build()?;
            let report = setup::setup(&client, args.raw_retention)
                .await
                .context("setup failed")?;
            if report.changes.is_empty() {
                println!(
                    "setup: database {} already set up",
                    settings.influx.database
                );
            }
            for change in &report.changes {
                println!("setup: {change}");
            }
        }
        Command::Run(args) => {
            let shutdown = CancellationToken::new();
            tokio::spawn(wattline_ops::cancel_on_signal(shutdown.clone()));
            let rollup = Rollup::new(settings)?;
            RollupService::bind(rollup, args)
                .await?
                .run(shutdown)
                .await
                .context("rollup run failed")?;
        }
        Command::Backfill(args) => {
            let rollup = Rollup::new(settings)?;
            let to = args.to.unwrap_or_else(Timestamp::now);
            anyhow::ensure!(args.from < to, "--from must lie before --to (default: now)");
            let summary = backfill::backfill(
                &rollup,
                args.from,
                to,
                args.household.as_deref(),
                args.attempts,
                &mut std::io::stderr(),
            )
            .await
            .context("backfill failed")?;
            let s = summary.stats;
            println!(
                "backfill: {} day(s) {}..{}: {} readings, {} points written, {} dropped, \
                 {} series skipped, {:.1} s ({:.0} readings/s)",
                summary.days,
                wattline_rollup::telemetry::ms_text(s.from_ms),
                wattline_rollup::telemetry::ms_text(s.to_ms),
                s.readings,
                s.points_written,
                s.points_dropped,
                s.skipped_series,
                summary.elapsed.as_secs_f64(),
                summary.readings_per_second(),
            );
        }
    }
    Ok(())
}
