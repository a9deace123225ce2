//! A line whose stations are separate PLCs on addresses of their own (the usual wiring): one
//! connection per endpoint, each station's reads and writes routed to its PLC's.
//!
//! One station's PLC being unreachable is that station's fault, not the line's: its calls fail
//! with [`DriverError::StationLink`] (the collector marks the station and goes on with the
//! others), and its connection is tried again at most every [`RETRY`] from the next call that
//! needs it. Only when no endpoint at all can be reached does connecting the line fail.
//!
//! Must never: let one endpoint's failure drop the connections to the others.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use plc_contract::codec::TagValue;
use plc_contract::profile::{StationProfile, Tag};

use super::driver::{Driver, DriverError, TagResult};

/// How long an unreachable station PLC is left alone before its connection is tried again.
pub const RETRY: Duration = Duration::from_secs(2);

/// One endpoint's connection.
struct Link<D> {
    /// The endpoint as configured, for messages.
    name: String,
    driver: D,
    connected: bool,
    /// When the next connection attempt may be made.
    retry_at: Instant,
    /// What each station watches through it (made again after a reconnect).
    watched: Vec<(StationProfile, Vec<Tag>)>,
}

/// The PLCs of one line behind several endpoints.
pub struct MultiDriver<D> {
    links: Vec<Link<D>>,
    /// Station code → index of its link.
    route: HashMap<String, usize>,
}

impl<D: Driver> MultiDriver<D> {
    /// Drivers by endpoint name, and the endpoint name of every station.
    pub fn new(drivers: Vec<(String, D)>, stations: impl IntoIterator<Item = (String, String)>) -> Self {
        let links: Vec<Link<D>> = drivers
            .into_iter()
            .map(|(name, driver)| Link {
                name,
                driver,
                connected: false,
                retry_at: Instant::now(),
                watched: Vec::new(),
            })
            .collect();
        let route = stations
            .into_iter()
            .filter_map(|(station, endpoint)| Some((station, links.iter().position(|l| l.name == endpoint)?)))
            .collect();
        Self { links, route }
    }

    fn link_of(&self, station: &StationProfile) -> Result<usize, DriverError> {
        self.route.get(&station.code).copied().ok_or_else(|| DriverError::StationLink {
            station: station.code.clone(),
            endpoint: String::new(),
            reason: "no endpoint serves this station".into(),
        })
    }

    /// Connects link `k` if it is down and its retry time has come; whether it is up.
    async fn ensure(&mut self, k: usize) -> Result<(), String> {
        let link = &mut self.links[k];
        if link.connected {
            return Ok(());
        }
        if Instant::now() < link.retry_at {
            return Err("unreachable; trying again shortly".into());
        }
        match link.driver.connect().await {
            Ok(()) => {
                link.connected = true;
                tracing::info!(endpoint = %link.name, "station PLC connected");
                for (station, tags) in &link.watched {
                    let tags: Vec<&Tag> = tags.iter().collect();
                    if let Err(e) = link.driver.watch(station, &tags).await {
                        link.driver.disconnect();
                        link.connected = false;
                        link.retry_at = Instant::now() + RETRY;
                        return Err(e.to_string());
                    }
                }
                Ok(())
            }
            Err(e) => {
                link.retry_at = Instant::now() + RETRY;
                Err(e.to_string())
            }
        }
    }

    /// A failure on link `k`: a broken link is dropped (to be made again later) and reported as
    /// the station's fault; anything else passes as it is.
    fn station_fault(&mut self, k: usize, station: &StationProfile, e: DriverError) -> DriverError {
        if !e.needs_reconnect() {
            return e;
        }
        let link = &mut self.links[k];
        link.driver.disconnect();
        link.connected = false;
        link.retry_at = Instant::now() + RETRY;
        DriverError::StationLink { station: station.code.clone(), endpoint: link.name.clone(), reason: e.to_string() }
    }

    fn unreachable(&self, k: usize, station: &StationProfile, reason: String) -> DriverError {
        DriverError::StationLink { station: station.code.clone(), endpoint: self.links[k].name.clone(), reason }
    }
}

impl<D: Driver> Driver for MultiDriver<D> {
    async fn connect(&mut self) -> Result<(), DriverError> {
        let mut first_error = None;
        for link in &mut self.links {
            link.driver.disconnect();
            link.connected = false;
            match link.driver.connect().await {
                Ok(()) => link.connected = true,
                Err(e) => {
                    tracing::warn!(endpoint = %link.name, error = %e, "station PLC unreachable");
                    link.retry_at = Instant::now() + RETRY;
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if self.links.iter().all(|l| !l.connected) => Err(e),
            _ => Ok(()),
        }
    }

    fn disconnect(&mut self) {
        for link in &mut self.links {
            link.driver.disconnect();
            link.connected = false;
        }
    }

    async fn read(&mut self, station: &StationProfile, tags: &[&Tag]) -> Result<Vec<TagResult>, DriverError> {
        let k = self.link_of(station)?;
        if let Err(reason) = self.ensure(k).await {
            return Err(self.unreachable(k, station, reason));
        }
        match self.links[k].driver.read(station, tags).await {
            Ok(values) => Ok(values),
            Err(e) => Err(self.station_fault(k, station, e)),
        }
    }

    async fn watch(&mut self, station: &StationProfile, tags: &[&Tag]) -> Result<(), DriverError> {
        let k = self.link_of(station)?;
        let link = &mut self.links[k];
        link.watched.retain(|(s, _)| s.code != station.code);
        link.watched.push((station.clone(), tags.iter().map(|t| (*t).clone()).collect()));
        if link.connected
            && let Err(e) = link.driver.watch(station, tags).await
        {
            // That station's PLC only: the others are watched on.
            tracing::warn!(endpoint = %link.name, station = %station.code, error = %e, "watching failed");
            let _ = self.station_fault(k, station, e);
        }
        Ok(())
    }

    fn read_fresh(&mut self) {
        for link in &mut self.links {
            link.driver.read_fresh();
        }
    }

    fn reads_at_once(&mut self, station: &StationProfile, tags: &[&Tag]) -> bool {
        match self.link_of(station) {
            Ok(k) => self.links[k].driver.reads_at_once(station, tags),
            Err(_) => false,
        }
    }

    async fn write(&mut self, station: &StationProfile, writes: &[(&Tag, TagValue)]) -> Result<(), DriverError> {
        let k = self.link_of(station)?;
        if let Err(reason) = self.ensure(k).await {
            return Err(self.unreachable(k, station, reason));
        }
        match self.links[k].driver.write(station, writes).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.station_fault(k, station, e)),
        }
    }
}
