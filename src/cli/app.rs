//! The composition root that `mes demo`, `mes serve` and `mes collect` share: which parts a
//! process runs (collectors, the web front, the ledger closer, the report writer), what each is
//! wired to (the collectors' [`Ports`] over the store), and the one order in which they start
//! and stop. Nothing else in the binary starts a long-running part.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::Context as _;
use mes::acquisition::collector::Mode;
use mes::acquisition::health::SharedHealth;
use mes::acquisition::sink::Ports;
use mes::acquisition::{Collectors, DriverSettings};
use mes::config::Config;
use mes::store::Store;
use mes::web::auth::Auth;
use mes::web::{Web, WebState};
use plc_contract::profile::Profile;

/// What a process runs.
pub struct Parts {
    /// The lines to collect and how to reach their PLCs; `None` on a web-only host.
    pub collect: Option<(Vec<Profile>, DriverSettings)>,
    /// The web front; `None` on a collect-only host.
    pub web: Option<WebPart>,
    /// Close ended periods into the audit ledger and write each ended shift's report, as the
    /// config says (the collecting host's job: a web-only host leaves it to that one).
    pub close_and_report: bool,
}

/// How the web front is served.
pub struct WebPart {
    /// Where it listens (port 0: a free one; [`App::web_addr`] says which).
    pub addr: SocketAddr,
    /// Read-only kiosk for wall screens: the overview and its live events without a login.
    pub kiosk: bool,
    /// Make the plant's ledger key on first use, as this process's closer would; a web-only host
    /// only reads one that exists.
    pub make_key: bool,
}

/// A background task that runs rounds until asked to stop (the ledger closer, the reporter).
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Spawns `run`, which ends once the receiver it is given turns `true`.
    pub fn spawn<F>(run: impl FnOnce(tokio::sync::watch::Receiver<bool>) -> F) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        Self { stop, task: tokio::spawn(run(stopped)) }
    }

    /// Stops it after the round under way.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// The parts of one process, running.
pub struct App {
    collectors: Option<Collectors>,
    /// Forwards the collectors' outbox to the central database (collector hosts on PostgreSQL).
    forwarder: Option<Background>,
    web: Option<mes::web::Running>,
    closer: Option<Background>,
    reporter: Option<Background>,
    /// The address the web front really listens on.
    pub web_addr: Option<SocketAddr>,
}

impl App {
    /// Starts, in order: the collectors (their ports over `store`; each resumes from what the
    /// store holds), the web front (showing the collectors' health), then the ledger closer and
    /// the report writer.
    pub async fn start(config: &Config, store: Arc<Store>, parts: Parts) -> anyhow::Result<Self> {
        let (collectors, forwarder) = match parts.collect {
            Some((profiles, settings)) => {
                let (ports, forwarder) = collector_ports(config, &store)?;
                match Collectors::start(ports, profiles, &settings).await {
                    Ok(c) => (Some(c), forwarder),
                    Err(e) => {
                        if let Some(f) = forwarder {
                            f.stop().await;
                        }
                        return Err(e.into());
                    }
                }
            }
            None => (None, None),
        };
        let (web, web_addr) = match parts.web {
            Some(part) => {
                let health = collectors.as_ref().map(|c| c.health.clone()).unwrap_or_default();
                let buffer = collectors.as_ref().and_then(|c| c.buffer.clone());
                let (web, bound) = start_web(config, store.clone(), &part, health, buffer)?;
                tracing::info!(%bound, kiosk = part.kiosk, "web front listening");
                (Some(web.spawn()), Some(bound))
            }
            None => (None, None),
        };
        let (closer, reporter) = match parts.close_and_report {
            true => (
                super::audit::start_auto_close(config, store.clone(), chrono::Utc::now, super::audit::CLOSE_EVERY)?,
                super::report::start_auto_reports(config, store),
            ),
            false => (None, None),
        };
        Ok(Self { collectors, forwarder, web, closer, reporter, web_addr })
    }

    /// Each collected line's health, in profile order (empty on a web-only host).
    pub fn health(&self) -> &[SharedHealth] {
        self.collectors.as_ref().map_or(&[], |c| &c.health)
    }

    /// Stops every part in the one order: the collectors first (`mode`: drain what the PLCs
    /// hold, or finish the current poll and leave the rest in the PLCs), so that everything they
    /// take is committed; then the closer and the reporter, after their round under way; the
    /// web front last, so that the pages show the collectors' end.
    pub async fn stop(self, mode: Mode) -> anyhow::Result<()> {
        if let Some(collectors) = self.collectors {
            collectors.set_mode(mode);
            collectors.join().await;
        }
        // After the collectors: what they kept last is forwarded if the database answers.
        if let Some(f) = self.forwarder {
            f.stop().await;
        }
        if let Some(c) = self.closer {
            c.stop().await;
        }
        if let Some(r) = self.reporter {
            r.stop().await;
        }
        if let Some(web) = self.web {
            web.stop().await?;
        }
        Ok(())
    }
}

/// The collectors' ports: the store itself, or — on a collector host whose store is PostgreSQL,
/// or as `[outbox]` says — the store with a local outbox for when it is away, and that outbox's
/// forwarder, already running (a resuming collector needs the outbox forwarded first).
fn collector_ports(config: &Config, store: &Arc<Store>) -> anyhow::Result<(Ports, Option<Background>)> {
    let wanted = config.outbox.enabled.unwrap_or(store.backend() == mes::store::Backend::Postgres);
    if !wanted {
        return Ok((Ports::all(store.clone()), None));
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data folder {}", config.data_dir.display()))?;
    let path = config.data_dir.join(mes::store::OUTBOX_FILE);
    let outbox = mes::store::Outbox::open(&path, config.outbox.capacity_bytes)
        .with_context(|| format!("the outbox {}", path.display()))?;
    tracing::info!(path = %path.display(), capacity_bytes = config.outbox.capacity_bytes, "store-and-forward outbox open");
    let sink = Arc::new(mes::store::StoreAndForward::new(store.clone(), outbox));
    let forwarder = Background::spawn(|stop| sink.clone().forward(stop));
    let ports = Ports { sink: sink.clone(), interlock: sink, leases: store.clone() };
    Ok((ports, Some(forwarder)))
}

/// The web front on `part.addr` over `store`, bound; with the address it really got. It holds
/// the plant's ledger key for the audit pages where this host has one.
fn start_web(
    config: &Config,
    store: Arc<Store>,
    part: &WebPart,
    health: Vec<SharedHealth>,
    buffer: Option<mes::acquisition::sink::SharedBuffer>,
) -> anyhow::Result<(Web, SocketAddr)> {
    let listener = TcpListener::bind(part.addr).with_context(|| format!("cannot listen on {}", part.addr))?;
    let bound = listener.local_addr()?;
    let auth = Auth::from_key_file(&config.data_dir.join("web-secret.key")).context("the web secret key")?;
    let key_path = super::audit::key_path(config);
    let ledger = match part.make_key {
        true => Some(mes::audit::plant_key(&key_path, mes::audit::DEFAULT_ORIGIN)?),
        false => mes::audit::existing_plant_key(&key_path)?,
    };
    let state = WebState {
        kiosk: part.kiosk,
        health,
        buffer,
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
