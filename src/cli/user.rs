//! `mes user add`: creates a login (or resets its password and role). The password comes from
//! an environment variable or standard input, never from the command line (shell history, ps).

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use mes::config::Config;
use mes::domain::user::Role;

/// `mes user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or give an existing one a new password and role.
    Add(AddArgs),
}

/// Options of `mes user add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Login name.
    username: String,
    /// What the user may do.
    #[arg(long, value_parser = ["supervisor", "quality", "auditor", "admin"])]
    role: String,
    /// Read the password from this environment variable instead of the first line of stdin.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
}

pub async fn run(config: &Config, command: &UserCommand) -> anyhow::Result<ExitCode> {
    let UserCommand::Add(args) = command;
    let role = Role::parse(&args.role).context("--role")?;
    let password = match &args.password_env {
        Some(var) => std::env::var(var).with_context(|| format!("--password-env: {var} is not set"))?,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    anyhow::ensure!(password.chars().count() >= 8, "a password needs at least 8 characters");
    anyhow::ensure!(!args.username.trim().is_empty() && args.username.len() <= 64, "a user name needs 1–64 characters");
    let store = super::open_store(config).await?;
    add(&store, &args.username, &password, role).await?;
    super::emit(&format!("user {} ({}) saved\n", args.username, role.as_str()))?;
    Ok(ExitCode::SUCCESS)
}

/// Hashes the password and saves the user.
pub async fn add(store: &mes::store::Store, username: &str, password: &str, role: Role) -> anyhow::Result<()> {
    let owned = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || mes::web::auth::hash_password(&owned))
        .await?
        .map_err(anyhow::Error::msg)?;
    store.upsert_user(username, &hash, role, Utc::now()).await?;
    Ok(())
}
