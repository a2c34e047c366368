//! What the user can change about how results are shown (`\pset`, `\x`, `\timing`, flags).

use crate::format::Format;

/// Rows the aligned table shows before it stops reading a result. The table needs all its
/// rows to size the columns, so without a cap a huge SELECT would be held in memory.
pub const DEFAULT_MAX_ROWS: usize = 1000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub format: Format,
    /// Print only results: no command tags.
    pub quiet: bool,
    /// Print how long each statement took.
    pub timing: bool,
    pub expanded: Expanded,
    /// Most rows the aligned table shows; 0 shows all. Other formats stream every row.
    pub max_rows: usize,
    /// Text shown for NULL in the aligned formats.
    pub null: String,
    /// In scripts, report a failing statement and go on with the next.
    pub continue_on_error: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            format: Format::Table,
            quiet: false,
            timing: false,
            expanded: Expanded::Off,
            max_rows: DEFAULT_MAX_ROWS,
            null: "NULL".to_string(),
            continue_on_error: false,
        }
    }
}

/// Expanded display (`\x`): one `column | value` line per field instead of one row per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expanded {
    Off,
    On,
    /// Expanded only when the table would be wider than the terminal.
    Auto,
}

impl std::fmt::Display for Expanded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expanded::Off => "off",
            Expanded::On => "on",
            Expanded::Auto => "auto",
        })
    }
}
