//! The simulated phone line over real Modbus TCP, read by a tokio-modbus client exactly as the
//! bundled profile says: registers where the profile puts them, the sequence handshake, the
//! ring buffer, counter wrap and exception responses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mes_simulators::image::LineImage;
use mes_simulators::plc::SimRecord;
use plc_contract::codec::{TagValue, decode};
use plc_contract::profile::{Profile, Role, Tag};
use tokio_modbus::prelude::*;

fn profile() -> Profile {
    Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles/phone-line.toml")).unwrap()
}

fn record(serial: &str, pass: bool) -> SimRecord {
    SimRecord {
        seq: 0,
        epoch: 0,
        serial: serial.into(),
        pass,
        defect: (!pass).then(|| "FT_AUDIO".into()),
        cycle_time_ms: 31_250,
        program: "PHONE-X1".into(),
        repair_action: None,
        measurements: vec![],
        consumed: vec![],
        suppliers: vec![],
        reels: vec![],
        clock: None,
    }
}

/// Starts the simulator on an ephemeral loopback port; the task ends with the test runtime.
async fn start(image: LineImage) -> (SocketAddr, Arc<Mutex<LineImage>>) {
    let image = Arc::new(Mutex::new(image));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mes_simulators::modbus::serve(listener, image.clone(), Default::default()));
    (addr, image)
}

async fn read(ctx: &mut client::Context, tag: &Tag) -> TagValue {
    let plc_contract::profile::Address::Modbus { index, .. } = tag.address else { panic!("modbus tag") };
    let regs = ctx.read_holding_registers(index, tag.data_type.registers(tag.length)).await.unwrap().unwrap();
    decode(&regs, tag.data_type, tag.length, tag.byte_order, tag.word_order).unwrap()
}

async fn write_u32(ctx: &mut client::Context, tag: &Tag, value: u32) {
    let plc_contract::profile::Address::Modbus { index, .. } = tag.address else { panic!("modbus tag") };
    let regs =
        plc_contract::codec::encode(&TagValue::Int(i64::from(value)), tag.data_type, 0, tag.byte_order, tag.word_order)
            .unwrap();
    ctx.write_multiple_registers(index, &regs).await.unwrap().unwrap();
}

#[tokio::test]
async fn records_arrive_in_order_and_are_released_only_by_their_acknowledgement() {
    let profile = profile();
    let ft = profile.stations.iter().find(|s| s.code == "FT").unwrap().clone();
    let mut image = LineImage::new(&profile, 42).unwrap();
    let i = image.station("FT").unwrap();
    image.stations[i].plc.state_code = 2;
    for (serial, pass) in [("PH1-0000001", true), ("PH1-0000002", false), ("PH1-0000003", true)] {
        image.stations[i].plc.offer(record(serial, pass)).unwrap();
    }
    image.render(i);
    let (addr, image) = start(image).await;
    let tag = |role| ft.tags[&role].clone();

    let mut ctx = tcp::connect_slave(addr, Slave(ft.unit_id.unwrap())).await.unwrap();
    assert_eq!(read(&mut ctx, &tag(Role::State)).await, TagValue::Int(2));
    assert_eq!(read(&mut ctx, &tag(Role::Epoch)).await, TagValue::Int(42));
    assert_eq!(read(&mut ctx, &tag(Role::CountIn)).await, TagValue::Int(3));
    assert_eq!(read(&mut ctx, &tag(Role::CountReject)).await, TagValue::Int(1));

    let mut seen = Vec::new();
    for _ in 0..3 {
        let TagValue::Int(seq) = read(&mut ctx, &tag(Role::RecordSeq)).await else { panic!() };
        let serial = read(&mut ctx, &tag(Role::Serial)).await;
        let result = read(&mut ctx, &tag(Role::Result)).await;
        let defect = read(&mut ctx, &tag(Role::Defect)).await;
        seen.push((seq, serial, result, defect));
        // An acknowledgement for anything but the presented record is ignored.
        write_u32(&mut ctx, &tag(Role::RecordAck), u32::try_from(seq).unwrap() + 7).await;
        assert_eq!(read(&mut ctx, &tag(Role::RecordSeq)).await, TagValue::Int(seq), "a wrong ack releases nothing");
        write_u32(&mut ctx, &tag(Role::RecordAck), u32::try_from(seq).unwrap()).await;
    }
    let text = |s: &str| TagValue::Text(s.into());
    assert_eq!(
        seen,
        vec![
            (1, text("PH1-0000001"), TagValue::Int(1), text("")),
            (2, text("PH1-0000002"), TagValue::Int(2), text("FT_AUDIO")),
            (3, text("PH1-0000003"), TagValue::Int(1), text("")),
        ]
    );
    // Nothing pending: record_seq equals the last acknowledgement.
    assert_eq!(read(&mut ctx, &tag(Role::RecordSeq)).await, TagValue::Int(3));
    assert_eq!(image.lock().unwrap().stations[i].plc.pending(), 0);
}

#[tokio::test]
async fn an_unacknowledged_record_is_offered_again_after_reconnect_and_a_full_ring_blocks() {
    let profile = profile();
    let load = profile.stations.iter().find(|s| s.code == "LOAD").unwrap().clone();
    let image = LineImage::new(&profile, 1).unwrap();
    let (addr, image) = start(image).await;
    let i = image.lock().unwrap().station("LOAD").unwrap();
    {
        let mut img = image.lock().unwrap();
        for n in 0..load.ring_size {
            img.stations[i].plc.offer(record(&format!("PH1-{n:07}"), true)).unwrap();
        }
        assert!(img.stations[i].plc.offer(record("PH1-OVERFLOW", true)).is_err(), "ring full: station blocked");
        img.render(i);
    }
    let serial = load.tags[&Role::Serial].clone();
    let mut ctx = tcp::connect_slave(addr, Slave(load.unit_id.unwrap())).await.unwrap();
    assert_eq!(read(&mut ctx, &serial).await, TagValue::Text("PH1-0000000".into()));
    drop(ctx); // the MES crashed before acknowledging
    let mut ctx = tcp::connect_slave(addr, Slave(load.unit_id.unwrap())).await.unwrap();
    assert_eq!(read(&mut ctx, &serial).await, TagValue::Text("PH1-0000000".into()), "offered again");
    write_u32(&mut ctx, &load.tags[&Role::RecordAck], 1).await;
    assert_eq!(read(&mut ctx, &serial).await, TagValue::Text("PH1-0000001".into()));
    assert!(!image.lock().unwrap().stations[i].plc.is_blocked(), "one ack unblocks the station");
}

#[tokio::test]
async fn sixteen_bit_counters_wrap_on_the_wire() {
    let profile = profile();
    let mut image = LineImage::new(&profile, 1).unwrap();
    let i = image.station("PACK").unwrap();
    image.stations[i].plc.preset_counters(65_535, 65_535, 0);
    image.stations[i].plc.offer(record("PH1-9", true)).unwrap();
    image.render(i);
    let pack = image.stations[i].profile.clone();
    let (addr, _image) = start(image).await;
    let mut ctx = tcp::connect_slave(addr, Slave(pack.unit_id.unwrap())).await.unwrap();
    assert_eq!(read(&mut ctx, &pack.tags[&Role::CountIn]).await, TagValue::Int(0), "65,536 mod 2^16");
}

#[tokio::test]
async fn bad_addresses_functions_and_unit_ids_get_modbus_exceptions() {
    let (addr, _image) = start(LineImage::new(&profile(), 1).unwrap()).await;
    let mut ctx = tcp::connect_slave(addr, Slave(5)).await.unwrap();
    assert_eq!(ctx.read_holding_registers(60_000, 2).await.unwrap(), Err(ExceptionCode::IllegalDataAddress));
    assert_eq!(ctx.read_holding_registers(0, 126).await.unwrap(), Err(ExceptionCode::IllegalDataValue));
    assert_eq!(
        ctx.read_input_registers(0, 1).await.unwrap(),
        Err(ExceptionCode::IllegalDataAddress),
        "no input registers"
    );
    assert_eq!(ctx.masked_write_register(0, 0xFF, 0).await.unwrap(), Err(ExceptionCode::IllegalFunction));
    // The connection survives exceptions.
    assert!(ctx.read_holding_registers(0, 1).await.unwrap().is_ok());
    let mut other = tcp::connect_slave(addr, Slave(99)).await.unwrap();
    assert_eq!(other.read_holding_registers(0, 1).await.unwrap(), Err(ExceptionCode::GatewayTargetDevice));
}

/// A one-station PLC profile of a given handshake style; `flags` are its flag tags.
fn small_plc(handshake: &str, flags: &str) -> Profile {
    let text = format!(
        r#"line = "small-1"
kind = "phone"
[endpoint]
protocol = "modbus_tcp"
host = "127.0.0.1"
port = 502
[states]
2 = "running"
[[stations]]
code = "ST1"
kind = "test"
unit_id = 1
handshake = "{handshake}"
ring_size = 4
[stations.tags]
state = {{ address = "hr:0", type = "u16" }}
serial = {{ address = "hr:16", type = "string", length = 8 }}
result = {{ address = "hr:24", type = "u16" }}
{flags}
"#
    );
    Profile::parse(Path::new("small.toml"), &text).unwrap()
}

async fn start_with(
    profile: &Profile,
    serials: &[&str],
) -> (SocketAddr, Arc<Mutex<LineImage>>, plc_contract::profile::StationProfile) {
    let mut image = LineImage::new(profile, 1).unwrap();
    for s in serials {
        image.stations[0].plc.offer(record(s, true)).unwrap();
    }
    image.render(0);
    let station = image.stations[0].profile.clone();
    let (addr, image) = start(image).await;
    (addr, image, station)
}

#[tokio::test]
async fn a_ready_flag_plc_on_a_coil_hands_over_records_when_the_mes_clears_the_flag() {
    let profile = small_plc("ready_flag", r#"record_ready = { address = "co:5", type = "bool" }"#);
    let (addr, image, st) = start_with(&profile, &["A-1", "A-2"]).await;
    let mut ctx = tcp::connect_slave(addr, Slave(1)).await.unwrap();
    let mut got = Vec::new();
    while ctx.read_coils(5, 1).await.unwrap().unwrap() == vec![true] {
        got.push(read(&mut ctx, &st.tags[&Role::Serial]).await);
        ctx.write_single_coil(5, false).await.unwrap().unwrap();
        assert!(got.len() <= 2, "the flag must drop once both records are taken");
    }
    assert_eq!(got, vec![TagValue::Text("A-1".into()), TagValue::Text("A-2".into())]);
    assert_eq!(image.lock().unwrap().stations[0].plc.pending(), 0);
}

#[tokio::test]
async fn a_ready_ack_plc_takes_the_separate_ack_flag_and_clears_both() {
    let profile = small_plc(
        "ready_ack",
        r#"record_ready = { address = "hr:30", type = "u16" }
record_ack_flag = { address = "hr:31", type = "u16" }"#,
    );
    let (addr, image, st) = start_with(&profile, &["B-1", "B-2"]).await;
    let mut ctx = tcp::connect_slave(addr, Slave(1)).await.unwrap();
    assert_eq!(ctx.read_holding_registers(30, 2).await.unwrap().unwrap(), vec![1, 0], "ready, not yet acknowledged");
    assert_eq!(read(&mut ctx, &st.tags[&Role::Serial]).await, TagValue::Text("B-1".into()));
    ctx.write_single_register(30, 0).await.unwrap().unwrap(); // clearing ready is not this PLC's ack
    assert_eq!(image.lock().unwrap().stations[0].plc.pending(), 2);
    ctx.write_single_register(31, 1).await.unwrap().unwrap();
    assert_eq!(ctx.read_holding_registers(30, 2).await.unwrap().unwrap(), vec![1, 0], "ack cleared, next record ready");
    assert_eq!(read(&mut ctx, &st.tags[&Role::Serial]).await, TagValue::Text("B-2".into()));
    ctx.write_single_register(31, 1).await.unwrap().unwrap();
    assert_eq!(ctx.read_holding_registers(30, 2).await.unwrap().unwrap(), vec![0, 0], "nothing left: both flags down");
}

#[tokio::test]
async fn the_validation_interlock_and_feeder_reels_sit_where_the_profiles_say() {
    let phone = profile();
    let mut image = LineImage::new(&phone, 1).unwrap();
    let i = image.station("LOAD").unwrap();
    let seq = image.stations[i].plc.request_validation("PH1-0000042");
    image.render(i);
    let v = image.stations[i].profile.validation.clone().unwrap();
    let unit = image.stations[i].profile.unit_id.unwrap();
    let (addr, image) = start(image).await;
    let mut ctx = tcp::connect_slave(addr, Slave(unit)).await.unwrap();
    assert_eq!(read(&mut ctx, &v.request_seq).await, TagValue::Int(i64::from(seq)));
    assert_eq!(read(&mut ctx, &v.serial).await, TagValue::Text("PH1-0000042".into()));
    assert_eq!(image.lock().unwrap().stations[i].plc.validation_answer(), None, "not answered yet");
    // The MES denies: reason first, then verdict, then the request number that makes it count.
    let addr_of = |t: &Tag| match t.address {
        plc_contract::profile::Address::Modbus { index, .. } => index,
        _ => unreachable!(),
    };
    ctx.write_single_register(addr_of(&v.reason), 3).await.unwrap().unwrap();
    ctx.write_single_register(addr_of(&v.verdict), 2).await.unwrap().unwrap();
    assert_eq!(image.lock().unwrap().stations[i].plc.validation_answer(), None);
    write_u32(&mut ctx, &v.answer_seq, seq).await;
    assert_eq!(image.lock().unwrap().stations[i].plc.validation_answer(), Some((2, 3)));

    let smt = Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles/smt-line.toml")).unwrap();
    let mut image = LineImage::new(&smt, 1).unwrap();
    let p = image.station("PNP").unwrap();
    image.stations[p].plc.feeder_reels[2] = "R-QFN-PMIC-00007".into();
    image.render(p);
    let feeder = image.stations[p].profile.feeders[2].clone();
    let unit = image.stations[p].profile.unit_id.unwrap();
    let (addr, _image) = start(image).await;
    let mut ctx = tcp::connect_slave(addr, Slave(unit)).await.unwrap();
    assert_eq!(feeder.ref_designators, "U2");
    assert_eq!(read(&mut ctx, &feeder.reel).await, TagValue::Text("R-QFN-PMIC-00007".into()));
}
