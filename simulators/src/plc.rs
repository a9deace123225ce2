//! A station PLC without I/O: the unit-record handshake (sequence number, acknowledgement, ring
//! buffer of unacknowledged records, blocking when full), cumulative counters that wrap at their
//! register width, the boot epoch and the state word. The Modbus and OPC UA fronts only render
//! this state into registers or variables and feed acknowledgements back.

use std::collections::VecDeque;

pub use plc_contract::profile::Handshake;

/// A unit record as a simulated PLC holds it until acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    /// Sequence number (assigned by the PLC when the record is offered).
    pub seq: u32,
    /// Boot epoch the record was produced in (assigned with the sequence number); with `seq`
    /// it is the record's identity, kept across a restart so a record is never renumbered.
    pub epoch: u32,
    /// Unit serial.
    pub serial: String,
    /// Passed?
    pub pass: bool,
    /// Defect code, if failed.
    pub defect: Option<String>,
    /// Cycle time in ms.
    pub cycle_time_ms: u32,
    /// Program name.
    pub program: String,
    /// What a repair bench did, at a repair station.
    pub repair_action: Option<String>,
    /// Measurement values, in the profile's order.
    pub measurements: Vec<f64>,
    /// Consumed ids, in the order of the profile's `consumes`.
    pub consumed: Vec<String>,
    /// The supplier of each consumed lot, in the same order (empty where none is named); shown
    /// in a `supplier_tag` where the profile has one.
    pub suppliers: Vec<String>,
    /// Per feeder slot, in the profile's order: the reel the unit was placed from and the reel
    /// spliced out while it was placed, if any.
    pub reels: Vec<(String, Option<String>)>,
    /// The PLC's real-time clock when the station finished the unit (the wall clock: what a
    /// real PLC would stamp), shown in a `produced_at` tag where the profile has one.
    pub clock: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a record could not be offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring buffer full ({capacity} unacknowledged records): station blocked")]
pub struct Blocked {
    /// Ring capacity.
    pub capacity: usize,
}

/// A unit-validation request the PLC raised and the answer the MES wrote (SPEC §3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Request number raised by the PLC (0 = none yet).
    pub request_seq: u32,
    /// Serial asked about.
    pub serial: String,
    /// Request number the MES answered.
    pub answer_seq: u32,
    /// 1 allow, 2 deny.
    pub verdict: u16,
    /// Reason code of a denial.
    pub reason: u16,
}

/// One station's PLC.
#[derive(Debug, Clone)]
pub struct StationPlc {
    handshake: Handshake,
    /// Flag handshakes: the ready flag as the PLC shows it.
    ready: bool,
    ring: VecDeque<SimRecord>,
    capacity: usize,
    next_seq: u32,
    last_ack: u32,
    /// Boot epoch; a restart picks a new one and resets sequence and counters.
    pub epoch: u32,
    /// State word as the profile codes it.
    pub state_code: u16,
    /// Fault code (0 = none).
    pub fault_code: u16,
    count_in: u64,
    count_good: u64,
    count_reject: u64,
    /// Reel id loaded on each feeder slot, in profile order.
    pub feeder_reels: Vec<String>,
    /// The validation interlock's registers.
    pub validation: Validation,
    /// When each held record was offered (wall clock), for the acknowledgement latency.
    offered_at: VecDeque<std::time::Instant>,
    /// Offer-to-acknowledgement latencies of released records, when measured (`Some`).
    pub ack_latencies: Option<Vec<std::time::Duration>>,
}

impl StationPlc {
    /// A sequence-handshake PLC with a ring of `capacity` records, booted in `epoch`.
    pub fn new(capacity: usize, epoch: u32) -> Self {
        Self::with_handshake(Handshake::Sequence, capacity, epoch)
    }

    /// A PLC speaking `handshake`. Flag handshakes present one record at a time: the ring
    /// still holds what the station finished but the MES has not yet taken.
    pub fn with_handshake(handshake: Handshake, capacity: usize, epoch: u32) -> Self {
        Self {
            handshake,
            ready: false,
            feeder_reels: Vec::new(),
            validation: Validation::default(),
            offered_at: VecDeque::with_capacity(capacity),
            ack_latencies: None,
            ring: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            next_seq: 1,
            last_ack: 0,
            epoch,
            state_code: 1,
            fault_code: 0,
            count_in: 0,
            count_good: 0,
            count_reject: 0,
        }
    }

    /// Offers a finished unit's record; the PLC numbers it. Refused (station blocked) when the
    /// ring is full. Counters count the unit either way it is accepted.
    pub fn offer(&mut self, mut record: SimRecord) -> Result<u32, Blocked> {
        if self.ring.len() >= self.capacity {
            return Err(Blocked { capacity: self.capacity });
        }
        record.seq = self.next_seq;
        record.epoch = self.epoch;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        self.count_in += 1;
        if record.pass {
            self.count_good += 1;
        } else {
            self.count_reject += 1;
        }
        let seq = record.seq;
        self.ring.push_back(record);
        self.offered_at.push_back(std::time::Instant::now());
        self.ready = true;
        Ok(seq)
    }

    /// The handshake this PLC speaks.
    pub fn handshake(&self) -> Handshake {
        self.handshake
    }

    /// Flag handshakes: whether the ready flag is raised (a record waits in the registers).
    pub fn ready_flag(&self) -> bool {
        self.ready && !self.ring.is_empty()
    }

    /// Ready-flag handshake: the MES wrote `value` to the ready flag. Clearing it (0) while a
    /// record is presented releases that record; the PLC raises the flag again for the next.
    pub fn ready_written(&mut self, value: bool) -> bool {
        if self.handshake != Handshake::ReadyFlag || value || !self.ready_flag() {
            return false;
        }
        self.release()
    }

    /// Ready/ack handshake: the MES wrote `value` to the acknowledge flag. Setting it while a
    /// record is presented releases the record; the PLC then clears both flags (the caller
    /// renders the cleared acknowledge flag) and raises ready again for the next record.
    pub fn ack_flag_written(&mut self, value: bool) -> bool {
        if self.handshake != Handshake::ReadyAck || !value || !self.ready_flag() {
            return false;
        }
        self.release()
    }

    fn release(&mut self) -> bool {
        let offered = self.offered_at.pop_front();
        if let (Some(log), Some(at)) = (&mut self.ack_latencies, offered) {
            log.push(at.elapsed());
        }
        match self.ring.pop_front() {
            Some(r) => {
                self.last_ack = r.seq;
                self.ready = !self.ring.is_empty();
                true
            }
            None => false,
        }
    }

    /// Raises a validation request for `serial` (stations with an interlock); returns its number.
    pub fn request_validation(&mut self, serial: &str) -> u32 {
        self.validation.request_seq = self.validation.request_seq.wrapping_add(1).max(1);
        self.validation.serial = serial.to_owned();
        self.validation.request_seq
    }

    /// The MES's answer to the current request: `Some((verdict, reason))` once it wrote the
    /// matching request number, `None` while it has not (the station's timeout runs).
    pub fn validation_answer(&self) -> Option<(u16, u16)> {
        let v = &self.validation;
        (v.request_seq != 0 && v.answer_seq == v.request_seq).then_some((v.verdict, v.reason))
    }

    /// The record presented in the registers: the oldest unacknowledged one.
    pub fn presented(&self) -> Option<&SimRecord> {
        self.ring.front()
    }

    /// The sequence number the PLC shows: the presented record's, or the last acknowledged one
    /// when nothing is pending (so `record_seq == record_ack` means "nothing new").
    pub fn shown_seq(&self) -> u32 {
        self.presented().map_or(self.last_ack, |r| r.seq)
    }

    /// The MES wrote `seq` to the acknowledgement register. Only the presented record can be
    /// acknowledged; any other value is ignored (a stale or garbage write), so a record is
    /// never dropped that the MES did not confirm. Returns whether a record was released.
    pub fn acknowledge(&mut self, seq: u32) -> bool {
        match self.ring.front() {
            Some(r) if self.handshake == Handshake::Sequence && r.seq == seq => self.release(),
            _ => false,
        }
    }

    /// Whether record `seq` of `epoch` is still held, unacknowledged.
    pub fn holds(&self, epoch: u32, seq: u32) -> bool {
        self.ring.iter().any(|r| r.epoch == epoch && r.seq == seq)
    }

    /// Last acknowledged sequence number.
    pub fn last_ack(&self) -> u32 {
        self.last_ack
    }

    /// Unacknowledged records held.
    pub fn pending(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring is full (the station cannot unload).
    pub fn is_blocked(&self) -> bool {
        self.ring.len() >= self.capacity
    }

    /// A counter's raw register value at `width_bits` (16 or 32): the true count modulo 2^width.
    pub fn counter(&self, which: Counter, width_bits: u32) -> u64 {
        let value = match which {
            Counter::In => self.count_in,
            Counter::Good => self.count_good,
            Counter::Reject => self.count_reject,
        };
        value % (1u64 << width_bits)
    }

    /// The true, never-wrapping count (ground truth for counter tests).
    pub fn true_count(&self, which: Counter) -> u64 {
        match which {
            Counter::In => self.count_in,
            Counter::Good => self.count_good,
            Counter::Reject => self.count_reject,
        }
    }

    /// Preloads the counters (to test wraps without producing 65,536 units).
    pub fn preset_counters(&mut self, count_in: u64, good: u64, reject: u64) {
        (self.count_in, self.count_good, self.count_reject) = (count_in, good, reject);
    }

    /// A PLC restart: new epoch; sequence numbers and counters start over. Unacknowledged
    /// records survive in retentive memory with the epoch and number they were produced
    /// under: renumbering them would make a record the MES committed (but whose ack was lost
    /// to the restart) look like a new one, and it would be counted twice.
    pub fn restart(&mut self, new_epoch: u32) {
        self.epoch = new_epoch;
        self.next_seq = 1;
        self.last_ack = 0;
        (self.count_in, self.count_good, self.count_reject) = (0, 0, 0);
    }

    /// Counters reset to zero without a restart (an operator's reset), same epoch.
    pub fn reset_counters(&mut self) {
        (self.count_in, self.count_good, self.count_reject) = (0, 0, 0);
    }

    /// Counters jump by `by` (a glitch: a bit flip, a bad preset); the MES must flag it.
    pub fn jump_counters(&mut self, by: u64) {
        self.count_in += by;
        self.count_good += by;
    }

    /// The epoch the PLC shows: the presented record's, or the current boot's when none is.
    pub fn shown_epoch(&self) -> u32 {
        self.presented().map_or(self.epoch, |r| r.epoch)
    }
}

/// Which cumulative counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Units in.
    In,
    /// Good out.
    Good,
    /// Reject out.
    Reject,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(serial: &str) -> SimRecord {
        SimRecord {
            seq: 0,
            epoch: 0,
            serial: serial.into(),
            pass: true,
            defect: None,
            cycle_time_ms: 30_000,
            program: "P1".into(),
            repair_action: None,
            measurements: vec![],
            consumed: vec![],
            suppliers: vec![],
            reels: vec![],
            clock: None,
        }
    }

    #[test]
    fn records_are_presented_in_order_and_released_only_by_their_own_ack() {
        let mut plc = StationPlc::new(3, 7);
        assert_eq!(plc.shown_seq(), 0);
        assert_eq!(plc.offer(rec("A")), Ok(1));
        assert_eq!(plc.offer(rec("B")), Ok(2));
        assert_eq!(plc.presented().map(|r| r.serial.as_str()), Some("A"));
        assert!(!plc.acknowledge(2), "B is not presented yet");
        assert!(!plc.acknowledge(99), "garbage is ignored");
        assert!(plc.acknowledge(1));
        assert!(!plc.acknowledge(1), "a repeated ack releases nothing more");
        assert_eq!(plc.presented().map(|r| r.serial.as_str()), Some("B"));
        assert!(plc.acknowledge(2));
        assert_eq!((plc.pending(), plc.shown_seq(), plc.last_ack()), (0, 2, 2));
    }

    #[test]
    fn a_full_ring_blocks_the_station_until_the_mes_acknowledges() {
        let mut plc = StationPlc::new(2, 1);
        plc.offer(rec("A")).unwrap();
        plc.offer(rec("B")).unwrap();
        assert!(plc.is_blocked());
        assert_eq!(plc.offer(rec("C")), Err(Blocked { capacity: 2 }));
        assert_eq!(plc.true_count(Counter::In), 2, "a refused unit was not produced");
        plc.acknowledge(1);
        assert_eq!(plc.offer(rec("C")), Ok(3));
    }

    #[test]
    fn the_ready_flag_handshake_releases_a_record_when_the_mes_clears_the_flag() {
        let mut plc = StationPlc::with_handshake(Handshake::ReadyFlag, 4, 1);
        assert!(!plc.ready_flag());
        plc.offer(rec("A")).unwrap();
        plc.offer(rec("B")).unwrap();
        assert!(plc.ready_flag());
        assert!(!plc.ready_written(true), "setting the flag is not an acknowledgement");
        assert!(!plc.acknowledge(1), "sequence acks mean nothing to a flag PLC");
        assert!(plc.ready_written(false));
        assert_eq!(plc.presented().map(|r| r.serial.as_str()), Some("B"));
        assert!(plc.ready_flag(), "raised again for the next record");
        assert!(plc.ready_written(false));
        assert!(!plc.ready_flag());
        assert!(!plc.ready_written(false), "clearing with nothing presented releases nothing");
    }

    #[test]
    fn the_ready_ack_handshake_releases_a_record_when_the_mes_sets_the_ack_flag() {
        let mut plc = StationPlc::with_handshake(Handshake::ReadyAck, 4, 1);
        plc.offer(rec("A")).unwrap();
        assert!(!plc.ack_flag_written(false));
        assert!(!plc.ready_written(false), "a ready/ack PLC ignores writes to its ready flag");
        assert!(plc.ack_flag_written(true));
        assert!(!plc.ready_flag() && plc.pending() == 0);
        assert!(!plc.ack_flag_written(true), "a late second ack releases nothing");
    }

    #[test]
    fn a_validation_answer_counts_only_for_the_current_request() {
        let mut plc = StationPlc::new(4, 1);
        let first = plc.request_validation("PH1-1");
        assert_eq!(plc.validation_answer(), None);
        plc.validation.answer_seq = first;
        plc.validation.verdict = 2;
        plc.validation.reason = 3;
        assert_eq!(plc.validation_answer(), Some((2, 3)));
        plc.request_validation("PH1-2");
        assert_eq!(plc.validation_answer(), None, "the old answer does not answer the new request");
    }

    #[test]
    fn counters_wrap_at_their_register_width() {
        let mut plc = StationPlc::new(4, 1);
        plc.preset_counters(65_535, 65_535, 0);
        plc.offer(rec("A")).unwrap();
        assert_eq!(plc.counter(Counter::In, 16), 0);
        assert_eq!(plc.counter(Counter::In, 32), 65_536);
        assert_eq!(plc.true_count(Counter::Good), 65_536);
    }

    #[test]
    fn a_restart_changes_epoch_resets_counters_and_keeps_unacknowledged_records() {
        let mut plc = StationPlc::new(4, 1);
        plc.offer(rec("A")).unwrap();
        plc.offer(rec("B")).unwrap();
        plc.acknowledge(1);
        plc.restart(2);
        assert_eq!(plc.epoch, 2);
        assert_eq!(plc.presented().map(|r| (r.serial.as_str(), r.epoch, r.seq)), Some(("B", 1, 2)));
        assert_eq!(plc.shown_epoch(), 1, "the presented record keeps its identity");
        assert_eq!(plc.true_count(Counter::In), 0, "counters restart from zero");
        assert_eq!(plc.offer(rec("C")), Ok(1));
        assert!(plc.acknowledge(2));
        assert_eq!((plc.shown_epoch(), plc.shown_seq()), (2, 1));
    }
}
