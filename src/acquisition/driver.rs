//! The one trait every protocol driver implements, so the collector (handshake, states,
//! counters) is written once for Modbus TCP and OPC UA alike.

use std::future::Future;

use plc_contract::codec::{CodecError, TagValue};
use plc_contract::profile::{StationProfile, Tag};

/// Why a driver call failed. Every variant names the station it concerns where there is one.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// No connection could be made.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// Endpoint as configured.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// A request got no answer in time; the connection is dropped (a late answer would be
    /// taken for the next one).
    #[error("{station}: no answer within {timeout_ms} ms")]
    Timeout {
        /// Station code.
        station: String,
        /// The timeout.
        timeout_ms: u128,
    },
    /// The PLC answered with a protocol exception (Modbus 0x02 illegal address, 0x06 busy…).
    #[error("{station}: PLC refused {what}: {exception}")]
    Exception {
        /// Station code.
        station: String,
        /// The request.
        what: String,
        /// The exception as the protocol names it.
        exception: String,
    },
    /// The link failed mid-request.
    #[error("{station}: {reason}")]
    Io {
        /// Station code.
        station: String,
        /// What went wrong.
        reason: String,
    },
    /// A value could not be encoded for writing.
    #[error("{station}: cannot write {value:?}: {source}")]
    Encode {
        /// Station code.
        station: String,
        /// The value.
        value: TagValue,
        /// Why.
        source: CodecError,
    },
    /// The driver is not connected.
    #[error("not connected")]
    NotConnected,
    /// A station that is a PLC of its own cannot be reached: that station's fault, not the
    /// line's (the others go on; its connection is tried again later).
    #[error("{station}: its PLC at {endpoint} is unreachable: {reason}")]
    StationLink {
        /// Station code.
        station: String,
        /// Its endpoint.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
}

impl DriverError {
    /// Whether the connection must be dropped and made again (a timeout or a broken link),
    /// rather than the request simply retried on the next poll (an exception).
    pub fn needs_reconnect(&self) -> bool {
        !matches!(self, DriverError::Exception { .. } | DriverError::Encode { .. } | DriverError::StationLink { .. })
    }
}

/// A decoded tag or why it could not be decoded (garbage from a PLC fails one tag, not a read).
pub type TagResult = Result<TagValue, CodecError>;

/// A connection to the PLCs of one line.
pub trait Driver: Send {
    /// (Re)connects; a driver that is connected reconnects.
    fn connect(&mut self) -> impl Future<Output = Result<(), DriverError>> + Send;

    /// Drops the connection (after a timeout or on shutdown).
    fn disconnect(&mut self);

    /// Reads `tags` of `station`, returning one result per tag in the same order.
    fn read(
        &mut self,
        station: &StationProfile,
        tags: &[&Tag],
    ) -> impl Future<Output = Result<Vec<TagResult>, DriverError>> + Send;

    /// A hint after each (re)connect: these tags of `station` are read on every poll. A driver
    /// that the server can notify of changes (OPC UA subscriptions) watches them and answers
    /// reads of them from what it was told; others do nothing.
    fn watch(
        &mut self,
        _station: &StationProfile,
        _tags: &[&Tag],
    ) -> impl Future<Output = Result<(), DriverError>> + Send {
        async { Ok(()) }
    }

    /// Signalled when the PLC told of a change without being asked (an OPC UA notification),
    /// so the collector polls at once instead of at the end of its period.
    fn wakeup(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// From now on every read goes to the PLC, never to notifications (a drain must see what the
    /// PLC holds now to know it is empty).
    fn read_fresh(&mut self) {}

    /// Whether a read of `tags` of `station` is one request, its values of one moment. A read
    /// in several requests (Modbus tags far apart) may straddle a change: another master
    /// acknowledging between them would give a record the key of one and fields of the next.
    fn reads_at_once(&mut self, _station: &StationProfile, _tags: &[&Tag]) -> bool {
        true
    }

    /// Writes values to tags of `station`, in order.
    fn write(
        &mut self,
        station: &StationProfile,
        writes: &[(&Tag, TagValue)],
    ) -> impl Future<Output = Result<(), DriverError>> + Send;
}
