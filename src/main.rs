//! The `floe` binary: the shell by default, `floe serve` for the Postgres-wire server.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use floe_engine::Engine;
use floe_engine::warehouse::DEFAULT_WAREHOUSE_DIR;
use floe_server::ServerConfig;
use floe_shell::{DEFAULT_MAX_ROWS, Format, Settings};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option number for the delay before freed memory goes back to the OS
/// (`mi_option_purge_delay` in mimalloc.h; the Rust bindings export no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Ten seconds instead of mimalloc's one: a write frees and reallocates its Parquet
/// encoders' buffers every few seconds, and with the shorter delay the kernel cleared the
/// same pages again each time (10% of a load's CPU; BENCHMARKS.md, Ingest). Memory left
/// unused that long still goes back to the OS. `MIMALLOC_PURGE_DELAY` in the environment
/// overrides this.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

#[derive(Parser)]
#[command(name = "floe", version, about = "Floe: SQL over Apache Iceberg tables")]
struct Cli {
    /// Warehouse directory (catalog.db and table files); created if missing.
    #[arg(long, global = true, env = "FLOE_WAREHOUSE", default_value = DEFAULT_WAREHOUSE_DIR)]
    warehouse: PathBuf,
    /// Run these statements and exit.
    #[arg(short = 'c', long = "command", conflicts_with = "file")]
    command: Option<String>,
    /// Run the statements in this file and exit.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Print results only, no command tags.
    #[arg(short, long)]
    quiet: bool,
    /// In -c/-f/piped scripts, go on after a failing statement (exit code is still 1).
    #[arg(long)]
    continue_on_error: bool,
    /// Most rows the table format shows before it stops reading a result (0 = all).
    #[arg(long, default_value_t = DEFAULT_MAX_ROWS)]
    max_rows: usize,
    #[command(subcommand)]
    subcommand: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the warehouse over the PostgreSQL wire protocol.
    Serve(ServeArgs),
    /// Print the stored secret for a password (read from standard input), to put in
    /// floe.toml's [users] or pass as --user name:SECRET.
    HashPassword {
        /// MD5 secret (for old clients) instead of SCRAM-SHA-256; MD5 secrets include
        /// the user name.
        #[arg(long, value_name = "USER")]
        md5_for_user: Option<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:6543, or floe.toml's].
    #[arg(long)]
    listen: Option<String>,
    /// Server configuration file (floe.toml); flags override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A user allowed to log in, as NAME:SECRET (from `floe hash-password`); repeatable.
    #[arg(long = "user", value_name = "NAME:SECRET")]
    users: Vec<String>,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Without users, accept clients that are not on loopback too.
    #[arg(long)]
    insecure: bool,
    /// Most memory one statement may use for sorts, joins and aggregations (e.g. 2GB).
    #[arg(long, value_name = "SIZE", value_parser = floe_server::parse_size)]
    memory_limit: Option<usize>,
}

impl ServeArgs {
    fn config(&self) -> Result<ServerConfig, String> {
        let mut config = match &self.config {
            Some(path) => ServerConfig::from_file(path)?,
            None => ServerConfig::default(),
        };
        if let Some(listen) = &self.listen {
            config.listen = listen.clone();
        }
        for user in &self.users {
            config.add_user(user)?;
        }
        if self.tls_cert.is_some() {
            config.tls_cert = self.tls_cert.clone();
            config.tls_key = self.tls_key.clone();
        }
        config.insecure |= self.insecure;
        if self.memory_limit.is_some() {
            config.memory_limit = self.memory_limit;
        }
        Ok(config)
    }
}

/// Reads a password from standard input (its first line) and prints its secret.
fn hash_password(md5_for_user: Option<String>) -> ExitCode {
    if std::io::stdin().is_terminal() {
        eprintln!("Password (shown as typed; pipe it in to keep it off the screen):");
    }
    let mut line = String::new();
    if let Err(err) = std::io::stdin().read_line(&mut line) {
        eprintln!("floe: cannot read the password: {err}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("floe: empty password");
        return ExitCode::FAILURE;
    }
    let secret = match md5_for_user {
        Some(user) => floe_server::md5_secret(&user, password),
        None => floe_server::Secret::Scram(floe_server::ScramSecret::from_password(password)),
    };
    println!("{secret}");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: no other thread exists yet, and mimalloc's option setters are not thread
        // safe. (mimalloc has read its options already, so `mi_option_set_default` would be
        // ignored.)
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    let cli = Cli::parse();
    let serve_config = match &cli.subcommand {
        Some(Command::HashPassword { md5_for_user }) => {
            return hash_password(md5_for_user.clone());
        }
        Some(Command::Serve(args)) => match args.config() {
            Ok(config) => Some(config),
            Err(err) => {
                eprintln!("floe serve: {err}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("floe: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let engine = match runtime.block_on(Engine::open(&cli.warehouse)) {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!(
                "floe: cannot open warehouse {}: {}",
                cli.warehouse.display(),
                err
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(config) = serve_config {
        return match runtime.block_on(floe_server::serve(engine, &config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("floe serve: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = Settings {
        format: cli.format,
        quiet: cli.quiet,
        continue_on_error: cli.continue_on_error,
        max_rows: cli.max_rows,
        ..Settings::default()
    };
    let script = if let Some(command) = cli.command {
        Some(command)
    } else if let Some(path) = cli.file {
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(err) => {
                eprintln!("floe: cannot read {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
    } else if !std::io::stdin().is_terminal() {
        let mut text = String::new();
        if let Err(err) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("floe: cannot read standard input: {err}");
            return ExitCode::FAILURE;
        }
        Some(text)
    } else {
        None
    };
    let ok = match script {
        Some(text) => runtime.block_on(floe_shell::run_script(&engine, &text, settings)),
        // The shell enters the runtime per statement, so it runs outside `block_on`.
        None => match floe_shell::run_interactive(&engine, settings, runtime.handle()) {
            Ok(()) => true,
            Err(err) => {
                eprintln!("floe: {err}");
                false
            }
        },
    };
    // Background compactions the statements started finish before the process ends,
    // rather than leaving half-written files behind.
    runtime.block_on(engine.wait_for_auto_compaction());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
