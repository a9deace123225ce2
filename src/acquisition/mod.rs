//! Acquisition: PLC registers and nodes in, committed records out, nothing lost or doubled.
//!
//! Owns: the [`driver::Driver`] trait and its protocol drivers ([`modbus`], [`opcua`]),
//! Modbus read planning ([`plan`]), the sans-I/O unit-record handshake ([`handshake`]), the
//! decoding of a station's tags into domain values ([`station`]), the per-line
//! [`collector::Collector`] loop, the [`health`] it reports, and the [`sink`] ports it commits
//! and asks through.
//!
//! The rule everything here serves: a record is acknowledged to its PLC only after the sink's
//! commit returned; a record that cannot be read or stored stays in the PLC.
//!
//! Must never: import the store (the composition root hands collectors their [`sink::Ports`]),
//! sea_orm (the store owns the database) or actix (the web owns HTTP).

pub mod collector;
pub mod driver;
pub mod handshake;
pub mod health;
pub mod modbus;
pub mod multi;
pub mod opcua;
pub mod plan;
pub mod schedule;
pub mod sink;
pub mod station;

use plc_contract::profile::{Endpoint, Profile};

/// Why no driver can be made for a profile.
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedEndpoint {
    /// The OPC UA login needs a password that is not set.
    #[error("line {line}: the OPC UA password is read from ${var}, which is not set")]
    NoPassword {
        /// Line code.
        line: String,
        /// The environment variable named by the profile.
        var: String,
    },
}

/// Where a collector's OPC UA certificates live, and the password to use when the profile's
/// variable is not set (the demo's simulators).
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// PKI folder of the collector (its certificate, trusted servers).
    pub pki_dir: std::path::PathBuf,
    /// Password used when the profile's `password_env` variable is unset.
    pub fallback_password: Option<String>,
}

/// The driver of one endpoint, of either protocol.
pub enum EndpointDriver {
    /// Modbus TCP.
    Modbus(modbus::ModbusDriver),
    /// OPC UA.
    OpcUa(Box<opcua::OpcUaDriver>),
}

/// A line's driver, chosen by its profile: one endpoint's, or one per endpoint when stations
/// are PLCs on addresses of their own.
pub enum LineDriver {
    /// Every station behind the line's endpoint.
    One(EndpointDriver),
    /// One connection per endpoint (see [`multi`]).
    Several(multi::MultiDriver<EndpointDriver>),
}

/// How an endpoint is named in messages and routes.
fn endpoint_name(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::ModbusTcp { host, port, .. } => format!("modbus tcp {host}:{port}"),
        Endpoint::OpcUa { url, .. } => url.clone(),
    }
}

impl LineDriver {
    /// The driver a profile's endpoints need: one connection for the line, or one per
    /// distinct endpoint when stations have their own (stations sharing an address share it).
    pub fn for_profile(profile: &Profile, settings: &DriverSettings) -> Result<Self, UnsupportedEndpoint> {
        if profile.stations.iter().all(|s| s.endpoint.is_none()) {
            return Ok(LineDriver::One(EndpointDriver::for_endpoint(profile, &profile.endpoint, settings)?));
        }
        let mut drivers: Vec<(String, EndpointDriver)> = Vec::new();
        let mut stations = Vec::new();
        for s in &profile.stations {
            let endpoint = s.endpoint.as_ref().unwrap_or(&profile.endpoint);
            let name = endpoint_name(endpoint);
            if !drivers.iter().any(|(n, _)| *n == name) {
                drivers.push((name.clone(), EndpointDriver::for_endpoint(profile, endpoint, settings)?));
            }
            stations.push((s.code.clone(), name));
        }
        Ok(LineDriver::Several(multi::MultiDriver::new(drivers, stations)))
    }
}

impl EndpointDriver {
    /// The driver of one endpoint of `profile`'s line.
    fn for_endpoint(
        profile: &Profile,
        endpoint: &Endpoint,
        settings: &DriverSettings,
    ) -> Result<Self, UnsupportedEndpoint> {
        Ok(match endpoint {
            Endpoint::ModbusTcp { host, port, timeout } => {
                EndpointDriver::Modbus(modbus::ModbusDriver::new(host, *port, *timeout))
            }
            Endpoint::OpcUa { url, security, username, password_env, timeout } => {
                let login = match username {
                    None => None,
                    Some(user) => {
                        let var = password_env.clone().unwrap_or_else(|| "MES_OPCUA_PASSWORD".into());
                        let password = std::env::var(&var)
                            .ok()
                            .filter(|p| !p.is_empty())
                            .or_else(|| settings.fallback_password.clone())
                            .ok_or_else(|| UnsupportedEndpoint::NoPassword { line: profile.line.clone(), var })?;
                        Some((user.clone(), password))
                    }
                };
                EndpointDriver::OpcUa(Box::new(opcua::OpcUaDriver::new(opcua::OpcUaEndpoint {
                    url: url.clone(),
                    security: *security,
                    login,
                    timeout: *timeout,
                    pki_dir: settings.pki_dir.clone(),
                })))
            }
        })
    }
}

/// Implements [`driver::Driver`] for an enum by handing every call to the variant's driver.
/// The `boxed` variants' reads and writes are boxed: their futures are kilobytes (OPC UA, several
/// endpoints), and an enum's future is as large as its largest variant's, so unboxed they would
/// be carried by every read of the first variant too (a Modbus read: 440 bytes instead of 6 KB).
macro_rules! dispatch_driver {
    ($ty:ident: $first:ident; boxed $($boxed:ident),+) => {
        impl driver::Driver for $ty {
            async fn connect(&mut self) -> Result<(), driver::DriverError> {
                match self { $ty::$first(d) => d.connect().await, $($ty::$boxed(d) => d.connect().await),+ }
            }

            fn disconnect(&mut self) {
                match self { $ty::$first(d) => d.disconnect(), $($ty::$boxed(d) => d.disconnect()),+ }
            }

            async fn read(
                &mut self,
                station: &plc_contract::profile::StationProfile,
                tags: &[&plc_contract::profile::Tag],
            ) -> Result<Vec<driver::TagResult>, driver::DriverError> {
                match self {
                    $ty::$first(d) => d.read(station, tags).await,
                    $($ty::$boxed(d) => Box::pin(d.read(station, tags)).await),+
                }
            }

            fn wakeup(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
                match self { $ty::$first(d) => d.wakeup(), $($ty::$boxed(d) => d.wakeup()),+ }
            }

            fn read_fresh(&mut self) {
                match self { $ty::$first(d) => d.read_fresh(), $($ty::$boxed(d) => d.read_fresh()),+ }
            }

            fn reads_at_once(
                &mut self,
                station: &plc_contract::profile::StationProfile,
                tags: &[&plc_contract::profile::Tag],
            ) -> bool {
                match self { $ty::$first(d) => d.reads_at_once(station, tags), $($ty::$boxed(d) => d.reads_at_once(station, tags)),+ }
            }

            async fn watch(
                &mut self,
                station: &plc_contract::profile::StationProfile,
                tags: &[&plc_contract::profile::Tag],
            ) -> Result<(), driver::DriverError> {
                match self { $ty::$first(d) => d.watch(station, tags).await, $($ty::$boxed(d) => d.watch(station, tags).await),+ }
            }

            async fn write(
                &mut self,
                station: &plc_contract::profile::StationProfile,
                writes: &[(&plc_contract::profile::Tag, plc_contract::codec::TagValue)],
            ) -> Result<(), driver::DriverError> {
                match self {
                    $ty::$first(d) => d.write(station, writes).await,
                    $($ty::$boxed(d) => Box::pin(d.write(station, writes)).await),+
                }
            }
        }
    };
}

dispatch_driver!(EndpointDriver: Modbus; boxed OpcUa);
dispatch_driver!(LineDriver: One; boxed Several);

/// Why collectors could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A profile's driver cannot be made (a missing OPC UA password).
    #[error(transparent)]
    Unsupported(#[from] UnsupportedEndpoint),
    /// A collector could not start.
    #[error(transparent)]
    Collector(#[from] collector::CollectorError),
    /// The plant could not be registered.
    #[error("registering the lines of the profiles: {0}")]
    Sink(#[from] sink::SinkError),
}

/// How often a standby claims its line again, and an owner checks that its lease still holds:
/// a standby takes a dead owner's line over within about this long (plus the resume).
pub const LEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The collectors of several lines, one task each, sharing one set of ports. Each line is
/// collected only while this process may ([`sink::LineLeases`]): a line another process holds
/// is stood by for, and taken over when that process goes.
pub struct Collectors {
    mode: tokio::sync::watch::Sender<collector::Mode>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Each line's health, in profile order.
    pub health: Vec<health::SharedHealth>,
    /// What waits in the sink's local outbox, where it has one.
    pub buffer: Option<sink::SharedBuffer>,
}

impl Collectors {
    /// Registers the profiles' lines and stations (idempotent) and starts one collector per
    /// profile, or a standby where another process holds the line. A line this process may
    /// collect at once starts before this returns, so its errors are this call's.
    pub async fn start(
        ports: sink::Ports,
        profiles: Vec<Profile>,
        settings: &DriverSettings,
    ) -> Result<Self, StartError> {
        // Before the first connection, so nothing the collectors record is lost.
        crate::telemetry::prometheus();
        ports.sink.register_plant(&plant_of(&profiles)).await?;
        let (mode, watch) = tokio::sync::watch::channel(collector::Mode::Run);
        let holder = this_process();
        let mut tasks = Vec::new();
        let mut health = Vec::new();
        for profile in profiles {
            // Made now so that a profile no driver can be made for fails the start.
            let driver = LineDriver::for_profile(&profile, settings)?;
            let line = LineSupervisor {
                health: health::SharedHealth::for_profile(&profile),
                profile,
                settings: settings.clone(),
                ports: ports.clone(),
                holder: holder.clone(),
            };
            health.push(line.health.clone());
            let running = match line.claim(false).await {
                Some(Some(lease)) => Some(line.collector(lease, Some(driver)).await?),
                _ => None,
            };
            tasks.push(tokio::spawn(line.run(running, watch.clone())));
        }
        Ok(Self { mode, tasks, health, buffer: ports.sink.buffer() })
    }

    /// Asks every collector to run, drain or stop.
    pub fn set_mode(&self, mode: collector::Mode) {
        self.mode.send_replace(mode);
    }

    /// Waits for every collector to end (after [`Collectors::set_mode`] drain or stop).
    pub async fn join(self) {
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "collector task failed");
            }
        }
    }
}

/// How this process names itself to the others collecting from the same store.
fn this_process() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("mes collector {host} pid {}", std::process::id())
}

/// A claimed line: no lease for a sole collector.
type Held = Option<Box<dyn sink::Lease>>;

/// One line of this process: claims it, collects it while the claim holds, stands by while
/// another process holds it.
struct LineSupervisor {
    profile: Profile,
    settings: DriverSettings,
    ports: sink::Ports,
    health: health::SharedHealth,
    holder: String,
}

/// A collector running under a claim.
struct Running {
    lease: Held,
    /// The lease epoch the collector commits under (`None`: sole collector).
    epoch: Option<i64>,
    /// The lease could not be confirmed while the database was away: the collector goes on
    /// into the sink's outbox and the line is claimed again once the database answers.
    unconfirmed: bool,
    mode: tokio::sync::watch::Sender<collector::Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl LineSupervisor {
    /// Claims the line once (`returning`: see [`sink::LineLeases::claim`]): `Some(Some(held))`
    /// when it is this process's, `Some(None)` while another process holds it, `None` when the store could not say (its health says who
    /// collects the line whenever the store could).
    async fn claim(&self, returning: bool) -> Option<Option<Held>> {
        let line = crate::domain::LineId::parse(self.profile.line.clone()).ok()?;
        let claim =
            tokio::time::timeout(LEASE_EVERY * 2, self.ports.leases.claim(&line, &self.holder, returning)).await;
        let (ownership, held) = match claim {
            Ok(Ok(sink::Claim::Sole)) => (health::Ownership::Sole, Some(None)),
            Ok(Ok(sink::Claim::Held(lease))) => {
                (health::Ownership::Owner { holder: self.holder.clone() }, Some(Some(lease)))
            }
            Ok(Ok(sink::Claim::Taken { owner })) => (health::Ownership::Standby { owner }, None),
            Ok(Err(e)) => {
                tracing::warn!(line = %line, error = %e, "cannot claim the line");
                return None;
            }
            Err(_) => {
                tracing::warn!(line = %line, "claiming the line got no answer");
                return None;
            }
        };
        if self.set_ownership(ownership) && held.is_none() {
            tracing::info!(line = %line, "another process collects the line; standing by");
        }
        Some(held)
    }

    /// Says who collects the line, in its health and on `/metrics`; whether that changed.
    fn set_ownership(&self, ownership: health::Ownership) -> bool {
        let owned = if ownership.collects() { 1.0 } else { 0.0 };
        metrics::gauge!(crate::telemetry::LINE_OWNED, "line" => self.profile.line.clone(), "holder" => self.holder.clone())
            .set(owned);
        let mut h = self.health.lock();
        let changed = h.ownership != ownership;
        h.ownership = ownership;
        changed
    }

    /// Starts a collector under `lease`, over `driver` or a new one.
    async fn collector(&self, lease: Held, driver: Option<LineDriver>) -> Result<Running, StartError> {
        let driver = match driver {
            Some(d) => d,
            None => LineDriver::for_profile(&self.profile, &self.settings)?,
        };
        let epoch = lease.as_ref().map(|l| l.epoch());
        let c = collector::Collector::new(self.profile.clone(), driver, self.ports.clone(), self.health.clone())
            .await?
            .with_lease_epoch(epoch);
        let (mode, watch) = tokio::sync::watch::channel(collector::Mode::Run);
        Ok(Running { lease, epoch, unconfirmed: false, mode, task: tokio::spawn(c.run(watch)) })
    }

    /// Collects while the claim holds and stands by while it does not, until `global` asks the
    /// collectors to drain or stop.
    async fn run(self, mut running: Option<Running>, mut global: tokio::sync::watch::Receiver<collector::Mode>) {
        loop {
            let Some(mut run) = running.take() else {
                // Standby: claim again every LEASE_EVERY until the line is ours or we stop.
                tokio::select! {
                    changed = global.changed() => if changed.is_err() || *global.borrow() != collector::Mode::Run { return },
                    () = tokio::time::sleep(LEASE_EVERY) => {}
                }
                let claimed = self.claim(false).await;
                if claimed.is_none() {
                    self.set_ownership(health::Ownership::Standby { owner: None });
                }
                if let Some(Some(lease)) = claimed {
                    match self.collector(lease, None).await {
                        Ok(r) => {
                            tracing::info!(line = %self.profile.line, holder = %self.holder, "line taken over");
                            running = Some(r);
                        }
                        Err(e) => tracing::error!(line = %self.profile.line, error = %e, "cannot start the collector"),
                    }
                }
                continue;
            };
            tokio::select! {
                changed = global.changed() => {
                    let mode = if changed.is_err() { collector::Mode::Stop } else { *global.borrow() };
                    if mode == collector::Mode::Run {
                        running = Some(run);
                        continue;
                    }
                    run.mode.send_replace(mode);
                    let _ = (&mut run.task).await;
                    return;
                }
                _ = &mut run.task => {
                    // The collector ended by itself: it left the line to the process that
                    // acknowledges its records (then this one stands by), or it failed.
                    let mut h = self.health.lock();
                    if !h.left_to_another() {
                        return;
                    }
                    let seen = h.acknowledged_elsewhere.take().unwrap_or_default();
                    h.lease_unconfirmed = false;
                    drop(h);
                    tracing::error!(line = %self.profile.line, %seen, "another process took the line while the database was away (it acknowledges the line's records); standing by");
                    self.set_ownership(health::Ownership::Standby { owner: None });
                    continue;
                }
                () = tokio::time::sleep(LEASE_EVERY), if run.lease.is_some() || run.unconfirmed => {
                    if run.unconfirmed {
                        // The database was away: the line is this process's again, or another
                        // process took it meanwhile (then this one stands by; what it kept in
                        // its outbox is forwarded all the same).
                        match self.claim(true).await {
                            None => {}
                            Some(Some(lease)) if lease.as_ref().map(|l| l.epoch()) == run.epoch => {
                                tracing::info!(line = %self.profile.line, "the line's lease is confirmed again");
                                run.lease = lease;
                                run.unconfirmed = false;
                                self.health.lock().lease_unconfirmed = false;
                            }
                            Some(Some(lease)) => {
                                // Another process held the line meanwhile (and let it go): what
                                // this collector knows of the stations is stale. Start afresh
                                // from the store, under the new epoch.
                                tracing::warn!(line = %self.profile.line, "the line was held by another process meanwhile; collecting it afresh");
                                run.mode.send_replace(collector::Mode::Stop);
                                let _ = (&mut run.task).await;
                                self.health.lock().lease_unconfirmed = false;
                                match self.collector(lease, None).await {
                                    Ok(r) => running = Some(r),
                                    Err(e) => tracing::error!(line = %self.profile.line, error = %e, "cannot start the collector"),
                                }
                                continue;
                            }
                            // Its own earlier session, not yet ended by the server.
                            Some(None) if self.health.lock().ownership == (health::Ownership::Standby { owner: Some(self.holder.clone()) }) => {
                                self.set_ownership(health::Ownership::Owner { holder: self.holder.clone() });
                            }
                            Some(None) => {
                                tracing::error!(line = %self.profile.line, "another process took the line while the database was away; stopping its collector");
                                // Said before it stops, so it leaves the stations' states to the taker.
                                self.health.lock().acknowledged_elsewhere = Some("another process holds the line's lease".into());
                                run.mode.send_replace(collector::Mode::Stop);
                                let _ = (&mut run.task).await;
                                let mut h = self.health.lock();
                                h.lease_unconfirmed = false;
                                h.acknowledged_elsewhere = None;
                                continue;
                            }
                        }
                        running = Some(run);
                        continue;
                    }
                    let holds = match run.lease.as_mut() { Some(l) => l.holds().await, None => true };
                    if holds {
                        running = Some(run);
                        continue;
                    }
                    if self.ports.sink.buffer().is_some() {
                        // With an outbox the collector goes on while the database is away: the
                        // lease is claimed again once it answers.
                        tracing::warn!(line = %self.profile.line, "the line's lease cannot be confirmed (database away?); collecting on into the outbox");
                        run.lease = None;
                        run.unconfirmed = true;
                        {
                            // From now on another process acknowledging the records has taken the line.
                            let mut h = self.health.lock();
                            h.lease_unconfirmed = true;
                            h.acknowledged_elsewhere = None;
                        }
                        running = Some(run);
                        continue;
                    }
                    // Another process may be taking the line over: stop at once (the current
                    // poll finishes; unacknowledged records stay in the PLCs for the next owner).
                    tracing::error!(line = %self.profile.line, "the line's lease was lost; stopping its collector");
                    run.mode.send_replace(collector::Mode::Stop);
                    let _ = (&mut run.task).await;
                    self.set_ownership(health::Ownership::Standby { owner: None });
                }
            }
        }
    }
}

/// The master data the profiles declare: their lines with their stations, in an area `A1` of
/// site `PLANT`. Lines already registered (by an earlier start or a plant model) are kept.
pub fn plant_of(profiles: &[Profile]) -> crate::domain::plant::PlantModel {
    use crate::domain::ProductCode;
    use crate::domain::equipment::{Area, Line, LineKind, Site, Station, StationKind};
    use crate::domain::product::{Product, Route, RouteStep, TraceabilityLevel};
    let lines: Vec<Line> = profiles
        .iter()
        .filter_map(|p| {
            Some(Line {
                id: crate::domain::LineId::parse(p.line.clone()).ok()?,
                area: "A1".into(),
                name: p.name.clone(),
                name_vi: p.name_vi.clone(),
                kind: LineKind::parse(&p.kind)?,
                stations: p
                    .stations
                    .iter()
                    .enumerate()
                    .filter_map(|(k, s)| {
                        Some(Station {
                            id: crate::domain::StationId::parse(s.code.clone()).ok()?,
                            name: s.name.clone(),
                            name_vi: s.name_vi.clone(),
                            position: u32::try_from(k + 1).ok()?,
                            kind: StationKind::parse(&s.kind)?,
                            ideal_cycle_ms: s.ideal_cycle_ms,
                        })
                    })
                    .collect(),
            })
        })
        .collect();
    // A declared product gets route version 1 over the line's stations, repair excluded.
    let mut products = Vec::new();
    let mut routes = Vec::new();
    for (p, line) in
        profiles.iter().filter_map(|p| Some((p.product.as_ref()?, lines.iter().find(|l| l.id.as_str() == p.line)?)))
    {
        let (Ok(code), Some(traceability)) =
            (ProductCode::parse(p.code.clone()), TraceabilityLevel::parse(&p.traceability))
        else {
            continue;
        };
        products.push(Product {
            code: code.clone(),
            name: p.name.clone(),
            name_vi: p.name_vi.clone(),
            traceability,
            opportunities_per_unit: p.opportunities_per_unit,
        });
        let steps = line.stations.iter().filter(|s| s.kind != StationKind::Repair);
        routes.push(Route {
            product: code,
            line: line.id.clone(),
            version: 1,
            steps: steps
                .enumerate()
                .filter_map(|(k, s)| {
                    Some(RouteStep {
                        position: u32::try_from(k + 1).ok()?,
                        station: s.id.clone(),
                        operation: s.name.clone(),
                    })
                })
                .collect(),
        });
    }
    crate::domain::plant::PlantModel {
        site: Site {
            code: "PLANT".into(),
            name: "Plant".into(),
            time_zone: crate::domain::shift::DEFAULT_TIME_ZONE.name().into(),
        },
        areas: vec![Area { site: "PLANT".into(), code: "A1".into(), name: "Area 1".into() }],
        lines,
        products,
        routes,
        work_orders: Vec::new(),
        defects: code_names(profiles, |p| &p.defects),
        repair_actions: code_names(profiles, |p| &p.repair_actions),
        fault_reasons: reason_names(profiles),
    }
}

/// The Vietnamese text of the profiles' downtime reasons; a reason two profiles translate
/// takes the text of the first of them.
fn reason_names(profiles: &[Profile]) -> Vec<crate::domain::plant::ReasonName> {
    let mut seen = std::collections::BTreeMap::new();
    for p in profiles {
        for (code, vi) in &p.fault_reasons_vi {
            if let Some(reason) = p.fault_reasons.get(code) {
                seen.entry(reason.clone()).or_insert_with(|| vi.clone());
            }
        }
    }
    seen.into_iter().map(|(reason, name_vi)| crate::domain::plant::ReasonName { reason, name_vi }).collect()
}

/// A catalogue (defects, repair actions) the profiles declare; a code two profiles name takes
/// the names of the first of them.
fn code_names(
    profiles: &[Profile],
    table: impl Fn(&Profile) -> &std::collections::BTreeMap<String, plc_contract::profile::CodeName>,
) -> Vec<crate::domain::plant::CodeName> {
    let mut seen = std::collections::BTreeMap::new();
    for (code, d) in profiles.iter().flat_map(table) {
        seen.entry(code.clone()).or_insert_with(|| crate::domain::plant::CodeName {
            code: code.clone(),
            name: d.name.clone(),
            name_vi: d.name_vi.clone(),
        });
    }
    seen.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::driver::Driver;
    use super::*;

    /// Every poll of a line goes through the dispatch enums: a variant whose read future is
    /// kilobytes (OPC UA, several endpoints) must box it, or every Modbus read carries it too
    /// (it was 6 KB against the Modbus driver's own few hundred bytes).
    #[tokio::test]
    async fn a_modbus_line_read_future_is_not_made_large_by_the_other_drivers() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench/acquisition-20-stations.toml");
        let profile = Profile::load(&path).unwrap();
        let station = &profile.stations[0];
        let tags: Vec<&plc_contract::profile::Tag> = station.tags.values().collect();
        let modbus = || modbus::ModbusDriver::new("127.0.0.1", 1, std::time::Duration::from_secs(1));
        let own = std::mem::size_of_val(&modbus().read(station, &tags));
        let mut line = LineDriver::One(EndpointDriver::Modbus(modbus()));
        let dispatched = std::mem::size_of_val(&line.read(station, &tags));
        assert!(dispatched <= own + 256, "a line's read future is {dispatched} bytes, the Modbus driver's {own}");
    }
}
