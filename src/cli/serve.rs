//! `mes serve`: the collectors and the web front for a real plant, from `--config` (or the
//! collectors alone with `--collect-only`, the web alone with `--web-only`), until SIGINT or
//! SIGTERM; then the collectors stop (or drain) and the web finishes its requests.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use mes::acquisition::collector::Mode;
use mes::config::Config;

use super::app::{App, Parts, WebPart};
use super::collect;

/// Options of `mes serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Run the collectors only (no web).
    #[arg(long, conflicts_with = "web_only")]
    collect_only: bool,
    /// Run the web front only (collectors run elsewhere against the same database).
    #[arg(long)]
    web_only: bool,
    /// Address the web front listens on (default: `[web] listen` of the config, 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Read-only kiosk for wall screens: the overview and its live events without a login.
    #[arg(long)]
    kiosk: bool,
    #[command(flatten)]
    collect: collect::CollectArgs,
}

pub async fn run(config: &Config, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let store = Arc::new(super::open_store(config).await?);
    let parts = Parts {
        collect: match args.web_only {
            true => None,
            false => Some(collect::part(config, &args.collect)?),
        },
        web: match args.collect_only {
            true => None,
            // The web-only process leaves making the ledger key, and closing, to the collecting one.
            false => Some(WebPart {
                addr: args.listen.unwrap_or(config.web_listen),
                kiosk: args.kiosk,
                make_key: !args.web_only,
            }),
        },
        close_and_report: !args.web_only,
    };
    let app = App::start(config, store, parts).await?;
    collect::announce(&app)?;
    if let Some(bound) = app.web_addr {
        super::emit(&format!(
            "dashboard on http://{bound}/, API on http://{bound}/api/v1 (reference after login: /api, document: /api/openapi.json){}; Ctrl-C to stop\n",
            if args.kiosk { ", kiosk mode (overview readable without login)" } else { "" }
        ))?;
    }
    super::shutdown_signal().await;
    app.stop(if args.collect.drain { Mode::Drain } else { Mode::Stop }).await?;
    Ok(ExitCode::SUCCESS)
}
