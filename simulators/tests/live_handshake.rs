//! A running simulated line, read and acknowledged over Modbus by a minimal MES: production
//! continues past the PLC's ring because records are acknowledged, and what the client read is
//! exactly what the ground truth says the PLC produced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use chrono::TimeZone;
use mes_simulators::run::{SimulateOptions, simulate};
use plc_contract::StationResultLine;
use plc_contract::codec::{TagValue, decode, encode};
use plc_contract::profile::{Address, Profile, Role, Tag};
use tokio_modbus::prelude::*;

async fn read(ctx: &mut client::Context, tag: &Tag) -> TagValue {
    let Address::Modbus { index, .. } = tag.address else { panic!("modbus tag") };
    let regs = ctx.read_holding_registers(index, tag.data_type.registers(tag.length)).await.unwrap().unwrap();
    decode(&regs, tag.data_type, tag.length, tag.byte_order, tag.word_order).unwrap()
}

#[tokio::test]
async fn a_minimal_mes_reads_and_acknowledges_records_while_the_line_runs() {
    let dir = tempfile::tempdir().unwrap();
    let truth_path = dir.path().join("gt.jsonl");
    let phone = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles/phone-line.toml")).unwrap();
    let load = phone.stations.iter().find(|s| s.code == "LOAD").unwrap().clone();
    let stations_profile = phone.stations.clone();
    let options = SimulateOptions {
        lines: vec![phone],
        seed: 11,
        speed: 300.0,
        modbus_port: 0,
        ground_truth: Some(truth_path.clone()),
        duration: None,
        start: chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
        faults: Default::default(),
        opcua_port: 0,
        opcua_login: mes_simulators::opcua::OpcUaLogin::bundled(dir.path().join("pki")),
        // This minimal MES does not answer validation requests.
        validate: false,
        extra_tags: 0,
        ack_latencies: None,
        resume: Default::default(),
    };
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim = tokio::spawn(simulate(options, move |a| addr_tx.send(a[0].1).unwrap(), async move { _ = stop_rx.await }));
    let addr = addr_rx.await.unwrap();

    // One connection per station PLC (unit id), as a collector would hold.
    let mut stations = Vec::new();
    for s in &stations_profile {
        stations.push((s.clone(), tcp::connect_slave(addr, Slave(s.unit_id.unwrap())).await.unwrap()));
    }
    let mut taken: Vec<(u64, String)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while taken.len() < 20 {
        assert!(tokio::time::Instant::now() < deadline, "only {} LOAD records taken: {taken:?}", taken.len());
        for (station, ctx) in &mut stations {
            let (seq_tag, ack_tag) = (&station.tags[&Role::RecordSeq], &station.tags[&Role::RecordAck]);
            let (TagValue::Int(seq), TagValue::Int(ack)) = (read(ctx, seq_tag).await, read(ctx, ack_tag).await) else {
                panic!("numeric tags")
            };
            if seq == ack {
                continue;
            }
            if station.code == load.code {
                let TagValue::Text(serial) = read(ctx, &station.tags[&Role::Serial]).await else { panic!("text tag") };
                taken.push((u64::try_from(seq).unwrap(), serial));
            }
            let Address::Modbus { index, .. } = ack_tag.address else { panic!() };
            let regs =
                encode(&TagValue::Int(seq), ack_tag.data_type, 0, ack_tag.byte_order, ack_tag.word_order).unwrap();
            ctx.write_multiple_registers(index, &regs).await.unwrap().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await; // the poll period of this tiny MES
    }
    stop_tx.send(()).unwrap();
    sim.await.unwrap().unwrap();

    assert_eq!(taken.iter().map(|t| t.0).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>(), "in order, none skipped");
    let truth: Vec<StationResultLine> = std::fs::read_to_string(&truth_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &StationResultLine| l.station == "LOAD")
        .collect();
    assert!(truth.len() >= 20, "production went past the ring of {}", load.ring_size);
    for (seq, serial) in &taken {
        let t = truth.iter().find(|t| t.seq == *seq).expect("every record read is in the ground truth");
        assert_eq!(&t.serial, serial);
    }
}
