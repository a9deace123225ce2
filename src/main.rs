//! `mes`: the manufacturing execution system's one binary. Parses the command line, starts
//! logging and dispatches to a subcommand; with no subcommand it runs the demo.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    init_logging(&args);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to the terminal at the chosen verbosity; the demo at the default verbosity keeps the
/// terminal for its summary and warnings, and writes its details (every validation answered,
/// every connect) to a file in the data folder, named on the terminal.
fn init_logging(args: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let file = args.demo_log_file().and_then(|path| {
        let opened = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&path));
        match opened {
            Ok(file) => Some((path, file)),
            Err(e) => {
                eprintln!("warning: cannot write the demo's log {}: {e}; details come here", path.display());
                None
            }
        }
    });
    let Some((path, file)) = file else {
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(args.log_level())))
            .with_writer(std::io::stderr)
            .init();
        return;
    };
    let terminal = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(EnvFilter::new("warn"));
    let details = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .with_filter(EnvFilter::new(args.log_level()));
    tracing_subscriber::registry().with(terminal).with(details).init();
    eprintln!("details are logged to {} (-v shows them here)", path.display());
}
