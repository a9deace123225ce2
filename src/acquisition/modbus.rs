//! The Modbus TCP driver (tokio-modbus): coalesced reads, every request under a timeout, the
//! connection dropped after a timeout or I/O error (tokio-modbus would take a late answer for
//! the next one), exceptions reported with their Modbus name.

use std::time::Duration;

use plc_contract::codec::{TagValue, encode};
use plc_contract::profile::{Address, RegisterSpace, StationProfile, Tag};
use tokio_modbus::client::{Context, Reader, Writer};
use tokio_modbus::prelude::{SlaveContext, tcp};
use tokio_modbus::{ExceptionCode, Slave};

use super::driver::{Driver, DriverError, TagResult};
use super::plan::{DEFAULT_MAX_GAP, PlanCache, decode_block, undecoded};

/// A Modbus TCP connection to one line's PLCs (one unit id per station).
pub struct ModbusDriver {
    host: String,
    port: u16,
    timeout: Duration,
    plans: PlanCache,
    ctx: Option<Context>,
    /// The request timer, shared by consecutive requests (see [`TIMER_SLACK`]); made by the
    /// first request (a timer needs the runtime, a driver may be made outside it).
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

/// How much later than its timeout a request may be given up, as a fraction of the timeout
/// (1/8: 125 ms of a 1 s timeout). A timer armed per request (register, then deregister on the
/// answer) cost as much as the rest of the collector's bookkeeping per read; with the slack, one
/// timer serves every request until its deadline is less than a timeout away, then it is moved:
/// once per 125 ms at most with a 1 s timeout, however fast the polls.
const TIMER_SLACK: u32 = 8;

impl ModbusDriver {
    /// A driver for `host:port` with a per-request `timeout`; connects on [`Driver::connect`].
    pub fn new(host: &str, port: u16, timeout: Duration) -> Self {
        Self { host: host.to_owned(), port, timeout, plans: PlanCache::new(DEFAULT_MAX_GAP), ctx: None, timer: None }
    }

    fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Runs one request under the timeout (given up between one timeout and one timeout plus
    /// [`TIMER_SLACK`] after it starts); a timeout or link error drops the connection.
    /// `what` names the request in an error; it is only written when one happens.
    async fn call<T, F>(
        &mut self,
        station: &StationProfile,
        what: impl Fn() -> String,
        request: F,
    ) -> Result<T, DriverError>
    where
        F: AsyncFnOnce(&mut Context) -> tokio_modbus::Result<T>,
    {
        let timeout = self.timeout;
        let ctx = self.ctx.as_mut().ok_or(DriverError::NotConnected)?;
        ctx.set_slave(Slave(station.unit_id.unwrap_or(0)));
        let earliest = tokio::time::Instant::now() + timeout;
        let latest = earliest + timeout / TIMER_SLACK;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(latest)));
        if timer.deadline() < earliest {
            timer.as_mut().reset(latest);
        }
        let timer = timer.as_mut();
        let outcome = tokio::select! {
            biased;
            answer = request(ctx) => Ok(answer),
            () = timer => Err(()),
        };
        match outcome {
            Err(()) => {
                self.ctx = None;
                Err(DriverError::Timeout { station: station.code.clone(), timeout_ms: timeout.as_millis() })
            }
            Ok(Err(e)) => {
                self.ctx = None;
                Err(DriverError::Io { station: station.code.clone(), reason: format!("{}: {e}", what()) })
            }
            Ok(Ok(Err(exception))) => Err(DriverError::Exception {
                station: station.code.clone(),
                what: what(),
                exception: exception_name(exception),
            }),
            Ok(Ok(Ok(value))) => Ok(value),
        }
    }
}

fn exception_name(e: ExceptionCode) -> String {
    format!("{e} (0x{:02X})", u8::from(e))
}

impl Driver for ModbusDriver {
    async fn connect(&mut self) -> Result<(), DriverError> {
        self.ctx = None;
        let endpoint = self.endpoint();
        let fail = |reason: String| DriverError::Connect { endpoint: endpoint.clone(), reason };
        let address = tokio::time::timeout(self.timeout, tokio::net::lookup_host((self.host.as_str(), self.port)))
            .await
            .map_err(|_| fail("name lookup timed out".into()))?
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("no address".into()))?;
        let ctx = tokio::time::timeout(self.timeout, tcp::connect(address))
            .await
            .map_err(|_| fail(format!("no answer within {} ms", self.timeout.as_millis())))?
            .map_err(|e| fail(e.to_string()))?;
        self.ctx = Some(ctx);
        Ok(())
    }

    fn disconnect(&mut self) {
        self.ctx = None;
    }

    fn reads_at_once(&mut self, station: &StationProfile, tags: &[&Tag]) -> bool {
        self.plans.plan(std::ptr::from_ref(station).addr(), tags).len() <= 1
    }

    async fn read(&mut self, station: &StationProfile, tags: &[&Tag]) -> Result<Vec<TagResult>, DriverError> {
        // Keyed by the profile's address: see `PlanCache` for why a reused address is harmless.
        let blocks = self.plans.plan(std::ptr::from_ref(station).addr(), tags);
        let mut out = undecoded(tags);
        for b in blocks.iter() {
            let (start, count) = (b.start, b.count);
            let what = || format!("read of {} {start}..{}", space_name(b.space), u32::from(start) + u32::from(count));
            let data = match b.space {
                RegisterSpace::HoldingRegister => {
                    self.call(station, what, async |c: &mut Context| c.read_holding_registers(start, count).await)
                        .await?
                }
                RegisterSpace::InputRegister => {
                    self.call(station, what, async |c: &mut Context| c.read_input_registers(start, count).await).await?
                }
                RegisterSpace::Coil => self
                    .call(station, what, async |c: &mut Context| c.read_coils(start, count).await)
                    .await?
                    .into_iter()
                    .map(u16::from)
                    .collect(),
                RegisterSpace::DiscreteInput => self
                    .call(station, what, async |c: &mut Context| c.read_discrete_inputs(start, count).await)
                    .await?
                    .into_iter()
                    .map(u16::from)
                    .collect(),
            };
            decode_block(tags, b, &data, &mut out);
        }
        Ok(out)
    }

    async fn write(&mut self, station: &StationProfile, writes: &[(&Tag, TagValue)]) -> Result<(), DriverError> {
        for (tag, value) in writes {
            let Address::Modbus { space, index } = tag.address else { continue };
            let regs = encode(value, tag.data_type, tag.length, tag.byte_order, tag.word_order).map_err(|source| {
                DriverError::Encode { station: station.code.clone(), value: value.clone(), source }
            })?;
            let what = || format!("write of {} {index}", space_name(space));
            match space {
                RegisterSpace::HoldingRegister => {
                    self.call(station, what, async |c: &mut Context| c.write_multiple_registers(index, &regs).await)
                        .await?
                }
                RegisterSpace::Coil => {
                    let bit = regs.first().is_some_and(|r| *r != 0);
                    self.call(station, what, async |c: &mut Context| c.write_single_coil(index, bit).await).await?
                }
                RegisterSpace::InputRegister | RegisterSpace::DiscreteInput => {
                    return Err(DriverError::Exception {
                        station: station.code.clone(),
                        what: what(),
                        exception: "read-only space".into(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn space_name(space: RegisterSpace) -> &'static str {
    match space {
        RegisterSpace::HoldingRegister => "hr",
        RegisterSpace::InputRegister => "ir",
        RegisterSpace::Coil => "co",
        RegisterSpace::DiscreteInput => "di",
    }
}
