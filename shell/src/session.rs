//! The one execution path: every source of input (the prompt, `-c`, `-f`, standard input,
//! `\i`) is split into statements and meta-commands and run here, so they cannot drift apart.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use floe_engine::error::Position;
use floe_engine::{Engine, FloeError, Output};

use crate::command::Command;
use crate::format::Destination;
use crate::input::{Piece, split_input};
use crate::progress::Progress;
use crate::settings::Settings;

/// SQLSTATE PostgreSQL reports for a statement cancelled by the user.
const QUERY_CANCELED: &str = "57014";
/// How deep `\i` may nest, so a file including itself stops with an error.
const MAX_INCLUDE_DEPTH: usize = 16;

/// What to do after a piece of input ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Where results go: standard output, or a file chosen with `\o`.
enum Sink {
    Stdout(BufWriter<std::io::Stdout>),
    File(BufWriter<File>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(out) => out,
            Sink::File(writer) => writer,
        }
    }
}

pub struct Session<'a> {
    pub engine: &'a Engine,
    pub settings: Settings,
    sink: Sink,
    /// Statements and commands entered at the prompt, oldest first (for `\history`).
    pub history: Vec<String>,
    /// At the prompt: Ctrl-C cancels a statement, and a spinner shows on long ones.
    interactive: bool,
    include_depth: usize,
}

impl<'a> Session<'a> {
    pub fn new(engine: &'a Engine, settings: Settings, interactive: bool) -> Self {
        Self {
            engine,
            settings,
            sink: Sink::Stdout(BufWriter::new(std::io::stdout())),
            history: Vec::new(),
            interactive,
            include_depth: 0,
        }
    }

    /// Runs a whole script: every statement and meta-command of `text`, including an
    /// unterminated last statement. Stops at the first error unless `continue_on_error`.
    /// Returns whether everything succeeded and whether the script asked to quit.
    pub async fn run_script(&mut self, text: &str) -> (bool, Flow) {
        let (mut pieces, rest) = split_input(text, true);
        if !rest.trim().is_empty() {
            pieces.push(Piece::Sql(rest));
        }
        let mut ok = true;
        for piece in pieces {
            match self.run_piece(&piece).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return (ok, Flow::Quit),
                Err(err) => {
                    self.report(&err, &piece);
                    ok = false;
                    if !self.settings.continue_on_error {
                        break;
                    }
                }
            }
        }
        (ok, Flow::Continue)
    }

    /// Runs one statement or meta-command.
    pub async fn run_piece(&mut self, piece: &Piece) -> Result<Flow, FloeError> {
        match piece {
            Piece::Sql(sql) => self.run_sql(sql).await.map(|()| Flow::Continue),
            Piece::Meta(text) => {
                let command = Command::parse(text).map_err(FloeError::syntax)?;
                let flow = Box::pin(command.execute(self)).await;
                self.flush()?;
                flow
            }
        }
    }

    /// Runs the statements of `path` as a script (`\i`).
    pub async fn include(&mut self, path: &Path) -> Result<Flow, FloeError> {
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(FloeError::invalid(format!(
                "\\i {}: files include each other more than {MAX_INCLUDE_DEPTH} deep",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|err| {
            FloeError::new(
                floe_engine::error::sqlstate::IO_ERROR,
                format!("{}: {err}", path.display()),
            )
        })?;
        self.include_depth += 1;
        let (ok, flow) = Box::pin(self.run_script(&text)).await;
        self.include_depth -= 1;
        if ok {
            Ok(flow)
        } else {
            // The failing statement has been reported already.
            Err(FloeError::invalid(format!(
                "{} stopped at an error",
                path.display()
            )))
        }
    }

    async fn run_sql(&mut self, sql: &str) -> Result<(), FloeError> {
        let started = Instant::now();
        let result = if self.interactive {
            tokio::select! {
                result = self.execute_sql(sql) => result,
                _ = tokio::signal::ctrl_c() => Err(FloeError::new(
                    QUERY_CANCELED,
                    "canceling statement due to user request",
                )),
            }
        } else {
            self.execute_sql(sql).await
        };
        let flushed = self.flush();
        if self.settings.timing {
            println!("Time: {}", format_duration(started.elapsed()));
        }
        result.and(flushed)
    }

    /// Parses `sql` and runs its statements down the engine's statement path.
    async fn execute_sql(&mut self, sql: &str) -> Result<(), FloeError> {
        for statement in self.engine.parse(sql)? {
            let mut progress = Progress::start(
                self.interactive && std::io::stderr().is_terminal(),
                self.engine.write_progress(),
            );
            let output = self.engine.execute(statement).await;
            let output = output.inspect_err(|_| progress.clear())?;
            self.print(output, &mut || progress.clear()).await?;
        }
        Ok(())
    }

    /// Prints a statement's output in the current format.
    pub async fn print(
        &mut self,
        output: Output,
        before_output: &mut dyn FnMut(),
    ) -> Result<(), FloeError> {
        let destination = self.destination();
        let format = self.settings.format;
        match output {
            Output::Rows(stream) => {
                let Self { sink, settings, .. } = self;
                format
                    .write_stream(stream, settings, destination, sink.writer(), before_output)
                    .await?;
            }
            Output::Command { tag, rows, written } => {
                before_output();
                if !self.settings.quiet {
                    format.write_command(self.out(), tag, rows)?;
                    if let Some(written) = written {
                        format.write_note(self.out(), &written.describe())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Where results are written now.
    pub fn out(&mut self) -> &mut dyn Write {
        self.sink.writer()
    }

    pub fn flush(&mut self) -> Result<(), FloeError> {
        Ok(self.out().flush()?)
    }

    /// Sends results to `path` (created or truncated), or back to standard output.
    pub fn set_output(&mut self, path: Option<PathBuf>) -> Result<(), FloeError> {
        self.flush()?;
        self.sink = match path {
            None => Sink::Stdout(BufWriter::new(std::io::stdout())),
            Some(path) => {
                let file = File::create(&path).map_err(|err| {
                    FloeError::new(
                        floe_engine::error::sqlstate::IO_ERROR,
                        format!("{}: {err}", path.display()),
                    )
                })?;
                Sink::File(BufWriter::new(file))
            }
        };
        Ok(())
    }

    fn destination(&self) -> Destination {
        let terminal = matches!(self.sink, Sink::Stdout(_)) && std::io::stdout().is_terminal();
        Destination {
            // comfy-table asks the terminal for its size (it does so only on a terminal).
            // A pseudo-terminal nobody sized reports 0 columns: treat that as unknown.
            width: terminal
                .then(|| comfy_table::Table::new().width())
                .flatten()
                .filter(|w| *w >= 20),
            styled: terminal,
        }
    }

    /// Prints `err` on standard error, pointing at the position in `piece` when the message
    /// names one.
    pub fn report(&mut self, err: &FloeError, piece: &Piece) {
        let _ = self.flush();
        let text = match piece {
            Piece::Sql(sql) => Some(sql.as_str()),
            Piece::Meta(_) => None,
        };
        eprint!("{}", error_text(err, text));
    }
}

/// `ERROR: message (SQLSTATE code)`, then, when the error knows its position inside
/// `statement` (parser and planner errors), that line with a caret under the column.
pub fn error_text(err: &FloeError, statement: Option<&str>) -> String {
    let mut text = format!("ERROR: {} (SQLSTATE {})\n", err.message, err.sqlstate);
    if let (Some(statement), Some(Position { line, column })) = (statement, err.position)
        && let Some(source) = line.checked_sub(1).and_then(|i| statement.lines().nth(i))
    {
        let prefix = format!("LINE {line}: ");
        text.push_str(&format!("{prefix}{source}\n"));
        let offset: usize = source
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0))
            .sum();
        text.push_str(&format!("{}^\n", " ".repeat(prefix.len() + offset)));
    }
    text
}

/// psql's timing format: milliseconds, and a readable form past a second.
fn format_duration(elapsed: Duration) -> String {
    let ms = elapsed.as_secs_f64() * 1000.0;
    if elapsed < Duration::from_secs(1) {
        format!("{ms:.3} ms")
    } else {
        let secs = elapsed.as_secs_f64();
        format!(
            "{ms:.3} ms ({:02}:{:06.3})",
            (secs / 60.0) as u64,
            secs % 60.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_the_position_in_the_statement() {
        let err = FloeError::syntax(
            "sql parser error: Expected: end of statement, found: frm at Line: 2, Column: 10",
        );
        assert_eq!(
            error_text(&err, Some("select 1\n  from t frm x;")),
            "ERROR: sql parser error: Expected: end of statement, found: frm at Line: 2, \
             Column: 10 (SQLSTATE 42601)\nLINE 2:   from t frm x;\n                 ^\n"
        );
        let plain = FloeError::syntax("no position here");
        assert_eq!(
            error_text(&plain, Some("select")),
            "ERROR: no position here (SQLSTATE 42601)\n"
        );
    }

    #[test]
    fn durations_read_like_psql() {
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.500 ms");
        assert_eq!(
            format_duration(Duration::from_millis(61_500)),
            "61500.000 ms (01:01.500)"
        );
    }
}
