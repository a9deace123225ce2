//! The OPC UA driver (async-opcua client): a session with security None or SignAndEncrypt
//! (Basic256Sha256) and user name login, namespace URIs resolved at connect, a subscription
//! whose monitored items keep each station's handshake and state nodes current (the polls the
//! collector makes of them are answered from the notifications, with a real Read at least once
//! a second in case a notification went missing), Read requests for records, writes for
//! acknowledgements. Records are only ever taken from a Read. Every call runs under the
//! profile's timeout; a failed or late call drops the session and the collector reconnects with
//! its backoff, so a server restart or a cut link always ends in a fresh session (which also
//! sidesteps async-opcua's lost-publish bug after its own internal reconnects).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken, MonitoredItem, Session};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    AttributeId, DataValue, MessageSecurityMode, MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters,
    NodeId, NumericRange, ReadValueId, StatusCode, TimestampsToReturn, UserTokenPolicy, WriteValue,
};
use plc_contract::codec::{CodecError, TagValue};
use plc_contract::opcua::{from_variant, node_id, to_variant};
use plc_contract::profile::{Address, OpcUaSecurity, StationProfile, Tag};

use super::driver::{Driver, DriverError, TagResult};

/// How to reach and log in to an OPC UA server.
#[derive(Debug, Clone)]
pub struct OpcUaEndpoint {
    /// Endpoint URL with its path.
    pub url: String,
    /// Message security.
    pub security: OpcUaSecurity,
    /// User name and password, if the server wants a login.
    pub login: Option<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Folder of the collector's own certificate and the servers it trusts.
    pub pki_dir: PathBuf,
}

/// A session to one line's OPC UA server.
pub struct OpcUaDriver {
    endpoint: OpcUaEndpoint,
    session: Option<Arc<Session>>,
    event_loop: Option<tokio::task::JoinHandle<StatusCode>>,
    /// Node ids as written in the profile → resolved ids (namespace URIs looked up at connect).
    resolved: HashMap<String, NodeId>,
    namespaces: HashMap<String, u16>,
    /// Values the subscription delivered, by node; cleared on every connect.
    notified: Arc<Mutex<HashMap<NodeId, DataValue>>>,
    /// Nodes monitored by this session's subscription.
    watched: HashSet<NodeId>,
    subscription: Option<u32>,
    /// Last real Read of each station's watched nodes (the audit against lost notifications).
    audited: HashMap<String, Instant>,
    /// Never answer from notifications (draining).
    fresh_only: bool,
    /// Signalled on every notification.
    wake: Arc<tokio::sync::Notify>,
}

/// How often watched nodes are read for real anyway.
const AUDIT_EVERY: Duration = Duration::from_secs(1);
/// Sampling and publishing interval of the subscription.
const NOTIFY_EVERY: Duration = Duration::from_millis(25);

impl OpcUaDriver {
    /// A driver for `endpoint`; connects on [`Driver::connect`].
    pub fn new(endpoint: OpcUaEndpoint) -> Self {
        Self {
            endpoint,
            session: None,
            event_loop: None,
            resolved: HashMap::new(),
            namespaces: HashMap::new(),
            notified: Arc::default(),
            watched: HashSet::new(),
            subscription: None,
            audited: HashMap::new(),
            fresh_only: false,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn fail(&self, reason: impl std::fmt::Display) -> DriverError {
        DriverError::Connect { endpoint: self.endpoint.url.clone(), reason: reason.to_string() }
    }

    /// The resolved node id of a tag.
    fn node(&mut self, station: &StationProfile, tag: &Tag) -> Result<NodeId, DriverError> {
        let Address::OpcUa(address) = &tag.address else {
            return Err(DriverError::Io {
                station: station.code.clone(),
                reason: "a Modbus tag on an OPC UA line".into(),
            });
        };
        if let Some(id) = self.resolved.get(address) {
            return Ok(id.clone());
        }
        let namespaces = &self.namespaces;
        let id = node_id(address, |uri| namespaces.get(uri).copied())
            .map_err(|e| DriverError::Io { station: station.code.clone(), reason: e.to_string() })?;
        self.resolved.insert(address.clone(), id.clone());
        Ok(id)
    }

    fn session(&self) -> Result<Arc<Session>, DriverError> {
        self.session.clone().ok_or(DriverError::NotConnected)
    }

    /// Runs one service call under the timeout; a timeout or a transport failure drops the
    /// session.
    async fn call<T>(
        &mut self,
        station: &StationProfile,
        what: &str,
        call: impl Future<Output = Result<T, opcua::types::Error>>,
    ) -> Result<T, DriverError> {
        let timeout = self.endpoint.timeout;
        match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                self.disconnect();
                Err(DriverError::Timeout { station: station.code.clone(), timeout_ms: timeout.as_millis() })
            }
            Ok(Err(e)) => {
                self.disconnect();
                Err(DriverError::Io { station: station.code.clone(), reason: format!("{what}: {e}") })
            }
            Ok(Ok(v)) => Ok(v),
        }
    }
}

/// Keeps the newer of what is known and `value` (by source, else server timestamp), so a late
/// notification never replaces a value read after it.
fn remember(map: &mut HashMap<NodeId, DataValue>, id: &NodeId, value: DataValue) {
    let stamp = |v: &DataValue| v.source_timestamp.or(v.server_timestamp);
    match map.get(id) {
        Some(known) if stamp(known) > stamp(&value) => {}
        _ => {
            map.insert(id.clone(), value);
        }
    }
}

impl Driver for OpcUaDriver {
    async fn connect(&mut self) -> Result<(), DriverError> {
        self.disconnect();
        let e = &self.endpoint;
        let mut client = ClientBuilder::new()
            .application_name("MES collector")
            .application_uri("urn:mes:collector")
            .product_uri("urn:mes")
            .pki_dir(e.pki_dir.clone())
            .create_sample_keypair(true)
            // The demo trusts the simulators' self-made certificates; a plant moves the server
            // certificate into pki/trusted and turns this off (see plc-profiles/README.md).
            .trust_server_certs(true)
            // The collector owns reconnection (fresh session, backoff), not the library.
            .session_retry_limit(0)
            .request_timeout(e.timeout)
            .client()
            .map_err(|problems| self.fail(problems.join("; ")))?;
        let (policy, mode) = match e.security {
            OpcUaSecurity::None => (SecurityPolicy::None, MessageSecurityMode::None),
            OpcUaSecurity::SignAndEncryptBasic256Sha256 => {
                (SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt)
            }
        };
        let (token_policy, identity) = match &e.login {
            Some((user, password)) => (
                UserTokenPolicy { token_type: opcua::types::UserTokenType::UserName, ..UserTokenPolicy::anonymous() },
                IdentityToken::new_user_name(user.clone(), password.clone()),
            ),
            None => (UserTokenPolicy::anonymous(), IdentityToken::Anonymous),
        };
        let connect =
            client.connect_to_matching_endpoint((e.url.as_str(), policy.to_str(), mode, token_policy), identity);
        let (session, event_loop) = tokio::time::timeout(e.timeout * 10, connect)
            .await
            .map_err(|_| self.fail("no answer to GetEndpoints"))?
            .map_err(|err| self.fail(err))?;
        let handle = event_loop.spawn();
        // Certificates, secure channel and session: allow a few request timeouts.
        let up = tokio::time::timeout(e.timeout * 10, session.wait_for_connection()).await.unwrap_or(false);
        if !up {
            handle.abort();
            return Err(self.fail("session not established (login refused, or no answer)"));
        }
        let namespaces = session.read_namespace_array().await.map_err(|err| self.fail(err))?;
        self.namespaces = namespaces.known_namespaces().iter().map(|(uri, index)| (uri.clone(), *index)).collect();
        self.resolved.clear();
        self.watched.clear();
        self.audited.clear();
        self.subscription = None;
        self.notified.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.session = Some(session);
        self.event_loop = Some(handle);
        Ok(())
    }

    fn disconnect(&mut self) {
        if let Some(handle) = self.event_loop.take() {
            handle.abort();
        }
        self.session = None;
    }

    fn read_fresh(&mut self) {
        self.fresh_only = true;
    }

    fn wakeup(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.wake.clone())
    }

    async fn watch(&mut self, station: &StationProfile, tags: &[&Tag]) -> Result<(), DriverError> {
        let mut ids = Vec::with_capacity(tags.len());
        for tag in tags {
            let id = self.node(station, tag)?;
            if !self.watched.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        let session = self.session()?;
        let subscription = match self.subscription {
            Some(id) => id,
            None => {
                let notified = self.notified.clone();
                let wake = self.wake.clone();
                let notifications =
                    metrics::counter!(crate::telemetry::OPCUA_NOTIFICATIONS, "endpoint" => self.endpoint.url.clone());
                let callback = DataChangeCallback::new(move |value: DataValue, item: &MonitoredItem| {
                    notifications.increment(1);
                    let mut map = notified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    remember(&mut map, &item.item_to_monitor().node_id, value);
                    wake.notify_one();
                });
                let create = session.create_subscription(NOTIFY_EVERY, 60, 10, 0, 0, true, callback);
                let id = self.call(station, "create subscription", create).await?;
                self.subscription = Some(id);
                id
            }
        };
        let items: Vec<MonitoredItemCreateRequest> = ids
            .iter()
            .map(|id| {
                let parameters = MonitoringParameters {
                    sampling_interval: NOTIFY_EVERY.as_secs_f64() * 1000.0,
                    queue_size: 1,
                    discard_oldest: true,
                    ..Default::default()
                };
                MonitoredItemCreateRequest::new(ReadValueId::from(id), MonitoringMode::Reporting, parameters)
            })
            .collect();
        let create = session.create_monitored_items(subscription, TimestampsToReturn::Both, items);
        let created = self.call(station, "create monitored items", create).await?;
        for (id, item) in ids.into_iter().zip(created) {
            if item.result.status_code.is_good() {
                self.watched.insert(id);
            }
        }
        Ok(())
    }

    async fn read(&mut self, station: &StationProfile, tags: &[&Tag]) -> Result<Vec<TagResult>, DriverError> {
        let mut ids = Vec::with_capacity(tags.len());
        for tag in tags {
            ids.push(ReadValueId::from(self.node(station, tag)?));
        }
        let fresh = !self.fresh_only && self.audited.get(&station.code).is_some_and(|t| t.elapsed() < AUDIT_EVERY);
        let cached: Option<Vec<DataValue>> = if fresh && ids.iter().all(|id| self.watched.contains(&id.node_id)) {
            let map = self.notified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            ids.iter().map(|id| map.get(&id.node_id).cloned()).collect()
        } else {
            None
        };
        let values = match cached {
            Some(values) => {
                tracing::trace!(station = %station.code, nodes = values.len(), "answered from notifications");
                values
            }
            None => {
                let session = self.session()?;
                let values = self.call(station, "read", session.read(&ids, TimestampsToReturn::Both, 0.0)).await?;
                if ids.iter().all(|id| self.watched.contains(&id.node_id)) {
                    self.audited.insert(station.code.clone(), Instant::now());
                }
                // A read is news too: the notifications must never answer with something older.
                let mut map = self.notified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for (id, value) in ids.iter().zip(&values) {
                    if self.watched.contains(&id.node_id) {
                        remember(&mut map, &id.node_id, value.clone());
                    }
                }
                values
            }
        };
        Ok(tags
            .iter()
            .enumerate()
            .map(|(k, tag)| {
                let bad = |what: String| CodecError::OutOfRange { value: what, data_type: tag.data_type };
                let dv: &DataValue = values.get(k).ok_or_else(|| bad("no value returned".into()))?;
                if let Some(status) = dv.status
                    && !status.is_good()
                {
                    return Err(bad(format!("status {status}")));
                }
                let variant = dv.value.as_ref().ok_or_else(|| bad("empty value".into()))?;
                from_variant(variant, tag.data_type)
            })
            .collect())
    }

    async fn write(&mut self, station: &StationProfile, writes: &[(&Tag, TagValue)]) -> Result<(), DriverError> {
        let mut nodes = Vec::with_capacity(writes.len());
        for (tag, value) in writes {
            let variant = to_variant(value, tag.data_type).map_err(|source| DriverError::Encode {
                station: station.code.clone(),
                value: value.clone(),
                source,
            })?;
            nodes.push(WriteValue {
                node_id: self.node(station, tag)?,
                attribute_id: AttributeId::Value as u32,
                index_range: NumericRange::None,
                value: DataValue::value_only(variant),
            });
        }
        let session = self.session()?;
        let results = self.call(station, "write", session.write(&nodes)).await?;
        if let Some(bad) = results.iter().find(|s| !s.is_good()) {
            return Err(DriverError::Exception {
                station: station.code.clone(),
                what: "write".into(),
                exception: bad.to_string(),
            });
        }
        Ok(())
    }
}
