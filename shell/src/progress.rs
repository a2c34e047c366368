//! A spinner for statements that take more than about a second: the elapsed time and, for
//! statements that write (INSERT, COPY, OPTIMIZE), the rows and bytes written so far. It is
//! drawn on standard error, only on a terminal, and cleared before the result is printed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use floe_engine::{WriteProgress, WrittenSoFar, human_bytes};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use tokio::task::JoinHandle;

/// How long a statement runs before the spinner appears: quick statements never flash it.
const DELAY: Duration = Duration::from_secs(1);

pub struct Progress {
    state: Arc<Mutex<State>>,
    pending: Option<JoinHandle<()>>,
}

/// Shared with the delayed task, which may be running on another thread when the result
/// arrives: it draws only if `cleared` is still false, checked under the same lock.
#[derive(Default)]
struct State {
    cleared: bool,
    spinner: Option<ProgressBar>,
}

impl Progress {
    /// Starts the delay for a statement whose writes are counted in `written`; with
    /// `enabled` false nothing is ever drawn.
    pub fn start(enabled: bool, written: Arc<WriteProgress>) -> Self {
        let started = Instant::now();
        let state: Arc<Mutex<State>> = Arc::default();
        let pending = enabled.then(|| {
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(DELAY).await;
                let Ok(mut state) = state.lock() else { return };
                if state.cleared {
                    return;
                }
                let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                // The status is read at every tick, so the counts move as the write goes on.
                let status = move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&status_line(written.snapshot(), started.elapsed()));
                };
                spinner.set_style(
                    ProgressStyle::with_template("{spinner} {status}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner())
                        .with_key("status", status),
                );
                spinner.enable_steady_tick(Duration::from_millis(100));
                state.spinner = Some(spinner);
            })
        });
        Self { state, pending }
    }

    /// Removes the spinner (or stops it from appearing). Safe to call more than once.
    pub fn clear(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
        if let Ok(mut state) = self.state.lock() {
            state.cleared = true;
            if let Some(spinner) = state.spinner.take() {
                spinner.finish_and_clear();
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `1,234,567 rows, 45.6 MiB written · 3.2s  (Ctrl-C cancels)`, or `running… · 3.2s ...`
/// while nothing has been written.
fn status_line(written: WrittenSoFar, elapsed: Duration) -> String {
    let work = if written.rows == 0 {
        "running…".to_string()
    } else {
        let rows = if written.rows == 1 { "row" } else { "rows" };
        format!(
            "{} {rows}, {} written",
            thousands(written.rows),
            human_bytes(written.bytes)
        )
    };
    format!("{work} · {}  (Ctrl-C cancels)", elapsed_text(elapsed))
}

/// `3.2s`, and `2m 05s` past a minute.
fn elapsed_text(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{:.1}s", elapsed.as_secs_f64())
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_what_was_written_and_for_how_long() {
        let written = WrittenSoFar {
            rows: 1_234_567,
            bytes: 47_815_066,
        };
        assert_eq!(
            status_line(written, Duration::from_millis(3_240)),
            "1,234,567 rows, 45.6 MiB written · 3.2s  (Ctrl-C cancels)"
        );
        assert_eq!(
            status_line(
                WrittenSoFar {
                    rows: 1,
                    bytes: 900
                },
                Duration::from_secs(125)
            ),
            "1 row, 900 bytes written · 2m 05s  (Ctrl-C cancels)"
        );
        assert_eq!(
            status_line(WrittenSoFar::default(), Duration::from_millis(1_050)),
            "running… · 1.1s  (Ctrl-C cancels)"
        );
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
