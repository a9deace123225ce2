//! `mes migrate`: applies pending migrations and says what the store holds; on PostgreSQL,
//! `--service-role` then makes (or refreshes) the least-privileged login the service runs as.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use mes::config::Config;

/// Options of `mes migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// PostgreSQL: after migrating (as the database's owner), make ROLE the service's login:
    /// it reads every table and inserts rows, changes only unit status, holds, closing state
    /// intervals, station master data, users and sessions, and cannot alter tables, disable
    /// triggers, create anything or replicate. Run it again after every upgrade.
    #[arg(long, value_name = "ROLE")]
    service_role: Option<String>,
    /// The environment variable holding the service role's password (none: the server
    /// authenticates it by other means, e.g. peer or certificate).
    #[arg(long, value_name = "VAR", requires = "service_role")]
    service_password_env: Option<String>,
}

pub async fn run(config: &Config, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let url = config.effective_database_url();
    let store = super::open_store_unmigrated(config).await?;
    let applied = store.migrate_up().await?;
    let mut out = format!("store {} is up to date ({applied} migrations applied now)\n", mes::store::redact(&url));
    for (table, rows) in store.row_counts().await? {
        out.push_str(&format!("  {table:<30} {rows:>12} rows\n"));
    }
    if let Some(role) = &args.service_role {
        anyhow::ensure!(
            store.backend() == mes::store::Backend::Postgres,
            "--service-role: roles are PostgreSQL's; a SQLite store is protected by its file's permissions"
        );
        let password = match &args.service_password_env {
            Some(var) => {
                Some(std::env::var(var).with_context(|| format!("--service-password-env: ${var} is not set"))?)
            }
            None => None,
        };
        mes::store::grant_service_role(&url, role, password.as_deref()).await?;
        out.push_str(&format!(
            "service role {role}: may log in, read, insert; may not alter tables, disable triggers or replicate\n"
        ));
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
