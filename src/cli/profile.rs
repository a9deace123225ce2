//! `mes profile check FILE...`: validates PLC profiles without connecting to anything. Every
//! problem is printed as `file:line:column: field: message`; the exit code is 1 if any file is
//! refused.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use plc_contract::profile::{Endpoint, Profile};

/// What `mes profile` does.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Validate profiles; errors name file, line and field.
    Check(CheckArgs),
}

/// Options of `mes profile check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Profile files (e.g. plc-profiles/*.toml).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(command: ProfileCommand) -> anyhow::Result<ExitCode> {
    let ProfileCommand::Check(args) = command;
    let mut out = String::new();
    let mut refused = 0;
    for file in &args.files {
        match Profile::load(file) {
            Ok(p) => {
                let endpoint = match &p.endpoint {
                    Endpoint::ModbusTcp { host, port, .. } => format!("modbus_tcp {host}:{port}"),
                    Endpoint::OpcUa { url, .. } => format!("opcua {url}"),
                };
                out.push_str(&format!(
                    "ok  {}: line {} ({}), {endpoint}, {} stations, {} tags\n",
                    file.display(),
                    p.line,
                    p.kind,
                    p.stations.len(),
                    p.tag_count()
                ));
            }
            Err(e) => {
                refused += 1;
                eprintln!("{e}");
            }
        }
    }
    super::emit(&out)?;
    if refused > 0 {
        eprintln!("{refused} of {} profiles refused", args.files.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
