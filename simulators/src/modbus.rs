//! The Modbus TCP front of a simulated line: serves a [`LineImage`] with the exception
//! responses a real PLC gives (illegal function, illegal data address, illegal data value,
//! gateway target for an unknown unit id), and feeds MES writes back into the image.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

use plc_contract::profile::RegisterSpace;

use crate::faults::{Cuttable, Faults};
use crate::image::LineImage;

/// Most registers per read (Modbus application protocol §6.3).
const MAX_READ_REGISTERS: u16 = 125;
/// Most bits per read (§6.1).
const MAX_READ_BITS: u16 = 2000;

/// The request handler; cheap to clone, one per connection.
#[derive(Clone)]
pub struct ModbusFront {
    image: Arc<Mutex<LineImage>>,
    faults: Arc<Faults>,
    started: Instant,
    requests: Arc<AtomicU64>,
    /// The unit ids this front answers for (`None`: every unit of the line); others get the
    /// gateway exception, as a PLC that is not the one asked for would.
    units: Option<Arc<std::collections::BTreeSet<u8>>>,
}

impl ModbusFront {
    /// A front serving `image`, misbehaving as `faults` says.
    pub fn new(image: Arc<Mutex<LineImage>>, faults: Arc<Faults>) -> Self {
        Self { image, faults, started: Instant::now(), requests: Arc::new(AtomicU64::new(0)), units: None }
    }

    /// Answers only for `units` (stations that are separate PLCs on their own addresses).
    pub fn only(mut self, units: std::collections::BTreeSet<u8>) -> Self {
        self.units = Some(Arc::new(units));
        self
    }

    fn handle(&self, req: SlaveRequest<'static>) -> Result<Response, ExceptionCode> {
        if self.faults.busy(self.requests.fetch_add(1, Ordering::Relaxed)) {
            return Err(ExceptionCode::ServerDeviceBusy);
        }
        let mut image = self.image.lock().map_err(|_| ExceptionCode::ServerDeviceFailure)?;
        let unit = req.slave;
        if self.units.as_ref().is_some_and(|only| !only.contains(&unit)) {
            return Err(ExceptionCode::GatewayTargetDevice);
        }
        let memory = image.units.get_mut(&unit).ok_or(ExceptionCode::GatewayTargetDevice)?;
        let range = |len: usize, start: u16, qty: u16, max: u16| {
            if qty == 0 || qty > max {
                return Err(ExceptionCode::IllegalDataValue);
            }
            let (s, e) = (usize::from(start), usize::from(start) + usize::from(qty));
            if e > len { Err(ExceptionCode::IllegalDataAddress) } else { Ok(s..e) }
        };
        let response = match req.request {
            Request::ReadHoldingRegisters(a, q) => Response::ReadHoldingRegisters(
                memory.holding[range(memory.holding.len(), a, q, MAX_READ_REGISTERS)?].to_vec(),
            ),
            Request::ReadInputRegisters(a, q) => Response::ReadInputRegisters(
                memory.input[range(memory.input.len(), a, q, MAX_READ_REGISTERS)?].to_vec(),
            ),
            Request::ReadCoils(a, q) => {
                Response::ReadCoils(memory.coils[range(memory.coils.len(), a, q, MAX_READ_BITS)?].to_vec())
            }
            Request::ReadDiscreteInputs(a, q) => Response::ReadDiscreteInputs(
                memory.discrete[range(memory.discrete.len(), a, q, MAX_READ_BITS)?].to_vec(),
            ),
            Request::WriteSingleRegister(a, w) => {
                let r = range(memory.holding.len(), a, 1, 1)?;
                memory.holding[r].copy_from_slice(&[w]);
                image.after_write(unit, RegisterSpace::HoldingRegister, a, 1);
                Response::WriteSingleRegister(a, w)
            }
            Request::WriteMultipleRegisters(a, words) => {
                let qty = u16::try_from(words.len()).map_err(|_| ExceptionCode::IllegalDataValue)?;
                let r = range(memory.holding.len(), a, qty, 123)?;
                memory.holding[r].copy_from_slice(&words);
                image.after_write(unit, RegisterSpace::HoldingRegister, a, qty);
                Response::WriteMultipleRegisters(a, qty)
            }
            Request::WriteSingleCoil(a, c) => {
                let r = range(memory.coils.len(), a, 1, 1)?;
                memory.coils[r.start] = c;
                image.after_write(unit, RegisterSpace::Coil, a, 1);
                Response::WriteSingleCoil(a, c)
            }
            Request::WriteMultipleCoils(a, coils) => {
                let qty = u16::try_from(coils.len()).map_err(|_| ExceptionCode::IllegalDataValue)?;
                let r = range(memory.coils.len(), a, qty, 1968)?;
                memory.coils[r].copy_from_slice(&coils);
                image.after_write(unit, RegisterSpace::Coil, a, qty);
                Response::WriteMultipleCoils(a, qty)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        Ok(response)
    }
}

impl tokio_modbus::server::Service for ModbusFront {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        match self.faults.stalled(self.started.elapsed()) {
            // A stalled PLC answers late; a write takes effect only when it answers.
            Some(wait) => {
                let front = self.clone();
                Box::pin(async move {
                    tokio::time::sleep(wait).await;
                    front.handle(req)
                })
            }
            None => Box::pin(std::future::ready(self.handle(req))),
        }
    }
}

/// Serves `image` on `listener` until the task is dropped or the listener fails. The caller
/// binds (port 0 in tests) and so knows the address.
pub async fn serve(listener: TcpListener, image: Arc<Mutex<LineImage>>, faults: Arc<Faults>) -> io::Result<()> {
    serve_front(listener, ModbusFront::new(image, faults)).await
}

/// Serves `front` on `listener` (a front that answers for some units only: [`ModbusFront::only`]).
pub async fn serve_front(listener: TcpListener, front: ModbusFront) -> io::Result<()> {
    let drop_after = front.faults.drop_after;
    let server = Server::new(listener);
    let on_connected = |stream, socket_addr: SocketAddr| {
        let front = front.clone();
        async move {
            let accepted = accept_tcp_connection(stream, socket_addr, move |_| Ok(Some(front.clone())))?;
            Ok(accepted.map(|(service, stream)| (service, Cuttable::new(stream, drop_after))))
        }
    };
    // A broken client connection ends that connection only.
    server.serve(&on_connected, |err| tracing::warn!(error = %err, "modbus simulator: connection error")).await
}
