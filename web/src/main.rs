//! `web`: parses the configuration, sets up logging, and serves the
//! dashboard and its API routes until SIGTERM or SIGINT (see the library).

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use wattline_web::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    wattline_ops::init_tracing(config.log_format).map_err(anyhow::Error::msg)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(wattline_ops::cancel_on_signal(shutdown.clone()));
    wattline_web::run(config, shutdown)
        .await
        .context("web failed")
}
