//! A spinner with the elapsed time for statements that take more than about a second. It is
//! drawn on standard error, only on a terminal, and cleared before the result is printed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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
    /// Starts the delay; with `enabled` false nothing is ever drawn.
    pub fn start(enabled: bool) -> Self {
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
                spinner.set_style(
                    ProgressStyle::with_template("{spinner} running… {elapsed}  (Ctrl-C cancels)")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
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
