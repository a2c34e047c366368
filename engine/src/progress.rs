//! Running totals of what a statement has written so far, for faces that show progress
//! while it runs (the shell's spinner for INSERT, COPY and OPTIMIZE).
//!
//! Each session owns one [`WriteProgress`]. [`Engine::execute`](crate::Engine::execute)
//! makes it the current one for the statement's task, and the table writer adds to
//! whichever is current, so none of the layers in between has to carry it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static CURRENT: Arc<WriteProgress>;
}

/// The rows and bytes the running statement has written, readable from any thread.
#[derive(Debug, Default)]
pub struct WriteProgress {
    rows: AtomicU64,
    bytes: AtomicU64,
}

/// A reading of a [`WriteProgress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrittenSoFar {
    pub rows: u64,
    /// Encoded bytes of the data files, counting row groups still being encoded.
    pub bytes: u64,
}

impl WriteProgress {
    pub fn snapshot(&self) -> WrittenSoFar {
        WrittenSoFar {
            rows: self.rows.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// Runs `work` (one statement) with `progress` as the current totals, starting from zero.
pub(crate) async fn track<F: Future>(progress: Arc<WriteProgress>, work: F) -> F::Output {
    progress.rows.store(0, Ordering::Relaxed);
    progress.bytes.store(0, Ordering::Relaxed);
    CURRENT.scope(progress, work).await
}

/// `work` counting into the current statement's totals, for a task spawned to do part of
/// the statement's writing (a spawned task does not inherit them by itself).
pub(crate) fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let current = CURRENT.try_with(Arc::clone).ok();
    async move {
        match current {
            Some(progress) => CURRENT.scope(progress, work).await,
            None => work.await,
        }
    }
}

/// Adds to the current statement's totals; outside a tracked statement it does nothing.
pub(crate) fn add_written(rows: usize, bytes: usize) {
    let _ = CURRENT.try_with(|progress| {
        progress.rows.fetch_add(rows as u64, Ordering::Relaxed);
        progress.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_only_inside_the_tracked_statement() {
        let progress = Arc::new(WriteProgress::default());
        add_written(5, 50);
        assert_eq!(progress.snapshot(), WrittenSoFar::default());
        track(progress.clone(), async {
            add_written(3, 100);
            add_written(4, 20);
        })
        .await;
        assert_eq!(
            progress.snapshot(),
            WrittenSoFar {
                rows: 7,
                bytes: 120
            }
        );
        // The next statement starts from zero.
        track(progress.clone(), async {}).await;
        assert_eq!(progress.snapshot(), WrittenSoFar::default());
    }

    #[tokio::test]
    async fn an_insert_moves_the_session_totals_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::Engine::open(dir.path()).await.unwrap();
        engine
            .execute_sql("CREATE TABLE numbers (n BIGINT)")
            .await
            .unwrap();
        let progress = engine.write_progress();

        engine
            .execute_sql("INSERT INTO numbers SELECT value FROM range(0, 20000)")
            .await
            .unwrap();
        let done = progress.snapshot();
        assert_eq!(done.rows, 20000);
        assert!(done.bytes > 0, "{done:?}");

        // A write that would run for hours shows rows before it ends; then it is dropped.
        let endless =
            engine.execute_sql("INSERT INTO numbers SELECT value FROM range(0, 1000000000000000)");
        let first_rows = async {
            loop {
                let now = progress.snapshot();
                if now.rows > 0 {
                    return now;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            result = endless => panic!("the endless insert ended: {:?}", result.err()),
            seen = first_rows => assert!(seen.rows < 1_000_000_000_000_000 && seen.bytes > 0, "{seen:?}"),
        }

        // A statement that writes nothing starts again from zero.
        engine.execute_sql("SELECT 1").await.unwrap();
        assert_eq!(progress.snapshot(), WrittenSoFar::default());
    }
}
