//! One client socket from accept to close: TLS negotiation, then its messages one at a
//! time until the client leaves or the server shuts down. A shutdown never interrupts a
//! statement (its rows, its commit): it is acted on when the client has its answer, after
//! a simple Query or an extended-protocol Sync, where the client is told FATAL 57P01 and
//! the socket is closed.

use std::time::Duration;

use std::panic::AssertUnwindSafe;

use futures::{FutureExt, SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How long a client may take from connecting to being logged in.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves `socket` until the client leaves, a message is malformed, or `shutdown` turns
/// true.
pub async fn serve_socket<H: PgWireServerHandlers>(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let negotiated = tokio::select! {
        negotiated = negotiate_tls(socket, tls) => negotiated?,
        _ = &mut startup_deadline => return Ok(()),
        _ = stopped(&mut shutdown) => return Ok(()),
    };
    // A direct TLS handshake to a server without TLS.
    let Some(mut socket) = negotiated else {
        return Ok(());
    };
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    // Whether the client has had the answer to everything it sent (no extended-protocol
    // sequence waiting for its Sync).
    let mut answered = true;
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let message = tokio::select! {
            message = next_message(&mut socket) => message,
            _ = &mut startup_deadline, if starting => return Ok(()),
            _ = stopped(&mut shutdown), if answered => {
                let goodbye = "terminating connection due to administrator command";
                return fatal(&mut socket, "57P01", goodbye.to_string()).await;
            }
        };
        let message = match message {
            Some(Ok(message)) => message,
            // Something that is not a message (an unknown type, a bad length, a message
            // cut short by the end of the stream): the client is told why and this
            // connection ends; the server and its other connections go on.
            Some(Err(err)) => {
                let why = format!("invalid frontend message: {err}");
                return fatal(&mut socket, "08P01", why).await;
            }
            // The client left.
            None => return Ok(()),
        };
        // Terminate: the client is leaving and waits for the socket to close.
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            return Ok(());
        }
        answered =
            !message.is_extended_query() || matches!(message, PgWireFrontendMessage::Sync(_));
        let extended_protocol = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended_protocol) => extended_protocol,
            _ => message.is_extended_query(),
        };
        let handled = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await;
        if let Err(mut err) = handled {
            errors.on_error(&socket, &mut err);
            process_error(&mut socket, err, extended_protocol).await?;
        }
    }
}

/// The client's next message. pgwire's decoder panics on some malformed lengths (a
/// CopyData or password message whose length is under 4 subtracts past zero); that is
/// a malformed message like any other, not the end of the server.
async fn next_message<S>(socket: &mut S) -> Option<PgWireResult<PgWireFrontendMessage>>
where
    S: StreamExt<Item = PgWireResult<PgWireFrontendMessage>> + Unpin,
{
    match AssertUnwindSafe(socket.next()).catch_unwind().await {
        Ok(message) => message,
        Err(_) => Some(Err(PgWireError::IoError(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a message length shorter than its header",
        )))),
    }
}

/// Tells the client FATAL `code` and closes the socket (the client may be gone already).
async fn fatal<S>(socket: &mut S, code: &str, message: String) -> std::io::Result<()>
where
    S: SinkExt<PgWireBackendMessage> + Unpin,
{
    let error = ErrorInfo::new("FATAL".to_string(), code.to_string(), message);
    let _ = socket
        .send(PgWireBackendMessage::ErrorResponse(error.into()))
        .await;
    let _ = socket.close().await;
    Ok(())
}

/// Resolves once the server is shutting down.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the server is gone, which is a shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
