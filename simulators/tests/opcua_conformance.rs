//! The simulated tablet line over real OPC UA, read by an async-opcua client as the bundled
//! profile says: one object per station, typed variables at the profile's node ids, the
//! sequence handshake through a writable acknowledgement or the `Acknowledge` method, security
//! None and SignAndEncrypt (Basic256Sha256) with user login, and a wrong password refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mes_simulators::image::LineImage;
use mes_simulators::opcua::{NAMESPACE_URI, OpcUaLogin, serve};
use mes_simulators::plc::SimRecord;
use opcua::client::{ClientBuilder, IdentityToken, Session};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    AttributeId, DataValue, MessageSecurityMode, NodeId, NumericRange, ReadValueId, StatusCode, TimestampsToReturn,
    UserTokenPolicy, UserTokenType, Variant, WriteValue,
};
use plc_contract::profile::{Address, Profile, Role};

fn profile() -> Profile {
    Profile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles/tablet-line.toml")).unwrap()
}

fn record(serial: &str) -> SimRecord {
    SimRecord {
        seq: 0,
        epoch: 0,
        serial: serial.into(),
        pass: true,
        defect: None,
        cycle_time_ms: 45_000,
        program: "TABLET-T1".into(),
        repair_action: None,
        measurements: vec![],
        consumed: vec!["PCB-0000001".into()],
        suppliers: vec![],
        reels: vec![],
        clock: None,
    }
}

async fn start(pki: &Path) -> (SocketAddr, Arc<Mutex<LineImage>>, OpcUaLogin) {
    let profile = profile();
    let image = Arc::new(Mutex::new(LineImage::new(&profile, 42).unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let login = OpcUaLogin { pki_dir: pki.join("server"), username: "mes".into(), password: "s3cret".into() };
    serve(listener, &profile, image.clone(), &login).await.unwrap();
    (addr, image, login)
}

/// A session, or the reason there is none.
async fn connect(addr: SocketAddr, pki: &Path, secure: bool, password: &str) -> Option<Arc<Session>> {
    let mut client = ClientBuilder::new()
        .application_name("conformance test")
        .application_uri("urn:mes:test")
        .pki_dir(pki.join("client"))
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .client()
        .unwrap();
    let (policy, mode) = if secure {
        (SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt)
    } else {
        (SecurityPolicy::None, MessageSecurityMode::None)
    };
    let token = UserTokenPolicy { token_type: UserTokenType::UserName, ..UserTokenPolicy::anonymous() };
    let url = format!("opc.tcp://{addr}/mes/tablet");
    let (session, event_loop) = client
        .connect_to_matching_endpoint(
            (url.as_str(), policy.to_str(), mode, token),
            IdentityToken::new_user_name("mes", password),
        )
        .await
        .unwrap();
    let handle = event_loop.spawn();
    // A refused login ends the session attempt; a good one connects well within this.
    let up = tokio::time::timeout(Duration::from_secs(8), session.wait_for_connection()).await.unwrap_or(false);
    if !up {
        handle.abort();
        return None;
    }
    Some(session)
}

async fn node(session: &Session, profile: &Profile, station: &str, role: Role) -> NodeId {
    let s = profile.stations.iter().find(|s| s.code == station).unwrap();
    let Address::OpcUa(address) = &s.tags[&role].address else { panic!("OPC UA tag") };
    let ns = session.get_namespace_index(NAMESPACE_URI).await.unwrap();
    plc_contract::opcua::node_id(address, |uri| (uri == NAMESPACE_URI).then_some(ns)).unwrap()
}

async fn read(session: &Session, id: &NodeId) -> Variant {
    let values = session.read(&[ReadValueId::from(id)], TimestampsToReturn::Neither, 0.0).await.unwrap();
    values[0].value.clone().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_and_the_handshake_work_over_sign_and_encrypt_with_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, image, login) = start(dir.path()).await;
    let session = connect(addr, dir.path(), true, &login.password).await.expect("secure session with login");
    let profile = profile();
    let seq = node(&session, &profile, "LOAD", Role::RecordSeq).await;
    let serial = node(&session, &profile, "LOAD", Role::Serial).await;
    let ack = node(&session, &profile, "LOAD", Role::RecordAck).await;
    let epoch = node(&session, &profile, "LOAD", Role::Epoch).await;
    assert_eq!(read(&session, &seq).await, Variant::UInt32(0), "nothing offered yet");
    assert_eq!(read(&session, &epoch).await, Variant::UInt32(42));

    {
        let mut image = image.lock().unwrap();
        let i = image.station("LOAD").unwrap();
        image.stations[i].plc.offer(record("TB1-0000001")).unwrap();
        image.stations[i].plc.offer(record("TB1-0000002")).unwrap();
    }
    assert_eq!(read(&session, &seq).await, Variant::UInt32(1));
    assert_eq!(read(&session, &serial).await, Variant::String("TB1-0000001".into()));

    // A wrong acknowledgement releases nothing; the right one releases the record.
    let write = |value: u32| WriteValue {
        node_id: ack.clone(),
        attribute_id: AttributeId::Value as u32,
        index_range: NumericRange::None,
        value: DataValue::value_only(Variant::UInt32(value)),
    };
    assert_eq!(session.write(&[write(7)]).await.unwrap(), vec![StatusCode::Good]);
    assert_eq!(read(&session, &seq).await, Variant::UInt32(1));
    session.write(&[write(1)]).await.unwrap();
    assert_eq!(read(&session, &ack).await, Variant::UInt32(1), "the acknowledgement reads back");
    assert_eq!(read(&session, &serial).await, Variant::String("TB1-0000002".into()));

    // The method form: Acknowledge(2) on the station object.
    let ns = session.get_namespace_index(NAMESPACE_URI).await.unwrap();
    let object = NodeId::new(ns, "tablet-1.LOAD");
    let method = NodeId::new(ns, "tablet-1.LOAD.Acknowledge");
    let result = session.call_one((object, method, Some(vec![Variant::UInt32(2)]))).await.unwrap();
    assert_eq!(result.status_code, StatusCode::Good);
    assert_eq!(result.output_arguments, Some(vec![Variant::Boolean(true)]));
    assert_eq!(read(&session, &seq).await, Variant::UInt32(2), "shows the last acknowledged number");
    assert_eq!(image.lock().unwrap().stations[0].plc.pending(), 0);
    let _ = session.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_none_works_and_a_wrong_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _image, login) = start(dir.path()).await;
    let session = connect(addr, dir.path(), false, &login.password).await.expect("plain session with login");
    let state = node(&session, &profile(), "FT", Role::State).await;
    assert_eq!(read(&session, &state).await, Variant::UInt16(1), "idle");
    let _ = session.disconnect().await;
    assert!(connect(addr, dir.path(), true, "wrong").await.is_none(), "a wrong password gets no session");
}
