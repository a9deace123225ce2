//! `mes collect` (and `mes serve --collect-only`): runs one collector per line against real or
//! simulated PLCs, as the profiles describe them, until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use mes::acquisition::DriverSettings;
use mes::acquisition::collector::Mode;
use mes::config::Config;
use plc_contract::profile::Profile;

use super::app::{App, Parts};

/// Options of `mes collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// PLC profile of a line to collect (repeatable); default: the lines of `--config`.
    #[arg(long = "profile", value_name = "FILE")]
    profiles: Vec<PathBuf>,
    /// Reach a line at another host and port than its profile says (repeatable), e.g.
    /// `phone-1=127.0.0.1:15020`, or a station that is a PLC of its own,
    /// `phone-1/FT=127.0.0.1:15021`; an OPC UA endpoint keeps its path.
    #[arg(long = "connect", value_name = "LINE[/STATION]=HOST:PORT")]
    connect: Vec<String>,
    /// On SIGINT/SIGTERM, take every record the PLCs still hold before exiting (for a line
    /// whose production has stopped); by default the current poll finishes and unacknowledged
    /// records stay safely in the PLCs.
    #[arg(long)]
    pub drain: bool,
}

/// Loads the profiles to collect: `--profile` files, else the configuration's lines.
fn profiles(config: &Config, args: &CollectArgs) -> anyhow::Result<Vec<Profile>> {
    let paths: Vec<PathBuf> = if args.profiles.is_empty() {
        config.lines.iter().map(|l| l.profile.clone()).collect()
    } else {
        args.profiles.clone()
    };
    anyhow::ensure!(!paths.is_empty(), "no lines to collect: give --profile FILE or a --config with [[lines]]");
    let mut out = Vec::new();
    for path in paths {
        out.push(Profile::load(&path)?);
    }
    for spec in &args.connect {
        let expected = || format!("--connect {spec:?}: expected LINE=HOST:PORT or LINE/STATION=HOST:PORT");
        let (key, address) = spec.split_once('=').with_context(expected)?;
        let (host, port) = address.rsplit_once(':').with_context(expected)?;
        let port: u16 = port.parse().with_context(|| format!("--connect {spec:?}: {port:?} is not a port"))?;
        let (line, station) = match key.split_once('/') {
            Some((line, station)) => (line, Some(station)),
            None => (key, None),
        };
        let profile = out
            .iter_mut()
            .find(|p| p.line == line)
            .with_context(|| format!("--connect {spec:?}: no profile for line {line:?}"))?;
        match station {
            None => profile.endpoint.move_to(host, port),
            Some(code) => profile
                .stations
                .iter_mut()
                .find(|s| s.code == code)
                .and_then(|s| s.endpoint.as_mut())
                .with_context(|| {
                    format!("--connect {spec:?}: line {line} has no station {code:?} with an endpoint of its own")
                })?
                .move_to(host, port),
        }
    }
    Ok(out)
}

/// The collecting part of a process: the lines of `args` (or the configuration) and how to
/// reach their PLCs.
pub fn part(config: &Config, args: &CollectArgs) -> anyhow::Result<(Vec<Profile>, DriverSettings)> {
    let settings = DriverSettings { pki_dir: config.data_dir.join("pki").join("collector"), fallback_password: None };
    Ok((profiles(config, args)?, settings))
}

/// Says on the terminal which lines the process collects (nothing on a web-only host).
pub fn announce(app: &App) -> anyhow::Result<()> {
    let names: Vec<String> = app.health().iter().map(|h| h.snapshot().line).collect();
    if !names.is_empty() {
        tracing::info!(lines = ?names, "collecting");
        super::emit(&format!("collecting {}; Ctrl-C to stop\n", names.join(", ")))?;
    }
    Ok(())
}

/// Collects until SIGINT or SIGTERM (closing periods and writing reports is `mes serve`'s job).
pub async fn run(config: &Config, args: &CollectArgs) -> anyhow::Result<ExitCode> {
    let store = Arc::new(super::open_store(config).await?);
    let parts = Parts { collect: Some(part(config, args)?), web: None, close_and_report: false };
    let app = App::start(config, store, parts).await?;
    announce(&app)?;
    super::shutdown_signal().await;
    app.stop(if args.drain { Mode::Drain } else { Mode::Stop }).await?;
    Ok(ExitCode::SUCCESS)
}
