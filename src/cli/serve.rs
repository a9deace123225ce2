//! `mes serve`: the collectors and the web front for a real plant, from `--config` (or the
//! collectors alone with `--collect-only`, the web alone with `--web-only`), until SIGINT or
//! SIGTERM; then the collectors stop (or drain) and the web finishes its requests.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use mes::acquisition::collector::Mode;
use mes::acquisition::health::SharedHealth;
use mes::config::Config;
use mes::store::Store;
use mes::web::auth::Auth;
use mes::web::{Web, WebState};

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

/// The web front on `addr` over `store`, running; with the address it really got. It holds the
/// plant's ledger key for the audit pages where this host has one (`make_key`: made on first
/// use, as the closer of the same process would; a web-only host never makes one).
pub fn start_web(
    config: &Config,
    store: Arc<Store>,
    addr: SocketAddr,
    kiosk: bool,
    health: Vec<SharedHealth>,
    make_key: bool,
) -> anyhow::Result<(Web, SocketAddr)> {
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let auth = Auth::from_key_file(&config.data_dir.join("web-secret.key")).context("the web secret key")?;
    let key_path = super::audit::key_path(config);
    let ledger = match make_key {
        true => Some(mes::audit::plant_key(&key_path, mes::audit::DEFAULT_ORIGIN)?),
        false => mes::audit::existing_plant_key(&key_path)?,
    };
    let state = WebState {
        kiosk,
        health,
        ledger: ledger.map(Arc::new),
        reports: mes::web::reports::ReportSetup {
            data_dir: config.data_dir.clone(),
            templates: mes::reports::Templates::from_dir(super::report::template_dir(None, config).as_deref()),
        },
        ..WebState::new(store, config.calendar.clone(), auth)
    };
    let web = Web::build(listener, state, 2)?;
    Ok((web, bound))
}

pub async fn run(config: &Config, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let store = Arc::new(super::open_store(config).await?);
    if args.collect_only {
        let closer =
            super::audit::start_auto_close(config, store.clone(), chrono::Utc::now, super::audit::CLOSE_EVERY)?;
        let reporter = super::report::start_auto_reports(config, store.clone());
        let code = collect::run_on(config, &args.collect, store).await;
        if let Some(c) = closer {
            c.stop().await;
        }
        if let Some(r) = reporter {
            r.stop().await;
        }
        return code;
    }
    // The web-only process leaves closing to the collecting one.
    let closer = match args.web_only {
        true => None,
        false => super::audit::start_auto_close(config, store.clone(), chrono::Utc::now, super::audit::CLOSE_EVERY)?,
    };
    let reporter = match args.web_only {
        true => None,
        false => super::report::start_auto_reports(config, store.clone()),
    };
    let collectors = match args.web_only {
        true => None,
        false => Some(collect::start(config, &args.collect, store.clone()).await?),
    };
    let health = collectors.as_ref().map(|c| c.health.clone()).unwrap_or_default();
    let (web, bound) =
        start_web(config, store, args.listen.unwrap_or(config.web_listen), args.kiosk, health, !args.web_only)?;
    let handle = web.handle();
    let server = tokio::spawn(web.run_until_stopped());
    tracing::info!(%bound, "web front listening");
    super::emit(&format!(
        "dashboard on http://{bound}/, API on http://{bound}/api/v1 (reference after login: /api, document: /api/openapi.json){}; Ctrl-C to stop\n",
        if args.kiosk { ", kiosk mode (overview readable without login)" } else { "" }
    ))?;
    super::shutdown_signal().await;
    if let Some(collectors) = collectors {
        collectors.set_mode(if args.collect.drain { Mode::Drain } else { Mode::Stop });
        collectors.join().await;
    }
    if let Some(r) = reporter {
        r.stop().await;
    }
    if let Some(c) = closer {
        c.stop().await;
    }
    handle.stop(true).await;
    server.await??;
    Ok(ExitCode::SUCCESS)
}
