//! Floe's interactive shell and script runner: a face over the engine that reads SQL and
//! meta-commands, sends each statement down the engine's statement path and renders what
//! comes back.

mod command;
mod completion;
mod format;
mod helper;
mod input;
mod progress;
mod session;
mod settings;
mod table;

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;

use floe_engine::Engine;
use rustyline::config::Config;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Editor};
use tokio::runtime::Handle;

pub use format::Format;
use helper::ShellHelper;
use input::split_input;
use session::{Flow, Session};
pub use settings::{DEFAULT_MAX_ROWS, Expanded, Settings};

/// Entries kept in `~/.floe_history`; older ones are dropped.
const HISTORY_SIZE: usize = 2000;
const PROMPT: &str = "floe> ";
/// Shown while a statement waits for its terminating `;`.
const CONTINUATION_PROMPT: &str = "  ... ";

/// Runs every statement and meta-command of a script (`-c`, `-f` or piped input). Stops at
/// the first error unless `continue_on_error`; returns whether everything succeeded.
pub async fn run_script(engine: &Engine, text: &str, settings: Settings) -> bool {
    let mut session = Session::new(engine, settings, false);
    session.run_script(text).await.0
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".floe_history"))
}

/// The interactive loop: reads lines until a statement is complete, runs it, repeats.
/// Ctrl-C clears the input (or cancels a running statement); Ctrl-D or `\q` exits.
/// Runs outside the async runtime and enters it through `runtime` for each statement, so
/// that completion can also query the catalog while a line is being edited.
pub fn run_interactive(
    engine: &Engine,
    settings: Settings,
    runtime: &Handle,
) -> rustyline::Result<()> {
    let config = Config::builder()
        .max_history_size(HISTORY_SIZE)?
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .completion_type(CompletionType::List)
        .build();
    let pending = Rc::new(RefCell::new(String::new()));
    let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ShellHelper::new(
        engine,
        runtime.clone(),
        pending.clone(),
    )));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let mut session = Session::new(engine, settings, true);
    session.history = editor.history().iter().cloned().collect();
    if std::io::stdout().is_terminal() {
        println!(
            "Floe {} on warehouse {}. Statements end with ';'. \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION"),
            engine.warehouse().root.display()
        );
    }
    loop {
        let prompt = if pending.borrow().is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let (pieces, rest) = {
                    let mut text = pending.borrow_mut();
                    text.push_str(&line);
                    text.push('\n');
                    split_input(&text, false)
                };
                *pending.borrow_mut() = if rest.trim().is_empty() {
                    String::new()
                } else {
                    rest
                };
                for piece in pieces {
                    let entry = match &piece {
                        input::Piece::Sql(sql) | input::Piece::Meta(sql) => sql.clone(),
                    };
                    if editor.add_history_entry(entry.as_str())? {
                        session.history.push(entry);
                        if let Some(path) = &history {
                            let _ = editor.append_history(path);
                        }
                    }
                    match runtime.block_on(session.run_piece(&piece)) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Quit) => return Ok(()),
                        Err(err) => session.report(&err, &piece),
                    }
                }
            }
            Err(ReadlineError::Interrupted) => pending.borrow_mut().clear(),
            Err(ReadlineError::Eof) => {
                println!();
                break;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
