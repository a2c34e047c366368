//! Who may connect. With users configured, a client proves its password with SCRAM-SHA-256
//! (or MD5, for a user whose stored secret is an MD5 one). With none, any user name is
//! accepted, but only from loopback unless the server was started `--insecure`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use ring::rand::{SecureRandom, SystemRandom};

use crate::scram::{self, AwaitingClientFinal, ScramError};
use crate::secret::{ScramSecret, Secret, md5_response, same_bytes};

/// The server's access rules.
#[derive(Debug, Default, Clone)]
pub struct Access {
    users: HashMap<String, Secret>,
    /// Without users, also accept clients that are not on loopback.
    insecure: bool,
}

/// What the server asks a client at startup.
pub enum Challenge {
    /// Nothing: the client is in.
    None,
    /// This authentication request, answered by the client's next message.
    Ask(Authentication, Box<Pending>),
}

/// A login waiting for the client's answer.
#[derive(Debug)]
pub enum Pending {
    ScramInitial {
        user: String,
        secret: ScramSecret,
    },
    ScramFinal {
        user: String,
        exchange: AwaitingClientFinal,
    },
    Md5 {
        user: String,
        secret: String,
        salt: [u8; 4],
    },
}

/// What an answer leads to.
pub enum Answer {
    /// Send this and wait for the next answer.
    Continue(Authentication, Pending),
    /// The client is in; send this first if there is one (SCRAM's server proof).
    Accepted(Option<Authentication>),
}

/// The login in progress on one connection, kept in the client's session extensions.
#[derive(Debug, Default)]
pub struct LoginInProgress(pub Mutex<Option<Pending>>);

impl Access {
    pub fn new(users: HashMap<String, Secret>, insecure: bool) -> Access {
        Access { users, insecure }
    }

    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether the server may listen on `address` under these rules: without users, only
    /// on loopback, unless `--insecure`.
    pub fn check_listen(&self, address: SocketAddr) -> Result<(), String> {
        if self.has_users() || self.insecure || address.ip().is_loopback() {
            Ok(())
        } else {
            Err(format!(
                "refusing to listen on {address} without authentication: configure users \
                 (--user or [users] in --config) or pass --insecure"
            ))
        }
    }

    /// The first step of a login for `user` connecting from `peer`.
    pub fn challenge(&self, user: &str, peer: SocketAddr) -> Result<Challenge, PgWireError> {
        if !self.has_users() {
            return if self.insecure || peer.ip().is_loopback() {
                Ok(Challenge::None)
            } else {
                Err(fatal(
                    "28000",
                    format!(
                        "no access for host {}: a server without users accepts loopback \
                         clients only",
                        peer.ip()
                    ),
                ))
            };
        }
        let user = user.to_string();
        Ok(match self.users.get(&user) {
            Some(Secret::Md5(secret)) => {
                let mut salt = [0u8; 4];
                SystemRandom::new()
                    .fill(&mut salt)
                    .expect("the system's random source");
                Challenge::Ask(
                    Authentication::MD5Password(salt.to_vec()),
                    Box::new(Pending::Md5 {
                        user,
                        secret: secret.clone(),
                        salt,
                    }),
                )
            }
            Some(Secret::Scram(secret)) => scram_challenge(user, secret.clone()),
            // An unknown user goes through the same exchange and fails at its end, so the
            // answer does not tell which user names exist.
            None => scram_challenge(user, ScramSecret::unmatchable()),
        })
    }
}

fn scram_challenge(user: String, secret: ScramSecret) -> Challenge {
    Challenge::Ask(
        Authentication::SASL(vec![scram::MECHANISM.to_string()]),
        Box::new(Pending::ScramInitial { user, secret }),
    )
}

impl Pending {
    /// Takes the client's answer to the last request.
    pub fn answer(self, message: PasswordMessageFamily) -> Result<Answer, PgWireError> {
        match self {
            Pending::ScramInitial { user, secret } => {
                let initial = message.into_sasl_initial_response()?;
                if initial.auth_method != scram::MECHANISM {
                    return Err(fatal(
                        "28000",
                        format!(
                            "SASL mechanism {} is not offered (only {})",
                            initial.auth_method,
                            scram::MECHANISM
                        ),
                    ));
                }
                let data = initial.data.unwrap_or_default();
                let (server_first, exchange) =
                    scram::server_first(&data, secret).map_err(|err| scram_error(&user, err))?;
                Ok(Answer::Continue(
                    Authentication::SASLContinue(server_first.into()),
                    Pending::ScramFinal { user, exchange },
                ))
            }
            Pending::ScramFinal { user, exchange } => {
                let response = message.into_sasl_response()?;
                let server_final = exchange
                    .server_final(&response.data)
                    .map_err(|err| scram_error(&user, err))?;
                Ok(Answer::Accepted(Some(Authentication::SASLFinal(
                    server_final.into(),
                ))))
            }
            Pending::Md5 { user, secret, salt } => {
                let password = message.into_password()?;
                let expected = md5_response(&secret, &salt);
                if same_bytes(password.password.as_bytes(), expected.as_bytes()) {
                    Ok(Answer::Accepted(None))
                } else {
                    Err(wrong_password(&user))
                }
            }
        }
    }
}

fn scram_error(user: &str, err: ScramError) -> PgWireError {
    match err {
        ScramError::WrongProof => wrong_password(user),
        ScramError::Malformed(message) => fatal("08P01", message),
    }
}

fn wrong_password(user: &str) -> PgWireError {
    fatal(
        "28P01",
        format!("password authentication failed for user \"{user}\""),
    )
}

fn fatal(sqlstate: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        sqlstate.to_string(),
        message,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_users_only_loopback_unless_insecure() {
        let open = Access::default();
        assert!(open.check_listen(address("127.0.0.1:6543")).is_ok());
        assert!(open.check_listen(address("[::1]:6543")).is_ok());
        let refused = open.check_listen(address("0.0.0.0:6543")).unwrap_err();
        assert!(refused.contains("--insecure"), "{refused}");
        assert!(matches!(
            open.challenge("anyone", address("127.0.0.1:40000")),
            Ok(Challenge::None)
        ));
        let Err(PgWireError::UserError(err)) = open.challenge("anyone", address("10.1.2.3:40000"))
        else {
            panic!("a remote client got in without users");
        };
        assert_eq!(
            (err.severity.as_str(), err.code.as_str()),
            ("FATAL", "28000")
        );

        let insecure = Access::new(HashMap::new(), true);
        assert!(insecure.check_listen(address("0.0.0.0:6543")).is_ok());
        assert!(matches!(
            insecure.challenge("anyone", address("10.1.2.3:40000")),
            Ok(Challenge::None)
        ));
    }

    #[test]
    fn with_users_everyone_is_asked_for_a_password() {
        let users = HashMap::from([(
            "alice".to_string(),
            Secret::Scram(ScramSecret::from_password("pw")),
        )]);
        let access = Access::new(users, false);
        assert!(access.check_listen(address("0.0.0.0:6543")).is_ok());
        for user in ["alice", "nobody"] {
            assert!(matches!(
                access.challenge(user, address("127.0.0.1:40000")),
                Ok(Challenge::Ask(Authentication::SASL(_), _))
            ));
        }
    }
}
