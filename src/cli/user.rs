//! `mes user add|disable|enable|logout|list`: logins for the web front and the API. `add`
//! creates a login or resets its password and role; the password comes from an environment
//! variable or standard input, never from the command line (shell history, ps). A new
//! password, a disabled user and `logout` end every session the user has, in every web
//! process sharing the store.

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
    /// Create a user, or give an existing one a new password and role (ending its sessions).
    Add(AddArgs),
    /// Disable a user: no new logins, and every session it has ends now.
    Disable(NameArgs),
    /// Enable a disabled user again.
    Enable(NameArgs),
    /// End every session of a user (log out everywhere).
    Logout(NameArgs),
    /// List users with their roles.
    List,
}

/// A user name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// Login name.
    username: String,
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
    let args = match command {
        UserCommand::Add(args) => args,
        UserCommand::Disable(who) | UserCommand::Enable(who) => {
            let disable = matches!(command, UserCommand::Disable(_));
            let store = super::open_store(config).await?;
            anyhow::ensure!(
                store.set_user_disabled(&who.username, disable, Utc::now()).await?,
                "no user {:?}",
                who.username
            );
            let done = if disable { "disabled; its sessions ended" } else { "enabled" };
            super::emit(&format!("user {} {done}\n", who.username))?;
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::Logout(who) => {
            let store = super::open_store(config).await?;
            let n = store.revoke_user_sessions(&who.username, "logged out by an administrator", Utc::now()).await?;
            super::emit(&format!("{n} session(s) of {} ended\n", who.username))?;
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::List => {
            let store = super::open_store(config).await?;
            let mut out = format!("{:<24} {:<11} state\n", "user", "role");
            for u in store.users().await? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                out.push_str(&format!("{:<24} {:<11} {state}\n", u.username, u.role.as_str()));
            }
            super::emit(&out)?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let role = Role::parse(&args.role).context("--role")?;
    let password = match &args.password_env {
        Some(var) => std::env::var(var).with_context(|| format!("--password-env: {var} is not set"))?,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let min = mes::web::api::MIN_PASSWORD_CHARS;
    anyhow::ensure!(password.chars().count() >= min, "a password needs at least {min} characters");
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
