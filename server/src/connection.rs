//! One client connection: its engine session, its cancel switch, and the startup
//! handshake that creates them once the client has logged in (see `auth`).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use floe_engine::Engine;
use floe_engine::settings::Settings;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, METADATA_APPLICATION_NAME, METADATA_USER, PgWireConnectionState,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::Backend;
use crate::auth::{Answer, Challenge, LoginInProgress};
use crate::control::{CancelSwitch, Registration};
use crate::cursor::Cursors;
use crate::results::user_error;

/// What the server keeps per connection, in the client's session extensions.
pub struct Connection {
    pub session: Engine,
    pub cancel: Arc<CancelSwitch>,
    pub cursors: Cursors,
    /// Names of the prepared statements the client made, for DEALLOCATE ALL.
    statements: Mutex<BTreeSet<String>>,
    _registration: Registration,
}

impl Connection {
    pub fn remember_statement(&self, name: &str) {
        self.statements
            .lock()
            .expect("statements lock")
            .insert(name.to_string());
    }

    /// Whether `name` was one of the client's prepared statements.
    pub fn forget_statement(&self, name: &str) -> bool {
        self.statements
            .lock()
            .expect("statements lock")
            .remove(name)
    }

    pub fn take_statements(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.statements.lock().expect("statements lock"))
    }
}

/// The settings a client is told about at startup and whenever they change
/// (PostgreSQL's GUC_REPORT parameters).
pub const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "search_path",
    "server_encoding",
    "server_version",
    "standard_conforming_strings",
    "TimeZone",
];

/// The reported settings' values in `settings`; names Floe does not keep as settings get
/// PostgreSQL's value for a read-write primary.
pub fn reported_values(settings: &Settings) -> HashMap<String, String> {
    REPORTED
        .iter()
        .map(|name| {
            let value = settings.get(name).unwrap_or_else(|_| "off".to_string());
            (name.to_string(), value)
        })
        .collect()
}

/// Sends a ParameterStatus for each reported setting whose value changed.
pub async fn report_changes<C>(
    client: &mut C,
    before: &Settings,
    after: &Settings,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let before = reported_values(before);
    for (name, value) in reported_values(after) {
        if before.get(&name) != Some(&value) {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
    }
    Ok(())
}

/// The connection's state; present once startup has finished.
pub fn connection_of<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Connection>> {
    client
        .session_extensions()
        .get::<Connection>()
        .ok_or_else(|| PgWireError::UserError(Box::new(user_error("08P01", "startup not done"))))
}

/// Applies the settings a client passes at startup: `application_name` and the
/// `-c name=value` entries of `options` (as `psql` sends `PGOPTIONS`).
fn startup_settings<C: ClientInfo>(client: &C, session: &Engine) -> PgWireResult<()> {
    let mut statements = Vec::new();
    if let Some(name) = client.metadata().get(METADATA_APPLICATION_NAME) {
        statements.push(("application_name".to_string(), name.clone()));
    }
    if let Some(options) = client.metadata().get("options") {
        let mut words = options.split_whitespace();
        while let Some(word) = words.next() {
            let assignment = match word {
                "-c" => words.next().unwrap_or_default(),
                other => other.strip_prefix("--").unwrap_or(other),
            };
            if let Some((name, value)) = assignment.split_once('=') {
                statements.push((name.replace('-', "_"), value.to_string()));
            }
        }
    }
    for (name, value) in statements {
        session
            .set_setting(&name, &value)
            .map_err(|err| PgWireError::UserError(Box::new(crate::results::error_info(err))))?;
    }
    Ok(())
}

struct SessionParameters(HashMap<String, String>);

impl ServerParameterProvider for SessionParameters {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        let mut parameters = self.0.clone();
        if let Some(user) = client.metadata().get(METADATA_USER) {
            parameters.insert("session_authorization".to_string(), user.clone());
        }
        Some(parameters)
    }
}

#[async_trait]
impl StartupHandler for Backend {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                let user = client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .unwrap_or_default();
                match self.access.challenge(&user, client.socket_addr())? {
                    Challenge::None => self.open_session(client).await,
                    Challenge::Ask(request, pending) => {
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client
                            .session_extensions()
                            .insert(LoginInProgress(Mutex::new(Some(*pending))));
                        client
                            .send(PgWireBackendMessage::Authentication(request))
                            .await?;
                        Ok(())
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(answer) => {
                let pending = client
                    .session_extensions()
                    .get::<LoginInProgress>()
                    .and_then(|login| login.0.lock().expect("login lock").take())
                    .ok_or_else(|| {
                        PgWireError::UserError(Box::new(ErrorInfo::new(
                            "FATAL".to_string(),
                            "08P01".to_string(),
                            "unexpected password message".to_string(),
                        )))
                    })?;
                match pending.answer(answer)? {
                    Answer::Continue(request, next) => {
                        if let Some(login) = client.session_extensions().get::<LoginInProgress>() {
                            *login.0.lock().expect("login lock") = Some(next);
                        }
                        client
                            .send(PgWireBackendMessage::Authentication(request))
                            .await?;
                        Ok(())
                    }
                    Answer::Accepted(last) => {
                        if let Some(last) = last {
                            client
                                .feed(PgWireBackendMessage::Authentication(last))
                                .await?;
                        }
                        self.open_session(client).await
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

impl Backend {
    /// Gives a client that is in its session, cancel key and settings, and tells it the
    /// server is ready.
    async fn open_session<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());

        let session = self.engine.new_session();
        if let Some(user) = client.metadata().get(pgwire::api::METADATA_USER) {
            session.set_user(user);
        }
        startup_settings(client, &session)?;
        let parameters = SessionParameters(reported_values(&session.settings()));
        let cancel = Arc::new(CancelSwitch::default());
        let registration = self
            .cancels
            .register(pid, secret.to_bytes().to_vec(), cancel.clone());
        client.session_extensions().insert(Connection {
            session,
            cancel,
            cursors: Cursors::default(),
            statements: Mutex::default(),
            _registration: registration,
        });
        finish_authentication(client, &parameters).await
    }
}

/// Hands out process ids and cancel secrets for BackendKeyData.
pub type Pids = RandomPidSecretKeyGenerator;
