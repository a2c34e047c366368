//! The server's configuration: a `floe.toml` file (`--config`) whose values the command
//! line can override.
//!
//! ```toml
//! [server]
//! listen = "0.0.0.0:6543"
//! tls_cert = "server.crt"      # paths are relative to this file
//! tls_key = "server.key"
//! memory_limit = "2GB"         # per statement
//!
//! [users]                      # secrets from `floe hash-password`
//! alice = "SCRAM-SHA-256$4096:...$...:..."
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::DEFAULT_LISTEN;
use crate::auth::Access;
use crate::secret::Secret;

/// Everything `floe serve` needs besides the warehouse.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: String,
    pub users: HashMap<String, Secret>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Accept clients off loopback even without users.
    pub insecure: bool,
    /// The most memory one statement may use for its sorts, joins and aggregations, in
    /// bytes; past it the statement fails with 53200 and the server goes on.
    pub memory_limit: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.to_string(),
            users: HashMap::new(),
            tls_cert: None,
            tls_key: None,
            insecure: false,
            memory_limit: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    users: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    insecure: Option<bool>,
    memory_limit: Option<String>,
}

impl ServerConfig {
    /// Reads a `floe.toml`; what it leaves out keeps its default.
    pub fn from_file(path: &Path) -> Result<ServerConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let file: ConfigFile =
            toml::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = ServerConfig::default();
        if let Some(listen) = file.server.listen {
            config.listen = listen;
        }
        config.tls_cert = file.server.tls_cert.map(|p| base.join(p));
        config.tls_key = file.server.tls_key.map(|p| base.join(p));
        config.insecure = file.server.insecure.unwrap_or(false);
        if let Some(limit) = file.server.memory_limit {
            config.memory_limit =
                Some(parse_size(&limit).map_err(|err| format!("{}: {err}", path.display()))?);
        }
        for (user, secret) in file.users {
            let secret = Secret::parse(&secret)
                .map_err(|err| format!("{}: user {user}: {err}", path.display()))?;
            config.users.insert(user, secret);
        }
        Ok(config)
    }

    /// Adds a user from `--user name:secret`.
    pub fn add_user(&mut self, entry: &str) -> Result<(), String> {
        let (user, secret) = entry
            .split_once(':')
            .ok_or_else(|| format!("--user {entry}: expected name:secret"))?;
        let secret = Secret::parse(secret).map_err(|err| format!("--user {user}: {err}"))?;
        self.users.insert(user.to_string(), secret);
        Ok(())
    }

    pub fn access(&self) -> Access {
        Access::new(self.users.clone(), self.insecure)
    }
}

/// Reads a size such as `512MB`, `2GB`, `1.5GiB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512MB, 2GB)"))?;
    let factor: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" | "KIB" | "K" => 1024.0,
        "MB" | "MIB" | "M" => 1024.0 * 1024.0,
        "GB" | "GIB" | "G" => 1024.0 * 1024.0 * 1024.0,
        "TB" | "TIB" | "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} (B, kB, MB, GB, TB)")),
    };
    Ok((number * factor) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2 GB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5kB").unwrap(), 1536);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn file_values_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floe.toml");
        let secret = crate::secret::md5_secret("bob", "pw").to_string();
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"0.0.0.0:7000\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
                 memory_limit = \"64MB\"\n[users]\nbob = \"{secret}\"\n"
            ),
        )
        .unwrap();
        let config = ServerConfig::from_file(&path).unwrap();
        assert_eq!(config.listen, "0.0.0.0:7000");
        assert_eq!(config.tls_cert, Some(dir.path().join("c.pem")));
        assert_eq!(config.memory_limit, Some(64 << 20));
        assert!(config.users.contains_key("bob"));

        std::fs::write(&path, "[server]\nport = 1\n").unwrap();
        let err = ServerConfig::from_file(&path).unwrap_err();
        assert!(err.contains("port"), "{err}");
        std::fs::write(&path, "[users]\neve = \"hunter2\"\n").unwrap();
        let err = ServerConfig::from_file(&path).unwrap_err();
        assert!(err.contains("eve"), "{err}");
    }
}
