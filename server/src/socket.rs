//! One client socket from accept to close: TLS negotiation, then its messages one at a
//! time until the client leaves or the server shuts down. A shutdown never interrupts a
//! statement (its rows, its commit): it is acted on when the client has its answer, after
//! a simple Query or an extended-protocol Sync, where the client is told FATAL 57P01 and
//! the socket is closed.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::ErrorInfo;
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
            message = socket.next() => message,
            _ = &mut startup_deadline, if starting => return Ok(()),
            _ = stopped(&mut shutdown), if answered => {
                let goodbye = ErrorInfo::new(
                    "FATAL".to_string(),
                    "57P01".to_string(),
                    "terminating connection due to administrator command".to_string(),
                );
                let _ = socket
                    .send(PgWireBackendMessage::ErrorResponse(goodbye.into()))
                    .await;
                let _ = socket.close().await;
                return Ok(());
            }
        };
        let message = match message {
            Some(Ok(message)) => message,
            // The client left, or sent something that is not a message.
            Some(Err(_)) | None => return Ok(()),
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

/// Resolves once the server is shutting down.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the server is gone, which is a shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
