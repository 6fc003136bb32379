//! `read-service`: parses the configuration, sets up logging, and serves
//! until SIGTERM or SIGINT (see the library for everything else).

use anyhow::Context;
use clap::Parser;
use read_service::Config;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    wattline_ops::init_tracing(config.log_format).map_err(anyhow::Error::msg)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(wattline_ops::cancel_on_signal(shutdown.clone()));
    read_service::run(config, shutdown)
        .await
        .context("read service failed")
}
