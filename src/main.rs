//! The `floe` binary: the shell by default, `floe serve` for the Postgres-wire server.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use floe_engine::Engine;
use floe_engine::warehouse::DEFAULT_WAREHOUSE_DIR;
use floe_shell::{DEFAULT_MAX_ROWS, Format, Settings};

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
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = floe_server::DEFAULT_LISTEN)]
        listen: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    if let Some(Command::Serve { listen }) = cli.subcommand {
        return match runtime.block_on(floe_server::serve(engine, &listen)) {
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
