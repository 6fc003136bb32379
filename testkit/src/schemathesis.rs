//! schemathesis (PyPI) against a running service's OpenAPI document: every
//! operation called with generated requests, valid and invalid, and every
//! answer checked against the document (no 5xx, documented status codes,
//! content types, headers and bodies).
//!
//! The tool is installed at pinned versions by `deploy/schemathesis.sh`
//! (which `deploy/test.sh` runs first) into `.wattline/schemathesis`;
//! `SCHEMATHESIS` names another `st` command. Its settings file is
//! `deploy/schemathesis/schemathesis.toml`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Test cases per API operation and phase: bounded, so that a run of a
/// whole service takes seconds, not minutes.
pub const MAX_EXAMPLES: u32 = 25;
/// Fixed, so a failure reproduces run after run.
pub const SEED: u32 = 6;

/// The checks run: all of schemathesis's but `positive_data_acceptance`,
/// which expects every request that matches the JSON Schema to succeed. Our
/// rules go beyond what JSON Schema says (password policy, IANA time zone
/// names, `from` before `to`, tariff bands that do not overlap), and those
/// refusals are documented 4xx answers, which the other checks verify.
const EXCLUDED_CHECKS: &str = "positive_data_acceptance";

/// The `st` command: `$SCHEMATHESIS`, else the venv deploy/schemathesis.sh makes.
pub fn command() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let state = std::env::var_os("WATTLINE_STATE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.wattline"),
        PathBuf::from,
    );
    state.join("schemathesis/bin/st")
}

/// What a run printed, and whether it found nothing.
#[derive(Debug)]
pub struct Outcome {
    pub passed: bool,
    /// Its report: failures with a curl line each, then the summary.
    pub output: String,
}

/// Runs schemathesis against the document at `schema_url` (the API is at
/// the same origin) with `extra` arguments (e.g. `-H`, `Authorization: ...`).
pub async fn run(schema_url: &str, extra: &[&str]) -> Result<Outcome> {
    let st = command();
    if !st.exists() {
        bail!(
            "schemathesis is not installed at {}: run deploy/schemathesis.sh (deploy/test.sh does)",
            st.display()
        );
    }
    let max_examples = MAX_EXAMPLES.to_string();
    let seed = SEED.to_string();
    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/schemathesis/schemathesis.toml");
    let output = tokio::process::Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args(["run", schema_url, "--checks", "all"])
        .args(["--exclude-checks", EXCLUDED_CHECKS])
        .args(["--max-examples", &max_examples, "--seed", &seed])
        // No database of earlier failures: each run is the seed's alone.
        .args(["--generation-database", "none"])
        .args(["--workers", "2", "--no-color"])
        // Streamed answers (the live feed) are read this long, then closed.
        .args(["--request-timeout", "5"])
        .args(extra)
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .with_context(|| format!("run {}", st.display()))?;
    Ok(Outcome {
        passed: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// Runs schemathesis (see [`run`]), prints its report (the test's output),
/// and fails the test if it found anything.
pub async fn assert_passes(schema_url: &str, extra: &[&str]) {
    let outcome = run(schema_url, extra).await.expect("schemathesis runs");
    println!("{}", outcome.output);
    assert!(
        outcome.passed,
        "schemathesis found problems:\n{}",
        outcome.output
    );
}
