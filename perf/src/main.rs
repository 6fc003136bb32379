//! `perf`: how many households can this deployment take?
//!
//! `perf run` drives the whole pipeline (publishers → RabbitMQ → write
//! service(s) → InfluxDB) and, in the same run, InfluxDB alone and RabbitMQ
//! alone with the same data, so the answer is a ratio to what the machine
//! allows; `perf influx` and `perf broker` run one baseline. `perf read`
//! does the same for the query side: dashboard users against read-service,
//! beside the same InfluxQL sent straight to InfluxDB.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use perf::baseline;
use perf::chaos;
use perf::run::{self, RunSettings};
use perf::run::{print_scaling, print_table, ScalingRow};
use perf::setup::{create_database, drop_database, RabbitAdmin};
use perf::workload::Workload;

#[derive(Debug, Parser)]
#[command(
    name = "perf",
    version,
    about = "Wattline's load tool: the pipeline and its parts' limits, measured in one run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole pipeline under load, beside InfluxDB alone and RabbitMQ alone.
    Run(RunArgs),
    /// InfluxDB alone: the fleet's points written straight to InfluxDB.
    Influx(BaselineArgs),
    /// RabbitMQ alone: the fleet's messages through a queue, confirms and manual acks.
    Broker(BaselineArgs),
    /// Dashboard users against read-service, beside the same InfluxQL straight to InfluxDB.
    Read(ReadArgs),
    /// The pipeline under load from real agents while seeded faults hit every part;
    /// then every reading the broker accepted is looked up in InfluxDB.
    Chaos(ChaosArgs),
    /// read-service or auth-service alone under an open-loop HTTP load (10× the expected
    /// peak by default); fails on a 5xx, any error but a well-formed 429, or growing memory.
    Http(HttpArgs),
}

#[derive(Debug, Args)]
struct ChaosArgs {
    /// How long faults are injected (the run then drains and compares).
    #[arg(long, default_value = "90s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The schedule's seed (faults, targets, pauses); printed, so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Mean pause between a recovery and the next fault.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    fault_every: Duration,
    /// Device agents (real device-agent processes, one household each).
    #[arg(long, default_value_t = 12)]
    agents: usize,
    /// Sockets per agent.
    #[arg(long, default_value_t = 30)]
    sockets: u16,
    /// How often each socket is read.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    sample_interval: Duration,
    /// Write-service replicas.
    #[arg(long, default_value_t = 2)]
    write_replicas: usize,
    /// The write services' InfluxDB timeout (a frozen InfluxDB outlasts it).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    write_timeout: Duration,
    /// Spool quota of agent 0, the one whose spool is filled on purpose.
    #[arg(long, default_value_t = 8 * 1024)]
    small_spool_bytes: u64,
    /// Longest wait for the pipeline to catch up after a fault (else the run fails).
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    recovery_limit: Duration,
    /// Logs and spools (default: a directory in the temp dir named after the seed).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The write-service binary (default: next to perf).
    #[arg(long)]
    write_service_bin: Option<PathBuf>,
    /// The device-agent binary (default: next to perf).
    #[arg(long)]
    agent_bin: Option<PathBuf>,
    /// Print the report as JSON on stdout (the table goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct HttpArgs {
    /// The service under load: read or auth.
    #[arg(long)]
    target: perf::http::Target,
    /// The fleet slice whose expected peak (10 % of households with a dashboard open) sets
    /// the default rate; the whole fleet is 2,000,000.
    #[arg(long, default_value_t = 2000)]
    households: u32,
    /// Requests a second, open loop; omit for ten times the slice's expected peak.
    #[arg(long)]
    rate: Option<f64>,
    /// How long to send.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Requests in flight at most (beyond it a due request is counted as missed).
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Registered households (with a day of readings and their rollups for read) whose
    /// tokens the requests carry.
    #[arg(long, default_value_t = 8)]
    data_households: u32,
    /// Sockets per data household.
    #[arg(long, default_value_t = 8)]
    sockets: u32,
    /// RSS at the end may be at most this many times the largest RSS of the first quarter
    /// of the run (the warm-up).
    #[arg(long, default_value_t = 3.0)]
    max_rss_growth: f64,
    /// InfluxDB base URL (read: a database of the run's own there).
    #[arg(long, env = "INFLUX_URL", default_value = "http://127.0.0.1:8086")]
    influx_url: String,
    /// The auth-service binary (default: next to perf).
    #[arg(long)]
    auth_service_bin: Option<PathBuf>,
    /// The read-service binary (default: next to perf).
    #[arg(long)]
    read_service_bin: Option<PathBuf>,
    /// Where the services' SQLite file, key and logs go (a directory per run).
    #[arg(long, default_value = ".")]
    work_dir: PathBuf,
    /// Print the report as one JSON object on stdout (the table still goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ReadArgs {
    /// InfluxDB base URL (perf read uses a database of its own there).
    #[arg(long, env = "INFLUX_URL", default_value = "http://127.0.0.1:8086")]
    influx_url: String,
    /// Households, each registered in auth-service with a year of history.
    #[arg(long, default_value_t = 20)]
    households: u32,
    /// Sockets per household.
    #[arg(long, default_value_t = 30)]
    sockets: u32,
    /// Days of minute rollups (hour rollups cover a year, raw readings a day).
    #[arg(long, default_value_t = 30)]
    minute_days: u32,
    /// Concurrent dashboard users (and InfluxDB-alone workers).
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// Users holding /api/live open.
    #[arg(long, default_value_t = 0)]
    live_users: usize,
    /// How often users open each view: day, month, year weights.
    #[arg(long, default_value = "day=5,month=3,year=2")]
    mix: perf::read::views::Mix,
    /// Views a second in total, open loop (at most --users in flight); omit for a closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured time of each side, after its warm-up.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Time before measuring, each side.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Households whose InfluxQL is recorded for the InfluxDB-alone replay.
    #[arg(long, default_value_t = 16)]
    record_households: u32,
    /// The auth-service binary (default: next to perf).
    #[arg(long)]
    auth_service_bin: Option<PathBuf>,
    /// The read-service binary (default: next to perf).
    #[arg(long)]
    read_service_bin: Option<PathBuf>,
    /// Keep the database and the services' logs afterwards.
    #[arg(long)]
    keep: bool,
    /// Where the services' SQLite file, key and logs go (a directory per run).
    #[arg(long, default_value = ".")]
    work_dir: PathBuf,
    /// Print the report as one JSON object on stdout (the table still goes to stderr).
    #[arg(long)]
    json: bool,
}

/// Where the servers are and what the fleet looks like.
#[derive(Debug, Args)]
struct Common {
    /// RabbitMQ host:port for AMQP (perf uses a vhost of its own there).
    #[arg(long, env = "PERF_AMQP", default_value = "127.0.0.1:5672")]
    amqp: String,
    /// RabbitMQ management API, with an administrator's credentials (creates the run's vhost).
    #[arg(
        long,
        env = "PERF_RABBIT_API",
        default_value = "http://guest:guest@127.0.0.1:15672",
        hide_env_values = true
    )]
    rabbit_api: String,
    /// InfluxDB base URL (perf uses a database of its own there).
    #[arg(long, env = "INFLUX_URL", default_value = "http://127.0.0.1:8086")]
    influx_url: String,
    /// Households in the simulated fleet (one device each).
    #[arg(long, default_value_t = 2000)]
    households: u32,
    /// Sockets per household.
    #[arg(long, default_value_t = 30)]
    sockets: u32,
    /// Readings per socket in one message.
    #[arg(long, default_value_t = 1)]
    readings_per_socket: u32,
}

impl Common {
    fn workload(&self) -> Workload {
        Workload::new(
            self.households,
            self.sockets,
            self.readings_per_socket,
            format!("{}-{}", std::process::id(), rand::random::<u16>()),
        )
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Messages a second in total (open loop); omit to publish as fast as the broker confirms.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured time after the warm-up.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Time before measuring (queues, caches and connections settle).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Publishing connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Unconfirmed messages per connection.
    #[arg(long, default_value_t = 1000)]
    max_in_flight: usize,
    /// Closed loop (no --rate): publishers pause while the write queue holds more ready
    /// messages than this, so they keep the pipeline busy without burying it and the run
    /// measures the rate it sustains. 0: no pause (the broker's flow control only; the
    /// queue then grows and the broker spends the cores taking messages in).
    #[arg(long, default_value_t = 5000)]
    max_backlog: u32,
    /// Write-service processes, competing consumers on one queue; a list (1,2,4) runs the
    /// pipeline once per count (baselines measured once) and reports the scaling.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    write_replicas: Vec<usize>,
    /// The write-service binary (default: next to perf).
    #[arg(long)]
    write_service_bin: Option<PathBuf>,
    /// Skip the InfluxDB-alone and RabbitMQ-alone baselines (no limit, no ratio).
    #[arg(long)]
    no_baselines: bool,
    /// Points for the InfluxDB baseline.
    #[arg(long, default_value_t = 1_000_000)]
    baseline_points: u64,
    /// Messages for the RabbitMQ baseline.
    #[arg(long, default_value_t = 50_000)]
    baseline_messages: u64,
    /// Write an SVG of throughput, queue depth and latency over time here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Keep the run's vhost and database afterwards.
    #[arg(long)]
    keep: bool,
    /// Where the write services' logs and the households file go.
    #[arg(long, default_value = ".")]
    work_dir: PathBuf,
    /// Print the report as one JSON object on stdout (the table still goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BaselineArgs {
    #[command(flatten)]
    common: Common,
    /// Points (influx) or messages (broker) to send.
    #[arg(long, default_value_t = 200_000)]
    count: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    wattline_ops::logging::init_tracing_to_stderr(wattline_ops::LogFormat::Text)
        .map_err(anyhow::Error::msg)?;
    // reqwest is built without a default TLS provider (see the workspace).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Run(args) => run_pipeline(args).await,
        Command::Influx(args) => {
            let http = reqwest::Client::new();
            let workload = args.common.workload();
            let db = workload.database();
            let url = &args.common.influx_url;
            create_database(&http, url, &db).await?;
            let result = baseline::influx_alone(url, &db, &workload, args.count, 5000, 2).await;
            drop_database(&http, url, &db).await?;
            println!("{}", serde_json::to_string(&result?)?);
            Ok(())
        }
        Command::Read(args) => read(args).await,
        Command::Chaos(args) => chaos(args).await,
        Command::Http(args) => http(args).await,
        Command::Broker(args) => {
            let admin = RabbitAdmin::new(&args.common.rabbit_api)?;
            let workload = args.common.workload();
            let vhost = workload.vhost();
            admin.create_vhost(&vhost).await?;
            let url = admin.amqp_url(&args.common.amqp, &vhost);
            let result = baseline::broker_alone(&url, &workload, args.count, 2, 2000).await;
            admin.delete_vhost(&vhost).await?;
            println!("{}", serde_json::to_string(&result?)?);
            Ok(())
        }
    }
}

async fn run_pipeline(args: RunArgs) -> Result<()> {
    let sweep = args.write_replicas.len() > 1;
    let mut baselines = None;
    let mut reports = Vec::new();
    for &replicas in &args.write_replicas {
        let settings = RunSettings {
            // A fresh run id per run: each gets its own vhost and database.
            workload: args.common.workload(),
            amqp_host_port: args.common.amqp.clone(),
            rabbit_api: args.common.rabbit_api.clone(),
            influx_url: args.common.influx_url.clone(),
            rate: args.rate,
            connections: args.connections,
            max_in_flight: args.max_in_flight,
            max_backlog: Some(args.max_backlog).filter(|max| *max > 0),
            warmup: args.warmup,
            duration: args.duration,
            write_replicas: replicas,
            write_service_bin: args.write_service_bin.clone(),
            baselines: !args.no_baselines && baselines.is_none(),
            baseline_points: args.baseline_points,
            baseline_messages: args.baseline_messages,
            plot: args
                .plot
                .as_deref()
                .map(|path| plot_path(path, replicas, sweep)),
            keep: args.keep,
            work_dir: args.work_dir.clone(),
            progress: true,
        };
        let mut report = run::run(settings).await?;
        match (&baselines, &report.influx_baseline, &report.broker_baseline) {
            (None, Some(influx), Some(broker)) => {
                baselines = Some((influx.clone(), broker.clone()))
            }
            (Some((influx, broker)), _, _) => report.set_baselines(influx.clone(), broker.clone()),
            _ => {}
        }
        print_table(&report, &mut std::io::stderr()).context("print")?;
        reports.push(report);
    }
    let scaling: Vec<ScalingRow> = reports.iter().map(ScalingRow::from).collect();
    if sweep {
        eprintln!();
        print_scaling(&scaling, &mut std::io::stderr()).context("print")?;
    }
    if args.json {
        let last = reports.last().context("no run")?;
        println!(
            "{}",
            serde_json::to_string(&Output {
                report: last,
                scaling: &scaling
            })?
        );
    }
    let (lost, duplicated) = scaling
        .iter()
        .fold((0, 0), |(l, d), row| (l + row.lost, d + row.duplicated));
    if lost > 0 || duplicated > 0 {
        anyhow::bail!("{lost} readings lost, {duplicated} duplicated");
    }
    Ok(())
}

async fn chaos(args: ChaosArgs) -> Result<()> {
    let seed = args.seed.unwrap_or_else(chaos::fresh_seed);
    let report = chaos::run(chaos::ChaosSettings {
        fleet: chaos::fleet::FleetSettings {
            agents: args.agents,
            sockets: args.sockets,
            sample_interval: args.sample_interval,
            write_replicas: args.write_replicas,
            write_timeout: args.write_timeout,
            small_spool_bytes: args.small_spool_bytes,
            work_dir: args
                .work_dir
                .unwrap_or_else(|| chaos::default_work_dir(seed)),
            write_service_bin: args.write_service_bin,
            agent_bin: args.agent_bin,
        },
        duration: args.duration,
        seed,
        fault_every: args.fault_every,
        recovery_limit: args.recovery_limit,
        verbose: true,
    })
    .await?;
    chaos::print_report(&report, &mut std::io::stderr()).context("print")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    let failures = report.failures();
    if !failures.is_empty() {
        anyhow::bail!("the chaos run failed: {}", failures.join("; "));
    }
    Ok(())
}

async fn read(args: ReadArgs) -> Result<()> {
    let report = perf::read::run(perf::read::ReadSettings {
        influx_url: args.influx_url,
        run_id: format!("{}_{}", std::process::id(), rand::random::<u16>()),
        households: args.households,
        sockets: args.sockets,
        minute_days: args.minute_days,
        users: args.users,
        live_users: args.live_users,
        mix: args.mix,
        rate: args.rate,
        warmup: args.warmup,
        duration: args.duration,
        record_households: args.record_households,
        auth_service_bin: args.auth_service_bin,
        read_service_bin: args.read_service_bin,
        keep: args.keep,
        work_dir: args.work_dir,
        progress: true,
    })
    .await?;
    perf::read::print_table(&report, &mut std::io::stderr()).context("print")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if report.errors > 0 {
        anyhow::bail!(
            "{} errors; the first: {}",
            report.errors,
            report.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

async fn http(args: HttpArgs) -> Result<()> {
    let report = perf::http::run(perf::http::HttpSettings {
        target: args.target,
        households: args.households,
        rate: args.rate,
        duration: args.duration,
        max_in_flight: args.max_in_flight,
        data_households: args.data_households,
        sockets: args.sockets,
        influx_url: args.influx_url,
        run_id: format!("{}_{}", std::process::id(), rand::random::<u16>()),
        auth_service_bin: args.auth_service_bin,
        read_service_bin: args.read_service_bin,
        work_dir: args.work_dir,
        max_rss_growth: args.max_rss_growth,
        progress: true,
    })
    .await?;
    perf::http::print_table(&report, &mut std::io::stderr()).context("print")?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    let problems = report.problems();
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// The `--json` object: the (last) run's report, and one row per run.
#[derive(serde::Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    report: &'a run::Report,
    scaling: &'a [ScalingRow],
}

/// `perf.svg` for a single run; `perf-2r.svg` etc. in a sweep.
fn plot_path(path: &std::path::Path, replicas: usize, sweep: bool) -> PathBuf {
    if !sweep {
        return path.to_owned();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("perf");
    let extension = path.extension().and_then(|s| s.to_str()).unwrap_or("svg");
    path.with_file_name(format!("{stem}-{replicas}r.{extension}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_writes_one_plot_per_replica_count() {
        let path = std::path::Path::new("/tmp/run.svg");
        assert_eq!(plot_path(path, 2, false), PathBuf::from("/tmp/run.svg"));
        assert_eq!(plot_path(path, 2, true), PathBuf::from("/tmp/run-2r.svg"));
    }

    #[test]
    fn replicas_take_a_list() {
        let cli = Cli::parse_from(["perf", "run", "--write-replicas", "1,2,4"]);
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert_eq!(args.write_replicas, vec![1, 2, 4]);
    }

    #[test]
    fn read_takes_a_mix() {
        let cli = Cli::parse_from(["perf", "read", "--mix", "day=1,year=3", "--users", "4"]);
        let Command::Read(args) = cli.command else {
            panic!("not read");
        };
        assert_eq!(args.mix, "day=1,year=3".parse().unwrap());
        assert_eq!((args.users, args.minute_days), (4, 30));
        assert!(Cli::try_parse_from(["perf", "read", "--mix", "week=1"]).is_err());
    }
}
