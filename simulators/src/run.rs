//! Running simulated lines against the wall clock: each line's flow engine advances in
//! simulated time (`speed` × wall time), its register image is served over Modbus TCP, the
//! SMT line's finished boards feed the phone line's PCBA load (cross-line genealogy), and every
//! record a PLC accepted is appended to the ground-truth file, flushed as it goes.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use plc_contract::StationResultLine;
use plc_contract::profile::{Endpoint, Profile};

use crate::faults::{Faults, PlcFault};
use crate::image::{LineImage, lock};
use crate::line::{LineEngine, PlcBank, TICK_MS};
use crate::opcua::{OpcUaError, OpcUaLogin};
use crate::plc::{Blocked, SimRecord};

/// Offer-to-acknowledgement latencies measured by the PLCs, by line (benchmarks).
pub type LatencyLog = Arc<Mutex<Vec<(String, Duration)>>>;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Line profiles (Modbus TCP lines; OPC UA lines are refused for now).
    pub lines: Vec<Profile>,
    /// Seed of every line's history.
    pub seed: u64,
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// Port of the first Modbus line; further lines take the ports above; 0 picks free ports.
    pub modbus_port: u16,
    /// Ground-truth file (JSON lines), appended.
    pub ground_truth: Option<PathBuf>,
    /// Stop after this much simulated time.
    pub duration: Option<Duration>,
    /// Simulated start instant.
    pub start: DateTime<Utc>,
    /// Faults to inject.
    pub faults: Faults,
    /// Port of the first OPC UA line; further lines take the ports above; 0 picks free ports.
    pub opcua_port: u16,
    /// Login and certificate folder of the OPC UA servers.
    pub opcua_login: OpcUaLogin,
    /// Whether stations with an interlock (route entry, pack) ask the MES about each unit (SPEC §3). Without an
    /// MES, a station whose fallback is `block` then waits forever, as a real one would.
    pub validate: bool,
    /// When set, every PLC measures offer-to-acknowledgement latency (wall clock) and the
    /// simulation appends the measurements here as it goes (benchmarks).
    pub ack_latencies: Option<LatencyLog>,
    /// Load mode: extra changing analog tags per line (Modbus: input registers of unit 250,
    /// one f32 each; OPC UA: `<line>.Load.Tag<k>` variables).
    pub extra_tags: usize,
    /// Where the plant continues from when an earlier run's records are already stored.
    pub resume: Resume,
}

/// Where a simulated plant continues from, so that a second run into the same store makes new
/// records instead of the first run's again (same seed: same serials, same PLC epoch, all taken
/// as re-deliveries). The default starts a new plant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    /// Every PLC boots in an epoch above this one.
    pub epoch_after: u32,
    /// Unit numbers (serials, lots, IMEIs) start after this one.
    pub units_after: u64,
    /// Reel numbers start after this one.
    pub reels_after: u64,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// An OPC UA server could not start.
    #[error(transparent)]
    OpcUa(#[from] OpcUaError),
    /// Binding a port or writing the ground truth failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The profile cannot be served.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
}

impl PlcBank for LineImage {
    fn offer(&mut self, i: usize, record: SimRecord) -> Result<u32, Blocked> {
        let seq = self.stations[i].plc.offer(record)?;
        self.render(i);
        Ok(seq)
    }
    fn set_state(&mut self, i: usize, state_code: u16, fault_code: u16) {
        (self.stations[i].plc.state_code, self.stations[i].plc.fault_code) = (state_code, fault_code);
        self.render(i);
    }
    fn epoch(&self, i: usize) -> u32 {
        self.stations[i].plc.epoch
    }
    fn request_validation(&mut self, i: usize, serial: &str) {
        self.stations[i].plc.request_validation(serial);
        self.render(i);
    }
    fn validation_answer(&self, i: usize) -> Option<(u16, u16)> {
        self.stations[i].plc.validation_answer()
    }
    fn holds_record(&self, i: usize, epoch: u32, seq: u32) -> bool {
        self.stations[i].plc.holds(epoch, seq)
    }
    fn set_feeder(&mut self, i: usize, slot: usize, reel: &str) {
        if let Some(r) = self.stations[i].plc.feeder_reels.get_mut(slot) {
            *r = reel.to_owned();
            self.render(i);
        }
    }
}

struct SimLine {
    kind: String,
    engine: LineEngine,
    image: Arc<Mutex<LineImage>>,
}

/// Binds every line's server and returns the addresses, then runs until `stop` resolves or
/// the duration has been simulated. `on_ready` receives `(line, address)` pairs once bound,
/// and `(line/STATION, address)` for every station that is a PLC of its own
/// ([`plc_contract::profile::Profile::move_to_served`] points a profile at them).
pub async fn simulate(
    options: SimulateOptions,
    on_ready: impl FnOnce(&[(String, SocketAddr)]),
    stop: impl std::future::Future<Output = ()>,
) -> Result<u64, SimulateError> {
    let mut lines = Vec::new();
    let mut addresses = Vec::new();
    let faults = Arc::new(options.faults.clone());
    // OPC UA servers run on after production stops (like the Modbus ones), so collectors can drain.
    let mut servers = Vec::new();
    let (mut modbus_k, mut opcua_k) = (0u16, 0u16);
    let mut same_kind: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut opcua_lines = 0usize;
    for profile in &options.lines {
        let is_opcua = matches!(profile.endpoint, Endpoint::OpcUa { .. });
        let (first, k) =
            if is_opcua { (options.opcua_port, &mut opcua_k) } else { (options.modbus_port, &mut modbus_k) };
        let port = if first == 0 { 0 } else { first.saturating_add(*k) };
        *k += 1;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|source| {
            SimulateError::Io { what: format!("binding 127.0.0.1:{port} for {}", profile.line), source }
        })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimulateError::Io { what: "reading the bound address".into(), source })?;
        // The epoch a PLC booted in: distinct per seed so re-runs do not pose as the same boot.
        let epoch = (u32::try_from(options.seed % 1_000_000).unwrap_or(0) + 1)
            .max(options.resume.epoch_after.saturating_add(1));
        let mut line_image = LineImage::new(profile, epoch)?;
        line_image.add_load_tags(options.extra_tags);
        if options.ack_latencies.is_some() {
            for station in &mut line_image.stations {
                station.plc.ack_latencies = Some(Vec::new());
            }
        }
        let image = Arc::new(Mutex::new(line_image));
        // A server's certificate names its line (application URI): the first OPC UA line keeps
        // the folder's, each further one has a folder of its own below it.
        let login = if is_opcua && opcua_lines > 0 {
            OpcUaLogin { pki_dir: options.opcua_login.pki_dir.join(&profile.line), ..options.opcua_login.clone() }
        } else {
            options.opcua_login.clone()
        };
        opcua_lines += usize::from(is_opcua);
        if is_opcua {
            let handle = crate::opcua::serve(listener, profile, image.clone(), &login).await?;
            match options.faults.drop_after {
                // On OPC UA, a cut link is a server restart: every session is lost, the address
                // space comes back with the same PLC state behind it.
                Some(every) => {
                    tokio::spawn(restart_opcua(handle, addr, profile.clone(), image.clone(), login.clone(), every));
                }
                None => servers.push(handle),
            }
        } else {
            // Stations that are PLCs of their own answer on their own port; the line's port
            // answers for the others.
            let own: std::collections::BTreeSet<u8> =
                profile.stations.iter().filter(|s| s.endpoint.is_some()).filter_map(|s| s.unit_id).collect();
            let all: std::collections::BTreeSet<u8> = profile.stations.iter().filter_map(|s| s.unit_id).collect();
            let front = crate::modbus::ModbusFront::new(image.clone(), faults.clone());
            let front = if own.is_empty() { front } else { front.only(all.difference(&own).copied().collect()) };
            tokio::spawn(crate::modbus::serve_front(listener, front));
        }
        // The stations' own PLCs.
        for station in profile.stations.iter().filter(|s| s.endpoint.is_some()) {
            let port = if first == 0 { 0 } else { first.saturating_add(*k) };
            *k += 1;
            let key = format!("{}/{}", profile.line, station.code);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(|source| SimulateError::Io { what: format!("binding 127.0.0.1:{port} for {key}"), source })?;
            let station_addr = listener
                .local_addr()
                .map_err(|source| SimulateError::Io { what: "reading the bound address".into(), source })?;
            if is_opcua {
                let mut own = profile.clone();
                own.endpoint = station.endpoint.clone().unwrap_or_else(|| profile.endpoint.clone());
                servers.push(crate::opcua::serve(listener, &own, image.clone(), &login).await?);
            } else {
                let front = crate::modbus::ModbusFront::new(image.clone(), faults.clone())
                    .only(station.unit_id.into_iter().collect());
                tokio::spawn(crate::modbus::serve_front(listener, front));
            }
            addresses.push((key, station_addr));
        }
        // The nth line of a kind numbers its units apart from the others (serials, IMEIs): a
        // plant of many lines of one kind makes no serial twice.
        let nth = *same_kind.entry(profile.kind.clone()).and_modify(|n| *n += 1).or_insert(0u64);
        let prefix = match (profile.kind.as_str(), nth) {
            ("smt", 0) => "PCB".to_owned(),
            ("smt", n) => format!("PCB{}", n + 1),
            ("tablet", n) => format!("TB{}", n + 1),
            (_, n) => format!("PH{}", n + 1),
        };
        let mut engine = LineEngine::new(profile, options.seed, options.start, &prefix, 4);
        engine.number_block(nth);
        engine.continue_after(options.resume.units_after, options.resume.reels_after);
        // Boards from the outside supplier (no SMT line simulated) are unknown to any MES:
        // validating them would refuse every one.
        engine.validate = options.validate && options.lines.iter().any(|l| l.kind == "smt");
        // PLC timeouts run on the wall clock; the engine counts simulated time.
        engine.validation_timeout_ms = profile
            .stations
            .iter()
            .filter_map(|s| s.validation.as_ref())
            .map(|v| (v.timeout.as_millis() as f64 * options.speed) as u64)
            .max()
            .unwrap_or(2_000);
        engine.skip_fraction = options.faults.route;
        lines.push(SimLine { kind: profile.kind.clone(), engine, image });
        addresses.push((profile.line.clone(), addr));
    }
    on_ready(&addresses);

    let mut truth_file = options.ground_truth.as_deref().map(open_append).transpose()?;
    let mut validation_file =
        options.ground_truth.as_deref().map(|p| open_append(&validation_truth_path(p))).transpose()?;
    let has_smt = lines.iter().any(|l| l.kind == "smt");
    let limit_ms = options.duration.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let began = Instant::now();
    let mut written = 0u64;
    let mut external_boards = 0u64;
    let mut unknown_boards = 0u64;
    let mut boards_sent = 0u64;
    let mut simulated = 0u64;
    let mut next_consumer = 0usize;
    let consumers: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].kind != "smt").collect();
    tokio::pin!(stop);
    loop {
        let target = (began.elapsed().as_secs_f64() * options.speed * 1000.0) as u64;
        let target = limit_ms.map_or(target, |l| target.min(l));
        // All lines advance in lockstep, one tick at a time, and boards move every tick: the
        // wall clock only paces the simulation and never changes what it produces.
        let mut produced: Vec<StationResultLine> = Vec::new();
        while simulated + TICK_MS <= target {
            simulated += TICK_MS;
            for line in &mut lines {
                let mut image = lock(&line.image);
                produced.extend(line.engine.advance(simulated, &mut *image));
                if image.load_tags > 0 && simulated.is_multiple_of(1_000) {
                    image.update_load(simulated);
                }
            }
            if simulated.is_multiple_of(60_000) {
                inject(&options.faults, simulated / 60_000, &mut lines);
            }
            // Boards: from the SMT line when it runs, else from an outside supplier.
            // Route faults also send on boards that failed (scrap) or skipped a step, and now
            // and then one the MES never saw: the validation interlock must stop them.
            let mut boards: Vec<(String, &'static str)> = Vec::new();
            for l in lines.iter_mut().filter(|l| l.kind == "smt") {
                boards.extend(l.engine.completed.drain(..).map(|b| (b, "good")));
                let scrap: Vec<String> = l.engine.scrapped.drain(..).collect();
                let skipped: Vec<String> = l.engine.skipped.drain(..).collect();
                if options.faults.route > 0.0 {
                    boards.extend(scrap.into_iter().map(|b| (b, "failed")));
                    boards.extend(skipped.into_iter().map(|b| (b, "skipped")));
                    for _ in 0..boards.len() {
                        boards_sent += 1;
                        if boards_sent.is_multiple_of(40) {
                            unknown_boards += 1;
                            boards.push((format!("PCB-UNKNOWN-{unknown_boards:05}"), "unknown"));
                        }
                    }
                }
            }
            for (board, truth) in boards {
                if !consumers.is_empty() {
                    let to = consumers[next_consumer % consumers.len()];
                    next_consumer += 1;
                    if truth != "good" {
                        lines[to].engine.part_truth.insert(board.clone(), truth);
                    }
                    lines[to].engine.supply.entry("pcba".into()).or_default().push_back(board);
                }
            }
            if !has_smt {
                for &i in &consumers {
                    let queue = lines[i].engine.supply.entry("pcba".into()).or_default();
                    while queue.len() < 8 {
                        external_boards += 1;
                        queue.push_back(format!("PCB-EXT-{external_boards:07}"));
                    }
                }
            }
        }
        if let Some(file) = &mut truth_file {
            let lines: Vec<StationResultLine> = produced.iter().map(StationResultLine::ground_truth_form).collect();
            append_jsonl(file, &lines, "ground truth")?;
        }
        let validations: Vec<_> = lines.iter_mut().flat_map(|l| l.engine.validations.drain(..)).collect();
        if let Some(file) = &mut validation_file {
            append_jsonl(file, &validations, "validation truth")?;
        }
        if let Some(sink) = &options.ack_latencies {
            let mut all = Vec::new();
            for line in &lines {
                let mut image = lock(&line.image);
                for station in &mut image.stations {
                    let taken = station.plc.ack_latencies.as_mut().map(std::mem::take).unwrap_or_default();
                    all.extend(taken.into_iter().map(|d| (line.engine.line().to_owned(), d)));
                }
            }
            if let Ok(mut sink) = sink.lock() {
                sink.extend(all);
            }
        }
        written += produced.len() as u64;
        if limit_ms.is_some_and(|l| target >= l) {
            return Ok(written);
        }
        tokio::select! {
            () = &mut stop => return Ok(written),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// Applies the PLC faults due at simulated `minute`, each to one station per line chosen round
/// robin, so every station meets them over a long enough run.
fn inject(faults: &Faults, minute: u64, lines: &mut [SimLine]) {
    for fault in faults.due(minute) {
        for line in lines.iter_mut() {
            let n = line.engine.stations().max(1);
            let i = usize::try_from(minute).unwrap_or(0) % n;
            let mut image = lock(&line.image);
            tracing::info!(line = %line.engine.line(), station = i, ?fault, minute, "fault injected");
            match fault {
                PlcFault::Restart => {
                    let epoch = image.stations[i].plc.epoch.wrapping_add(1_000_000).max(1);
                    image.restart(i, epoch);
                }
                PlcFault::CounterReset => {
                    image.stations[i].plc.reset_counters();
                    image.render(i);
                }
                PlcFault::CounterJump => {
                    image.stations[i].plc.jump_counters(40_000);
                    image.render(i);
                }
                PlcFault::Fault => {
                    drop(image);
                    line.engine.break_now(i);
                }
            }
        }
    }
}

/// Where the validation ground truth goes: beside the record ground truth,
/// `truth.jsonl` → `truth.validation.jsonl`.
pub fn validation_truth_path(ground_truth: &std::path::Path) -> PathBuf {
    let stem = ground_truth.file_stem().map_or_else(|| "ground-truth".into(), |s| s.to_string_lossy().into_owned());
    ground_truth.with_file_name(format!("{stem}.validation.jsonl"))
}

/// Restarts an OPC UA line's server every `every` (the `drop` fault on OPC UA lines).
async fn restart_opcua(
    mut handle: opcua::server::ServerHandle,
    addr: SocketAddr,
    profile: Profile,
    image: Arc<Mutex<LineImage>>,
    login: OpcUaLogin,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        handle.cancel();
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let Some(listener) = listener else {
            tracing::warn!(line = %profile.line, %addr, "OPC UA simulator could not rebind after a restart");
            return;
        };
        match crate::opcua::serve(listener, &profile, image.clone(), &login).await {
            Ok(h) => {
                tracing::info!(line = %profile.line, %addr, "OPC UA simulator restarted (fault)");
                handle = h;
            }
            Err(e) => {
                tracing::warn!(line = %profile.line, error = %e, "OPC UA simulator failed to restart");
                return;
            }
        }
    }
}

/// Opens a ground-truth file for appending (created if missing).
fn open_append(path: &std::path::Path) -> Result<std::fs::File, SimulateError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| SimulateError::Io { what: format!("opening {}", path.display()), source })
}

/// Appends one JSON line per item and flushes, so a reader sees whole lines as they happen.
fn append_jsonl<T: serde::Serialize>(file: &mut std::fs::File, items: &[T], what: &str) -> Result<(), SimulateError> {
    let mut buf = Vec::new();
    for item in items {
        serde_json::to_writer(&mut buf, item)
            .map_err(|e| SimulateError::Io { what: format!("encoding {what}"), source: std::io::Error::other(e) })?;
        buf.push(b'\n');
    }
    file.write_all(&buf)
        .and_then(|()| file.flush())
        .map_err(|source| SimulateError::Io { what: format!("writing {what}"), source })
}
