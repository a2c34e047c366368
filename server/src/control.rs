//! Stopping statements: a CancelRequest from another connection, or the session's
//! statement_timeout. Both end the running statement with SQLSTATE 57014, whether it is
//! still planning/executing or already streaming rows.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floe_engine::{FloeError, error::sqlstate};
use futures::{Stream, StreamExt};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The cancel switch of one connection.
#[derive(Debug, Default)]
pub struct CancelSwitch {
    canceled: AtomicBool,
    notify: Notify,
}

impl CancelSwitch {
    /// Arms the switch for a new statement: a cancel that arrived between statements
    /// does not stop the next one.
    pub fn rearm(&self) {
        self.canceled.store(false, Ordering::SeqCst);
    }

    fn cancel(&self) {
        self.canceled.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    async fn canceled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.canceled.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// The deadline and cancel switch one statement runs under.
#[derive(Clone)]
pub struct StatementLimits {
    switch: Arc<CancelSwitch>,
    deadline: Option<Instant>,
}

impl StatementLimits {
    pub fn new(switch: Arc<CancelSwitch>, timeout: Option<Duration>) -> Self {
        Self {
            switch,
            deadline: timeout.map(|t| Instant::now() + t),
        }
    }

    /// Resolves with the error to report when the statement must stop.
    async fn stopped(&self) -> FloeError {
        let deadline = async {
            match self.deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.switch.canceled() => FloeError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to user request",
            ),
            _ = deadline => FloeError::new(
                sqlstate::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ),
        }
    }

    /// Runs `work` unless the statement is stopped first (then `work` is dropped).
    pub async fn run<T>(
        &self,
        work: impl Future<Output = Result<T, FloeError>>,
    ) -> Result<T, FloeError> {
        tokio::select! {
            result = work => result,
            err = self.stopped() => Err(err),
        }
    }

    /// Passes the items of `stream` on until the statement is stopped; then yields the
    /// error and ends.
    pub fn guard<T: Send + 'static>(
        self,
        stream: Pin<Box<dyn Stream<Item = Result<T, FloeError>> + Send>>,
    ) -> impl Stream<Item = Result<T, FloeError>> + Send {
        futures::stream::unfold(Some((stream, self)), |state| async move {
            let (mut stream, limits) = state?;
            tokio::select! {
                item = stream.next() => item.map(|item| (item, Some((stream, limits)))),
                err = limits.stopped() => Some((Err(err), None)),
            }
        })
    }
}

/// A connection's cancel secret and its switch.
type Cancelable = (Vec<u8>, Arc<CancelSwitch>);

/// Connections that can be canceled, by their BackendKeyData (process id and secret).
#[derive(Debug, Default)]
pub struct CancelRegistry {
    connections: Mutex<HashMap<i32, Cancelable>>,
}

impl CancelRegistry {
    pub fn register(
        self: &Arc<Self>,
        pid: i32,
        secret: Vec<u8>,
        switch: Arc<CancelSwitch>,
    ) -> Registration {
        self.connections
            .lock()
            .expect("cancel registry lock")
            .insert(pid, (secret, switch));
        Registration {
            registry: self.clone(),
            pid,
        }
    }

    /// Cancels the statement running on connection `pid` if `secret` matches; a wrong
    /// secret is ignored, as PostgreSQL does.
    pub fn cancel(&self, pid: i32, secret: &[u8]) {
        let connections = self.connections.lock().expect("cancel registry lock");
        if let Some((expected, switch)) = connections.get(&pid)
            && expected == secret
        {
            switch.cancel();
        }
    }
}

/// Removes a connection from the registry when the connection ends.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<CancelRegistry>,
    pid: i32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry
            .connections
            .lock()
            .expect("cancel registry lock")
            .remove(&self.pid);
    }
}
