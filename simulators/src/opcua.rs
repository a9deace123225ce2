//! The OPC UA front of a simulated line (async-opcua server): one object per station under a
//! line folder, one variable per profile tag, read on demand from the station's PLC (so a
//! subscription samples live values), writable acknowledgement and validation-answer variables
//! feeding the PLC, and an `Acknowledge(seq)` method per station. Endpoints with security None
//! and SignAndEncrypt (Basic256Sha256), both with user name login; certificates are created in
//! the PKI folder on first start.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use opcua::nodes::{AccessLevel, MethodBuilder, ObjectBuilder};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{SimpleNodeManager, simple_node_manager};
use opcua::server::{ServerBuilder, ServerEndpoint, ServerHandle, ServerUserToken};
use opcua::types::{Argument, DataTypeId, DataValue, NodeId, StatusCode, Variant};
use plc_contract::codec::TagValue;
use plc_contract::opcua::{from_variant, node_id, split_node_id, to_variant};
use plc_contract::profile::{Address, Profile, Tag};
use tokio::net::TcpListener;

use crate::image::{LineImage, lock};

/// The namespace the bundled profiles' node ids live in.
pub const NAMESPACE_URI: &str = "urn:mes:simulator";

/// How the OPC UA server lets clients in.
#[derive(Debug, Clone)]
pub struct OpcUaLogin {
    /// Folder of the server's certificate, key and trusted client certificates.
    pub pki_dir: PathBuf,
    /// User name clients log in with.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl OpcUaLogin {
    /// The bundled lines' login (user `mes`, password from `MES_OPCUA_PASSWORD` or
    /// [`DEMO_PASSWORD`]) with certificates in `pki_dir`.
    pub fn bundled(pki_dir: PathBuf) -> Self {
        let password = std::env::var("MES_OPCUA_PASSWORD").ok().filter(|p| !p.is_empty());
        Self { pki_dir, username: "mes".into(), password: password.unwrap_or_else(|| DEMO_PASSWORD.into()) }
    }
}

/// Password of the simulators' `mes` user when `MES_OPCUA_PASSWORD` is not set: the demo runs
/// without setup; a real plant's servers have their own.
pub const DEMO_PASSWORD: &str = "mes-demo";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpcUaError {
    /// The profile's endpoint is not OPC UA or its URL has no path.
    #[error("line {line}: {problem}")]
    Profile {
        /// Line code.
        line: String,
        /// What is wrong.
        problem: String,
    },
    /// The server refused its configuration.
    #[error("line {line}: OPC UA server: {problem}")]
    Server {
        /// Line code.
        line: String,
        /// What it said.
        problem: String,
    },
}

/// Serves `image` (an OPC UA line) on `listener` and returns the server's handle (cancel it to
/// stop the server). The endpoint URL advertised is `opc.tcp://127.0.0.1:PORT/PATH`.
pub async fn serve(
    listener: TcpListener,
    profile: &Profile,
    image: Arc<Mutex<LineImage>>,
    login: &OpcUaLogin,
) -> Result<ServerHandle, OpcUaError> {
    let fail = |problem: String| OpcUaError::Server { line: profile.line.clone(), problem };
    let path = profile
        .endpoint
        .opcua_path()
        .map(str::to_owned)
        .ok_or_else(|| OpcUaError::Profile { line: profile.line.clone(), problem: "not an OPC UA line".into() })?;
    let path = if path.is_empty() { "/".to_owned() } else { path };
    let port = listener.local_addr().map_err(|e| fail(e.to_string()))?.port();
    let users = vec!["mes".to_owned()];
    let mut builder = ServerBuilder::new();
    // Load mode puts tens of thousands of nodes under watch: no cap on monitored items.
    builder.limits_mut().subscriptions.max_monitored_items_per_sub = 0;
    // A PLC samples faster than the library's 100 ms default; big publish responses fit.
    builder.limits_mut().subscriptions.min_sampling_interval_ms = 20.0;
    builder.limits_mut().subscriptions.min_publishing_interval_ms = 20.0;
    let (server, handle) = builder
        .subscription_poll_interval_ms(20)
        .max_message_size(64 << 20)
        .max_chunk_count(4096)
        .max_array_length(100_000)
        .application_name(format!("MES simulator {}", profile.line))
        .application_uri(format!("urn:mes:simulator:{}", profile.line))
        .product_uri("urn:mes:simulator")
        .host("127.0.0.1")
        .port(port)
        .pki_dir(login.pki_dir.clone())
        .create_sample_keypair(true)
        .trust_client_certs(true)
        .add_user_token("mes", ServerUserToken::user_pass(login.username.as_str(), login.password.as_str()))
        .add_endpoint("none", ServerEndpoint::new_none(path.as_str(), &users))
        .add_endpoint("basic256sha256", ServerEndpoint::new_basic256sha256_sign_encrypt(path.as_str(), &users))
        .default_endpoint("basic256sha256")
        .discovery_urls(vec![format!("opc.tcp://127.0.0.1:{port}{path}")])
        .with_node_manager(simple_node_manager(
            NamespaceMetadata { namespace_uri: NAMESPACE_URI.to_owned(), ..Default::default() },
            "mes-simulator",
        ))
        .build()
        .map_err(fail)?;
    let manager =
        handle.node_managers().get_of_type::<SimpleNodeManager>().ok_or_else(|| fail("no node manager".into()))?;
    let ns = handle.get_namespace_index(NAMESPACE_URI).ok_or_else(|| fail("namespace not registered".into()))?;
    build_address_space(profile, ns, &manager, &image).map_err(fail)?;
    let line = profile.line.clone();
    tokio::spawn(async move {
        if let Err(e) = server.run_with(listener).await {
            tracing::warn!(line = %line, error = %e, "OPC UA simulator stopped");
        }
    });
    Ok(handle)
}

/// Objects, variables and callbacks of every station.
fn build_address_space(
    profile: &Profile,
    ns: u16,
    manager: &Arc<SimpleNodeManager>,
    image: &Arc<Mutex<LineImage>>,
) -> Result<(), String> {
    let index_of = |uri: &str| (uri == NAMESPACE_URI).then_some(ns);
    let address_space = manager.address_space();
    let line_folder = NodeId::new(ns, profile.line.as_str());
    let mut space = address_space.write();
    space.add_folder(&line_folder, profile.line.as_str(), profile.name.as_str(), &NodeId::objects_folder_id());
    for (i, station) in profile.stations.iter().enumerate() {
        let object = NodeId::new(ns, format!("{}.{}", profile.line, station.code));
        ObjectBuilder::new(&object, station.code.as_str(), station.name.as_str())
            .organized_by(line_folder.clone())
            .insert(&mut *space);
        let written: Vec<&Tag> = station
            .tags
            .iter()
            .filter(|(r, _)| r.written_by_mes())
            .map(|(_, t)| t)
            .chain(station.validation.iter().flat_map(|v| [&v.answer_seq, &v.verdict, &v.reason]))
            .collect();
        let mut variables = Vec::new();
        for tag in station.all_tags() {
            let Address::OpcUa(address) = &tag.address else { return Err(format!("{}: not a node id", station.code)) };
            let id = node_id(address, index_of).map_err(|e| e.to_string())?;
            let (_, identifier) = split_node_id(address).map_err(|e| e.to_string())?;
            let name = identifier[2..].rsplit('.').next().unwrap_or(identifier).to_owned();
            let initial = to_variant(&zero(tag), tag.data_type).map_err(|e| e.to_string())?;
            let mut variable = opcua::nodes::Variable::new(&id, name.as_str(), name.as_str(), initial);
            let writable = written.contains(&tag);
            let access = if writable {
                AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE
            } else {
                AccessLevel::CURRENT_READ
            };
            variable.set_access_level(access);
            variable.set_user_access_level(access);
            variables.push(variable);

            let tag = tag.clone();
            if writable {
                let image = image.clone();
                let tag = tag.clone();
                manager.inner().add_write_callback(id.clone(), move |value: DataValue, _range| {
                    let Some(variant) = value.value else { return StatusCode::BadTypeMismatch };
                    let value = match from_variant(&variant, tag.data_type) {
                        Ok(TagValue::Int(v)) => v,
                        Ok(TagValue::Bool(b)) => i64::from(b),
                        _ => return StatusCode::BadTypeMismatch,
                    };
                    lock(&image).stations[i].mes_wrote(&tag, value);
                    StatusCode::Good
                });
            }
            // Every variable reads live: what the PLC shows, else what the MES last wrote.
            let image = image.clone();
            manager.inner().add_read_callback(id.clone(), move |_range, _timestamps, _age| {
                let image = lock(&image);
                let station = &image.stations[i];
                let shown = station.values().into_iter().find(|(t, _)| **t == tag).map(|(_, v)| v);
                let value = shown
                    .or_else(|| station.written.get(&tag.address).map(|v| TagValue::Int(*v)))
                    .unwrap_or_else(|| zero(&tag));
                let variant = to_variant(&value, tag.data_type).map_err(|_| StatusCode::BadInternalError)?;
                Ok(DataValue::new_now(variant))
            });
        }
        space.add_variables(variables, &object);
        let object_name = format!("{}.{}", profile.line, station.code);
        add_acknowledge_method(&mut space, manager, ns, (&object, &object_name), i, image);
    }
    let load = lock(image).load_tags;
    if load > 0 {
        let folder = NodeId::new(ns, format!("{}.Load", profile.line));
        space.add_folder(&folder, "Load", "Load", &line_folder);
        let mut variables = Vec::with_capacity(load);
        for k in 0..load {
            let id = NodeId::new(ns, format!("{}.Load.Tag{k}", profile.line));
            variables.push(opcua::nodes::Variable::new(
                &id,
                format!("Tag{k}").as_str(),
                format!("Tag{k}").as_str(),
                0f32,
            ));
            let image = image.clone();
            manager.inner().add_read_callback(id, move |_range, _timestamps, _age| {
                Ok(DataValue::new_now(Variant::Float(lock(&image).load_value(k))))
            });
        }
        space.add_variables(variables, &folder);
    }
    Ok(())
}

/// `Acknowledge(seq: UInt32)` on a station object: the method form of writing `RecordAck`.
fn add_acknowledge_method(
    space: &mut opcua::server::address_space::AddressSpace,
    manager: &Arc<SimpleNodeManager>,
    ns: u16,
    (object, name): (&NodeId, &str),
    i: usize,
    image: &Arc<Mutex<LineImage>>,
) {
    let method = NodeId::new(ns, format!("{name}.Acknowledge"));
    let input = NodeId::new(ns, format!("{name}.Acknowledge.InputArguments"));
    MethodBuilder::new(&method, "Acknowledge", "Acknowledge")
        .component_of(object.clone())
        .executable(true)
        .user_executable(true)
        .input_args(
            space,
            &input,
            &[Argument {
                name: "Seq".into(),
                data_type: DataTypeId::UInt32.into(),
                value_rank: -1,
                array_dimensions: None,
                description: "sequence number of the committed record".into(),
            }],
        )
        .insert(space);
    let image = image.clone();
    manager.inner().add_method_callback(method, move |args: &[Variant]| {
        let Some(Variant::UInt32(seq)) = args.first() else { return Err(StatusCode::BadInvalidArgument) };
        let mut image = lock(&image);
        let released = image.stations[i].plc.acknowledge(*seq);
        Ok(vec![Variant::Boolean(released)])
    });
}

fn zero(tag: &Tag) -> TagValue {
    use plc_contract::codec::DataType;
    match tag.data_type {
        DataType::Bool => TagValue::Bool(false),
        DataType::F32 | DataType::F64 => TagValue::Float(0.0),
        DataType::String => TagValue::Text(String::new()),
        _ => TagValue::Int(0),
    }
}
