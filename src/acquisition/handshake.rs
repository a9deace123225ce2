//! The unit-record handshake without I/O (SPEC §3): from what a station's handshake tags show,
//! decide whether a record waits, which natural key it is stored under, and what to write to
//! acknowledge it once it is committed. The collector does the reading, committing and
//! writing; this module only decides, so every rule is tested with plain values.
//!
//! Invariant: an acknowledgement is produced only by [`Handshaker::committed`], which the
//! collector calls only after the store's commit returned. A decision error errs towards
//! reading a record again (a harmless duplicate), never towards skipping one.

use plc_contract::codec::TagValue;
use plc_contract::profile::{Handshake, Role};

/// What the handshake tags of a station showed in one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandshakeView {
    /// PLC boot epoch (0 when the station has no epoch tag).
    pub epoch: u32,
    /// `record_seq` (sequence handshake).
    pub seq: Option<u32>,
    /// `record_ack` as read back (sequence handshake).
    pub ack: Option<u32>,
    /// `record_ready` (flag handshakes).
    pub ready: Option<bool>,
    /// `record_ack_flag` (ready/ack handshake).
    pub ack_flag: Option<bool>,
}

/// The last record of a station the MES delivered (committed), as the handshake remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Epoch it was stored under.
    pub epoch: u32,
    /// Sequence it was stored under.
    pub seq: u32,
    /// Content fingerprint (flag handshakes recognise a re-presented record by it).
    pub fingerprint: String,
    /// Whether its acknowledgement is known to have reached the PLC.
    pub acknowledged: bool,
}

/// One station's handshake state.
#[derive(Debug, Clone)]
pub struct Handshaker {
    handshake: Handshake,
    last: Option<Delivered>,
}

impl Handshaker {
    /// A handshake of `kind`, remembering the last record delivered before (from the store
    /// after an MES restart; its acknowledgement is then unknown).
    pub fn new(kind: Handshake, last: Option<Delivered>) -> Self {
        Self { handshake: kind, last }
    }

    /// Whether the PLC presents a record the MES must read and commit.
    pub fn pending(&self, view: &HandshakeView) -> bool {
        match self.handshake {
            Handshake::Sequence => match (view.seq, view.ack) {
                (Some(0) | None, _) => false,
                (Some(seq), Some(ack)) if seq == ack => {
                    // The PLC shows the acknowledged number: nothing new — unless the PLC
                    // rebooted since the record we delivered, and the ack register is a stale
                    // value from the old epoch that happens to equal a new sequence number.
                    self.last.as_ref().is_some_and(|l| l.epoch != view.epoch)
                }
                (Some(_), _) => true,
            },
            Handshake::ReadyFlag => view.ready == Some(true),
            // After the MES set the ack flag the PLC still shows both flags until its next scan.
            Handshake::ReadyAck => view.ready == Some(true) && view.ack_flag != Some(true),
        }
    }

    /// Whether the PLC shows an acknowledgement this process did not write: a sequence
    /// station's `record_ack`, read back, is past the last record this process acknowledged
    /// there in the same epoch. Another master takes the station's records: the standby that
    /// took the line while this process was cut off from the database.
    pub fn acknowledged_elsewhere(&self, view: &HandshakeView) -> bool {
        match (self.handshake, &self.last, view.ack) {
            (Handshake::Sequence, Some(l), Some(ack)) => l.acknowledged && l.epoch == view.epoch && ack > l.seq,
            _ => false,
        }
    }

    /// Whether the MES numbers this station's records (flag handshakes): two processes
    /// numbering them apart could give two records one number.
    pub fn numbered_by_mes(&self) -> bool {
        self.handshake != Handshake::Sequence
    }

    /// The natural key `(epoch, seq)` to store the presented record under. Sequence stations
    /// give their own number. Flag stations have none: the MES numbers their records, and a
    /// record presented again after an acknowledgement that did not arrive (identical content)
    /// gets the number it was stored under, so it is not stored twice.
    pub fn key(&self, view: &HandshakeView, fingerprint: &str) -> (u32, u32) {
        match self.handshake {
            Handshake::Sequence => (view.epoch, view.seq.unwrap_or(0)),
            Handshake::ReadyFlag | Handshake::ReadyAck => match &self.last {
                Some(l) if l.epoch == view.epoch && !l.acknowledged && l.fingerprint == fingerprint => (l.epoch, l.seq),
                Some(l) if l.epoch == view.epoch => (view.epoch, l.seq.wrapping_add(1).max(1)),
                _ => (view.epoch, 1),
            },
        }
    }

    /// The record stored under `(epoch, seq)` is committed: remember it and return the writes
    /// that acknowledge it to the PLC.
    pub fn committed(&mut self, epoch: u32, seq: u32, fingerprint: String) -> Vec<(Role, TagValue)> {
        self.last = Some(Delivered { epoch, seq, fingerprint, acknowledged: false });
        match self.handshake {
            Handshake::Sequence => vec![(Role::RecordAck, TagValue::Int(i64::from(seq)))],
            Handshake::ReadyFlag => vec![(Role::RecordReady, TagValue::Bool(false))],
            Handshake::ReadyAck => vec![(Role::RecordAckFlag, TagValue::Bool(true))],
        }
    }

    /// The acknowledgement writes returned without error: the PLC has them.
    pub fn acknowledged(&mut self) {
        if let Some(l) = &mut self.last {
            l.acknowledged = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq_view(epoch: u32, seq: u32, ack: u32) -> HandshakeView {
        HandshakeView { epoch, seq: Some(seq), ack: Some(ack), ..Default::default() }
    }

    #[test]
    fn sequence_records_wait_until_their_number_is_written_back() {
        let mut h = Handshaker::new(Handshake::Sequence, None);
        assert!(!h.pending(&seq_view(1, 0, 0)), "a fresh PLC shows 0: nothing yet");
        assert!(h.pending(&seq_view(1, 1, 0)));
        assert_eq!(h.key(&seq_view(1, 1, 0), "x"), (1, 1));
        assert_eq!(h.committed(1, 1, "x".into()), vec![(Role::RecordAck, TagValue::Int(1))]);
        assert!(!h.pending(&seq_view(1, 1, 1)), "acknowledged: nothing new");
        assert!(h.pending(&seq_view(1, 2, 1)), "the next record");
    }

    #[test]
    fn after_a_plc_reboot_a_stale_ack_equal_to_a_new_number_still_reads_the_record() {
        let mut h = Handshaker::new(Handshake::Sequence, None);
        h.committed(1, 3, "x".into());
        h.acknowledged();
        // Rebooted into epoch 2; its first three records came and the ack register still says 3
        // from the old epoch: record 3 of epoch 2 must not be taken as acknowledged.
        assert!(h.pending(&seq_view(2, 3, 3)));
        h.committed(2, 3, "y".into());
        assert!(!h.pending(&seq_view(2, 3, 3)));
    }

    #[test]
    fn an_acknowledgement_past_the_last_this_process_wrote_is_another_masters() {
        let mut h = Handshaker::new(Handshake::Sequence, None);
        assert!(!h.acknowledged_elsewhere(&seq_view(1, 7, 6)), "nothing acknowledged here yet");
        h.committed(1, 7, String::new());
        assert!(!h.acknowledged_elsewhere(&seq_view(1, 8, 6)), "written, not yet known to have arrived");
        h.acknowledged();
        assert!(!h.acknowledged_elsewhere(&seq_view(1, 8, 7)), "our own acknowledgement");
        assert!(!h.acknowledged_elsewhere(&seq_view(1, 8, 5)), "an older value (a notification late)");
        assert!(!h.acknowledged_elsewhere(&seq_view(2, 9, 9)), "the PLC rebooted: a new epoch");
        assert!(h.acknowledged_elsewhere(&seq_view(1, 9, 8)), "record 8 acknowledged by someone else");
        // The MES restarted: its last record's acknowledgement is unknown, nothing is concluded.
        let restarted = Handshaker::new(
            Handshake::Sequence,
            Some(Delivered { epoch: 1, seq: 7, fingerprint: String::new(), acknowledged: false }),
        );
        assert!(!restarted.acknowledged_elsewhere(&seq_view(1, 9, 8)));
        let mut flag = Handshaker::new(Handshake::ReadyFlag, None);
        flag.committed(1, 7, String::new());
        flag.acknowledged();
        assert!(!flag.acknowledged_elsewhere(&seq_view(1, 9, 8)), "flag stations have no sequence");
    }

    #[test]
    fn after_an_mes_restart_an_unacknowledged_record_is_read_again() {
        // The store knows (1, 7) was committed; the PLC never got the ack (crash in between).
        let last = Delivered { epoch: 1, seq: 7, fingerprint: "x".into(), acknowledged: false };
        let h = Handshaker::new(Handshake::Sequence, Some(last));
        assert!(h.pending(&seq_view(1, 7, 6)), "read again; storing it again is a no-op");
    }

    #[test]
    fn ready_flag_records_are_numbered_by_the_mes_and_a_re_presented_one_keeps_its_number() {
        let view = HandshakeView { epoch: 0, ready: Some(true), ..Default::default() };
        let mut h = Handshaker::new(Handshake::ReadyFlag, None);
        assert!(h.pending(&view));
        assert!(!h.pending(&HandshakeView { ready: Some(false), ..view }));
        assert_eq!(h.key(&view, "A"), (0, 1));
        assert_eq!(h.committed(0, 1, "A".into()), vec![(Role::RecordReady, TagValue::Bool(false))]);
        // The clear did not arrive (link dropped): the same record is presented again.
        assert_eq!(h.key(&view, "A"), (0, 1), "same content, unacknowledged: the same record");
        assert_eq!(h.key(&view, "B"), (0, 2));
        h.acknowledged();
        assert_eq!(h.key(&view, "A"), (0, 2), "acknowledged: identical content is a new record");
    }

    #[test]
    fn ready_ack_waits_while_the_plc_has_not_yet_cleared_both_flags() {
        let mut h = Handshaker::new(Handshake::ReadyAck, None);
        let ready = HandshakeView { ready: Some(true), ack_flag: Some(false), ..Default::default() };
        assert!(h.pending(&ready));
        assert_eq!(h.committed(0, 1, "A".into()), vec![(Role::RecordAckFlag, TagValue::Bool(true))]);
        assert!(!h.pending(&HandshakeView { ack_flag: Some(true), ..ready }), "PLC has not taken the ack yet");
    }
}
