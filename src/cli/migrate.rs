//! `mes migrate`: applies pending migrations and says what the store holds.

use std::process::ExitCode;

use clap::Args;
use mes::config::Config;

/// Options of `mes migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {}

pub async fn run(config: &Config, _args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_store_unmigrated(config).await?;
    let applied = store.migrate_up().await?;
    let mut out = format!(
        "store {} is up to date ({applied} migrations applied now)\n",
        mes::store::redact(&config.effective_database_url())
    );
    for (table, rows) in store.row_counts().await? {
        out.push_str(&format!("  {table:<30} {rows:>12} rows\n"));
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
