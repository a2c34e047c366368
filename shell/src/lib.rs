//! Floe's interactive shell and script runner: a face over the engine that reads SQL,
//! sends each statement down the engine's statement path and renders what comes back.

mod format;
mod input;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use floe_engine::{Engine, FloeError, Output};
use futures::StreamExt;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

pub use format::Format;

#[derive(Debug, Clone)]
pub struct ShellOptions {
    pub format: Format,
    /// Print only results: no command tags.
    pub quiet: bool,
    /// In scripts, report a failing statement and go on with the next.
    pub continue_on_error: bool,
}

/// Runs every statement of a script (`-c`, `-f` or piped input). Stops at the first error
/// unless `continue_on_error`; returns whether every statement succeeded.
pub async fn run_script(engine: &Engine, text: &str, options: &ShellOptions) -> bool {
    let (mut statements, rest) = input::split_statements(text);
    statements.push(rest);
    let mut ok = true;
    let stdout = std::io::stdout();
    for statement in statements {
        let mut out = stdout.lock();
        if let Err(err) = run_text(engine, &statement, options, &mut out).await {
            report(&err);
            ok = false;
            if !options.continue_on_error {
                break;
            }
        }
    }
    ok
}

/// Runs the statements in `text` and writes their results to `out`.
async fn run_text(
    engine: &Engine,
    text: &str,
    options: &ShellOptions,
    out: &mut dyn Write,
) -> Result<(), FloeError> {
    for statement in engine.parse(text)? {
        let output = engine.execute(statement).await?;
        render(output, options, out).await?;
    }
    Ok(())
}

async fn render(
    output: Output,
    options: &ShellOptions,
    out: &mut dyn Write,
) -> Result<(), FloeError> {
    match output {
        Output::Rows(mut stream) => {
            let schema = stream.schema();
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                batches.push(batch?);
            }
            options.format.write_rows(out, &schema, &batches)?;
        }
        Output::Command { tag, rows } => {
            if !options.quiet {
                options.format.write_command(out, tag, rows)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn report(err: &FloeError) {
    eprintln!("ERROR: {} (SQLSTATE {})", err.message, err.sqlstate);
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".floe_history"))
}

/// The interactive loop: reads lines until a statement is complete, runs it, repeats.
/// Ctrl-C clears the line being typed; Ctrl-D exits.
pub async fn run_interactive(engine: &Engine, options: &ShellOptions) -> rustyline::Result<()> {
    let mut editor = DefaultEditor::new()?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    if std::io::stdout().is_terminal() {
        println!(
            "Floe {} on warehouse {}. Type SQL ending with ';', or \\q to quit.",
            env!("CARGO_PKG_VERSION"),
            engine.warehouse().root.display()
        );
    }
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() {
            "floe> "
        } else {
            "  ... "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if pending.is_empty() && line.trim() == "\\q" {
                    break;
                }
                pending.push_str(&line);
                pending.push('\n');
                let (statements, rest) = input::split_statements(&pending);
                for statement in statements {
                    let _ = editor.add_history_entry(statement.as_str());
                    let mut out = std::io::stdout().lock();
                    if let Err(err) = run_text(engine, &statement, options, &mut out).await {
                        report(&err);
                    }
                }
                pending = if rest.trim().is_empty() {
                    String::new()
                } else {
                    rest
                };
            }
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(err),
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}
