//! A station PLC without I/O: the unit-record handshake (sequence number, acknowledgement, ring
//! buffer of unacknowledged records, blocking when full), cumulative counters that wrap at their
//! register width, the boot epoch and the state word. The Modbus and OPC UA fronts only render
//! this state into registers or variables and feed acknowledgements back.

use std::collections::VecDeque;

/// A unit record as a simulated PLC holds it until acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRecord {
    /// Sequence number (assigned by the PLC when the record is offered).
    pub seq: u32,
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
    /// Measurement values, in the profile's order.
    pub measurements: Vec<f64>,
    /// Consumed ids, in the profile's order.
    pub consumed: Vec<String>,
}

/// Why a record could not be offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring buffer full ({capacity} unacknowledged records): station blocked")]
pub struct Blocked {
    /// Ring capacity.
    pub capacity: usize,
}

/// One station's PLC.
#[derive(Debug, Clone)]
pub struct StationPlc {
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
}

impl StationPlc {
    /// A PLC with a ring of `capacity` records, booted in `epoch`.
    pub fn new(capacity: usize, epoch: u32) -> Self {
        Self {
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
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        self.count_in += 1;
        if record.pass {
            self.count_good += 1;
        } else {
            self.count_reject += 1;
        }
        let seq = record.seq;
        self.ring.push_back(record);
        Ok(seq)
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
            Some(r) if r.seq == seq => {
                self.ring.pop_front();
                self.last_ack = seq;
                true
            }
            _ => false,
        }
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
    /// records survive in retentive memory, renumbered in the new epoch.
    pub fn restart(&mut self, new_epoch: u32) {
        self.epoch = new_epoch;
        self.next_seq = 1;
        self.last_ack = 0;
        (self.count_in, self.count_good, self.count_reject) = (0, 0, 0);
        // Renumber, do not re-offer: these units were produced (and counted) before the restart.
        for record in &mut self.ring {
            record.seq = self.next_seq;
            self.next_seq += 1;
        }
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
            serial: serial.into(),
            pass: true,
            defect: None,
            cycle_time_ms: 30_000,
            program: "P1".into(),
            measurements: vec![],
            consumed: vec![],
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
        assert_eq!(plc.presented().map(|r| (r.serial.as_str(), r.seq)), Some(("B", 1)));
        assert_eq!(plc.true_count(Counter::In), 0, "counters restart from zero");
        assert_eq!(plc.offer(rec("C")), Ok(2));
    }
}
