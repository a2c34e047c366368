//! The rustyline `Helper`: Tab completion over the live catalog and usage hints for
//! meta-commands.
//!
//! Statements are read line by line, psql-style, rather than through rustyline's
//! `Validator`: rustyline draws its prompt only on the first line of a multi-line buffer,
//! and a continuation prompt tells the user the shell is waiting for the `;`. The
//! completeness check is `input::split_input`, shared with scripts.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use floe_engine::Engine;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use tokio::runtime::Handle;

use crate::command::COMMANDS;
use crate::completion::{CatalogNames, complete};

pub struct ShellHelper<'a> {
    catalog: LiveNames<'a>,
    /// The earlier lines of the statement being typed, for completion context.
    pending: Rc<RefCell<String>>,
}

impl<'a> ShellHelper<'a> {
    pub fn new(engine: &'a Engine, runtime: Handle, pending: Rc<RefCell<String>>) -> Self {
        Self {
            catalog: LiveNames { engine, runtime },
            pending,
        }
    }
}

impl Completer for ShellHelper<'_> {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let earlier = self.pending.borrow();
        let (start, names) = complete(&earlier, line, pos, &self.catalog);
        let pairs = names
            .into_iter()
            .map(|name| Pair {
                display: name.clone(),
                replacement: name,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper<'_> {
    type Hint = String;

    /// After a meta-command's name, its arguments: `\pset ` hints `[format|maxrows|null] ...`.
    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos != line.len() || !self.pending.borrow().trim().is_empty() {
            return None;
        }
        let name = line.strip_suffix(' ')?;
        let (_, args, _) = COMMANDS.iter().find(|(n, _, _)| *n == name)?;
        (!args.is_empty()).then(|| args.to_string())
    }
}

impl Highlighter for ShellHelper<'_> {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}

impl Validator for ShellHelper<'_> {}

impl Helper for ShellHelper<'_> {}

/// The engine's live catalog views, called from rustyline's synchronous completion.
struct LiveNames<'a> {
    engine: &'a Engine,
    runtime: Handle,
}

impl CatalogNames for LiveNames<'_> {
    fn current_schema(&self) -> String {
        self.engine.current_schema()
    }

    fn schemas(&self) -> Vec<String> {
        self.runtime
            .block_on(self.engine.schema_names())
            .unwrap_or_default()
    }

    fn tables(&self, schema: &str) -> Vec<String> {
        self.runtime
            .block_on(self.engine.table_names(schema))
            .unwrap_or_default()
    }

    fn columns(&self, table: &str) -> Vec<String> {
        self.runtime
            .block_on(self.engine.column_names(table))
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}
