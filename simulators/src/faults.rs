//! Fault injection (`--faults SPEC`): what goes wrong on a plant floor, on a schedule, so the
//! MES is tested against it. A SPEC is a comma-separated list of `name=value` items:
//!
//! | item | effect |
//! | --- | --- |
//! | `drop=S` | every Modbus connection is cut after S wall seconds; an OPC UA server restarts every S seconds (the client must reconnect) |
//! | `stall=S:MS` | every S wall seconds, answers are held back for MS milliseconds |
//! | `delay=MS` | every Modbus answer is held back MS milliseconds (a slow PLC or network) |
//! | `busy=P` | a fraction P (0–1) of Modbus requests is answered with exception 0x06 (server busy) |
//! | `restart=M` | every M simulated minutes one PLC restarts (round robin): new epoch, counters from 0 |
//! | `counter_reset=M` | every M simulated minutes one station's counters are reset to 0 (same epoch) |
//! | `counter_jump=M` | every M simulated minutes one station's counters jump by 40,000 (implausible) |
//! | `fault=M` | every M simulated minutes one station is forced into fault for a minute |
//! | `route=P` | a fraction P of boards skip their last step; failed boards, and now and then one the MES never saw, are sent on to the consuming lines (the validation interlock must deny them) |
//!
//! Example: `drop=7,stall=11:800,busy=0.05,restart=20,counter_reset=25`. Network faults follow
//! the wall clock (they hit the link); PLC faults follow simulated time, so they fall at the same
//! points of the history in every run with the same seed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Parsed `--faults`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Cut connections after this long.
    pub drop_after: Option<Duration>,
    /// Stall answers for `.1` every `.0`.
    pub stall: Option<(Duration, Duration)>,
    /// Hold every answer back this long.
    pub delay: Option<Duration>,
    /// Fraction of requests answered "server busy".
    pub busy: f64,
    /// Simulated minutes between PLC restarts.
    pub restart_every: Option<u64>,
    /// Simulated minutes between counter resets.
    pub counter_reset_every: Option<u64>,
    /// Simulated minutes between implausible counter jumps.
    pub counter_jump_every: Option<u64>,
    /// Simulated minutes between forced station faults.
    pub fault_every: Option<u64>,
    /// Fraction of boards that skip their last route step; with it, failed boards and now and
    /// then an unknown one are sent on to the consuming lines too.
    pub route: f64,
}

/// A `--faults` item that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--faults item {item:?}: {problem}")]
pub struct FaultSpecError {
    /// The item as written.
    pub item: String,
    /// What is wrong with it.
    pub problem: String,
}

impl Faults {
    /// Parses a SPEC (see the module documentation); the empty string means no faults.
    pub fn parse(spec: &str) -> Result<Self, FaultSpecError> {
        let mut f = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let err = |problem: &str| FaultSpecError { item: item.to_owned(), problem: problem.to_owned() };
            let (name, value) = item.split_once('=').ok_or_else(|| err("expected name=value"))?;
            let fraction = |v: &str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| err("expected a fraction between 0 and 1"))
            };
            let positive = |v: &str| {
                v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| err("expected a positive whole number"))
            };
            match name {
                "drop" => f.drop_after = Some(Duration::from_secs(positive(value)?)),
                "stall" => {
                    let (every, ms) = value.split_once(':').ok_or_else(|| err("expected SECONDS:MILLISECONDS"))?;
                    f.stall = Some((Duration::from_secs(positive(every)?), Duration::from_millis(positive(ms)?)));
                }
                "delay" => f.delay = Some(Duration::from_millis(positive(value)?)),
                "busy" => f.busy = fraction(value)?,
                "restart" => f.restart_every = Some(positive(value)?),
                "counter_reset" => f.counter_reset_every = Some(positive(value)?),
                "counter_jump" => f.counter_jump_every = Some(positive(value)?),
                "fault" => f.fault_every = Some(positive(value)?),
                "route" => f.route = fraction(value)?,
                _ => {
                    return Err(err(
                        "unknown fault; use drop, stall, delay, busy, restart, counter_reset, counter_jump, fault or route",
                    ));
                }
            }
        }
        Ok(f)
    }

    /// How long an answer asked for at `elapsed` since the server started is held back: the
    /// rest of a stall window it falls in, plus the fixed delay.
    pub fn stalled(&self, elapsed: Duration) -> Option<Duration> {
        let stall = self.stall.and_then(|(every, length)| {
            let phase = Duration::from_nanos((elapsed.as_nanos() % every.as_nanos().max(1)) as u64);
            // The stall window opens at the end of each period and lasts `length`.
            let start = every.saturating_sub(length);
            (phase >= start).then(|| every - phase)
        });
        match (stall, self.delay) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
        }
    }

    /// Whether request number `n` is answered "server busy" (a fixed hash, no clock).
    pub fn busy(&self, n: u64) -> bool {
        if self.busy <= 0.0 {
            return false;
        }
        let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x as f64 / u64::MAX as f64) < self.busy
    }

    /// Which PLC faults fall due when simulated time passes `minute` (a whole minute).
    pub fn due(&self, minute: u64) -> Vec<PlcFault> {
        let every = |e: Option<u64>| e.is_some_and(|e| minute > 0 && minute.is_multiple_of(e));
        let mut out = Vec::new();
        if every(self.restart_every) {
            out.push(PlcFault::Restart);
        }
        if every(self.counter_reset_every) {
            out.push(PlcFault::CounterReset);
        }
        if every(self.counter_jump_every) {
            out.push(PlcFault::CounterJump);
        }
        if every(self.fault_every) {
            out.push(PlcFault::Fault);
        }
        out
    }
}

/// A fault that happens to a PLC rather than to the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlcFault {
    /// The PLC restarts: new epoch, counters and sequence from zero, ring kept.
    Restart,
    /// Counters reset to zero, same epoch.
    CounterReset,
    /// Counters jump implausibly.
    CounterJump,
    /// The station goes to fault for a simulated minute.
    Fault,
}

/// A TCP stream that is cut (EOF, then broken pipe) once its deadline passes.
pub struct Cuttable<S> {
    inner: S,
    cut_at: Option<Instant>,
}

impl<S> Cuttable<S> {
    /// Wraps `inner`, to be cut `after` from now (never when `None`).
    pub fn new(inner: S, after: Option<Duration>) -> Self {
        Self { inner, cut_at: after.map(|a| Instant::now() + a) }
    }

    fn is_cut(&self) -> bool {
        self.cut_at.is_some_and(|t| Instant::now() >= t)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Cuttable<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Ok(())); // EOF: the server closes the connection
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Cuttable<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.is_cut() {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_parses_and_bad_items_are_named() {
        let f = Faults::parse("drop=7, stall=11:800,busy=0.05,restart=20,counter_reset=25,counter_jump=30,fault=9")
            .unwrap();
        assert_eq!(f.drop_after, Some(Duration::from_secs(7)));
        assert_eq!(f.stall, Some((Duration::from_secs(11), Duration::from_millis(800))));
        assert_eq!((f.busy, f.restart_every, f.counter_reset_every), (0.05, Some(20), Some(25)));
        assert_eq!(Faults::parse("").unwrap(), Faults::default());
        let e = Faults::parse("drop=7,explode=1").unwrap_err();
        assert_eq!(e.item, "explode=1");
        assert!(Faults::parse("busy=2").unwrap_err().problem.contains("between 0 and 1"));
        assert!(Faults::parse("stall=5").unwrap_err().problem.contains("SECONDS:MILLISECONDS"));
        assert!(Faults::parse("restart=0").is_err());
    }

    #[test]
    fn busy_answers_hit_about_the_asked_fraction() {
        let f = Faults { busy: 0.1, ..Default::default() };
        let hits = (0..10_000).filter(|n| f.busy(*n)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert_eq!((0..100).filter(|n| Faults::default().busy(*n)).count(), 0);
    }

    #[test]
    fn stalls_open_at_the_end_of_each_period() {
        let f = Faults { stall: Some((Duration::from_secs(10), Duration::from_secs(2))), ..Default::default() };
        assert_eq!(f.stalled(Duration::from_secs(5)), None);
        assert_eq!(f.stalled(Duration::from_secs(9)), Some(Duration::from_secs(1)));
        assert_eq!(f.stalled(Duration::from_secs(15)), None);
        // A fixed delay holds every answer back, and adds to a stall.
        let f = Faults { delay: Some(Duration::from_millis(5)), ..f };
        assert_eq!(f.stalled(Duration::from_secs(5)), Some(Duration::from_millis(5)));
        assert_eq!(f.stalled(Duration::from_secs(9)), Some(Duration::from_millis(1005)));
        assert_eq!(Faults::parse("delay=5").unwrap().delay, Some(Duration::from_millis(5)));
    }

    #[test]
    fn plc_faults_fall_on_their_minutes() {
        let f = Faults { restart_every: Some(20), counter_reset_every: Some(30), ..Default::default() };
        assert!(f.due(0).is_empty());
        assert_eq!(f.due(20), vec![PlcFault::Restart]);
        assert_eq!(f.due(60), vec![PlcFault::Restart, PlcFault::CounterReset]);
    }
}
