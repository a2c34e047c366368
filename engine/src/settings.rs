//! PostgreSQL session settings (`SET`, `SHOW`, `RESET`): the ones clients and drivers set
//! or read when they connect. Each session keeps its own values; those that change how
//! the engine runs (search_path, TimeZone) are applied to the session's DataFusion config
//! by the engine, and statement_timeout is read by the faces that run statements.

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::arrow::array::timezone::Tz;

use crate::error::{FloeError, Result, sqlstate};

/// The PostgreSQL release whose behaviour and catalogs Floe presents to clients.
pub const SERVER_VERSION: &str = "15.0";
const SERVER_VERSION_NUM: &str = "150000";

/// What `version()` returns: PostgreSQL's shape, so drivers that parse it (SQLAlchemy,
/// JDBC) find a version number consistent with `server_version`.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Floe {}) on {}-{}, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

struct Setting {
    name: &'static str,
    default: &'static str,
    description: &'static str,
    /// `None` for settings a client cannot change.
    check: Option<fn(&str) -> Result<String>>,
}

const SETTINGS: &[Setting] = &[
    Setting {
        name: "application_name",
        default: "",
        description: "Sets the application name to be reported in statistics and logs.",
        check: Some(any_text),
    },
    Setting {
        name: "client_encoding",
        default: "UTF8",
        description: "Sets the client's character set encoding (only UTF8).",
        check: Some(utf8_only),
    },
    Setting {
        name: "client_min_messages",
        default: "notice",
        description: "Sets the message levels that are sent to the client.",
        check: Some(message_level),
    },
    Setting {
        name: "DateStyle",
        default: "ISO, MDY",
        description: "Sets the display format for date and time values (ISO output only).",
        check: Some(date_style),
    },
    Setting {
        name: "default_table_access_method",
        default: "heap",
        description: "Shows the access method PostgreSQL would give new tables (Floe's are Iceberg tables; clients compare pg_am names to it).",
        check: None,
    },
    Setting {
        name: "default_transaction_isolation",
        default: "read committed",
        description: "Sets the transaction isolation level of each new transaction.",
        check: Some(isolation_level),
    },
    Setting {
        name: "extra_float_digits",
        default: "1",
        description: "Sets the number of digits displayed for floating-point values.",
        check: Some(float_digits),
    },
    Setting {
        name: "integer_datetimes",
        default: "on",
        description: "Shows whether datetimes are integer based.",
        check: None,
    },
    Setting {
        name: "IntervalStyle",
        default: "postgres",
        description: "Sets the display format for interval values.",
        check: None,
    },
    Setting {
        name: "is_superuser",
        default: "on",
        description: "Shows whether the current user is a superuser.",
        check: None,
    },
    Setting {
        name: "search_path",
        default: "public",
        description: "Sets the schema search order for names that are not schema-qualified.",
        check: Some(search_path),
    },
    Setting {
        name: "server_encoding",
        default: "UTF8",
        description: "Shows the server (database) character set encoding.",
        check: None,
    },
    Setting {
        name: "server_version",
        default: SERVER_VERSION,
        description: "Shows the server version.",
        check: None,
    },
    Setting {
        name: "server_version_num",
        default: SERVER_VERSION_NUM,
        description: "Shows the server version as an integer.",
        check: None,
    },
    Setting {
        name: "standard_conforming_strings",
        default: "on",
        description: "Causes '...' strings to treat backslashes literally (always on).",
        check: Some(on_only),
    },
    Setting {
        name: "statement_timeout",
        default: "0",
        description: "Sets the maximum allowed duration of any statement (0 = none).",
        check: Some(timeout),
    },
    Setting {
        name: "TimeZone",
        default: "UTC",
        description: "Sets the time zone for displaying and interpreting time stamps.",
        check: Some(time_zone),
    },
    Setting {
        name: "transaction_isolation",
        default: "read committed",
        description: "Sets the current transaction's isolation level.",
        check: Some(isolation_level),
    },
];

/// One session's settings. Starts at the defaults.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    changed: BTreeMap<&'static str, String>,
    /// The user the session logged in as (`None`: the operating-system user); not a
    /// setting a client changes, so RESET ALL keeps it.
    user: Option<String>,
}

fn lookup(name: &str) -> Result<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            FloeError::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            )
        })
}

impl Settings {
    /// Whether `name` is a PostgreSQL setting Floe knows (case-insensitive).
    pub fn is_known(name: &str) -> bool {
        lookup(name).is_ok()
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Result<String> {
        let setting = lookup(name)?;
        Ok(self
            .changed
            .get(setting.name)
            .cloned()
            .unwrap_or_else(|| setting.default.to_string()))
    }

    /// Sets `name` after checking the value; returns the setting's canonical name.
    pub fn set(&mut self, name: &str, value: &str) -> Result<&'static str> {
        let setting = lookup(name)?;
        let check = setting.check.ok_or_else(|| {
            FloeError::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{}\" cannot be changed", setting.name),
            )
        })?;
        let value = check(value).map_err(|err| {
            FloeError::new(
                err.sqlstate,
                format!(
                    "invalid value for parameter \"{}\": \"{value}\": {}",
                    setting.name, err.message
                ),
            )
        })?;
        self.changed.insert(setting.name, value);
        Ok(setting.name)
    }

    /// Puts `name` back to its default; returns the setting's canonical name.
    pub fn reset(&mut self, name: &str) -> Result<&'static str> {
        let setting = lookup(name)?;
        self.changed.remove(setting.name);
        Ok(setting.name)
    }

    /// The user the session runs as (`current_user`).
    pub fn user(&self) -> String {
        self.user
            .clone()
            .unwrap_or_else(crate::session_user::default_user)
    }

    pub fn set_user(&mut self, user: &str) {
        self.user = Some(user.to_string());
    }

    pub fn reset_all(&mut self) {
        self.changed.clear();
    }

    /// `(name, value, description)` of every setting, for `SHOW ALL`.
    pub fn all(&self) -> Vec<(&'static str, String, &'static str)> {
        SETTINGS
            .iter()
            .map(|s| {
                let value = self.get(s.name).unwrap_or_default();
                (s.name, value, s.description)
            })
            .collect()
    }

    /// The statement timeout, `None` when statements may run for ever.
    pub fn statement_timeout(&self) -> Option<Duration> {
        let millis: u64 = self.get("statement_timeout").ok()?.parse().ok()?;
        (millis > 0).then(|| Duration::from_millis(millis))
    }

    /// Whether NOTICE messages reach the client: `client_min_messages` is `notice` or a
    /// lower level (`warning` and `error` silence them, as in PostgreSQL).
    pub fn sends_notices(&self) -> bool {
        let level = self.get("client_min_messages").unwrap_or_default();
        !matches!(level.as_str(), "warning" | "error")
    }

    /// The schema unqualified names resolve in: the first entry of search_path that is
    /// not `$user` or `pg_catalog`.
    pub fn default_schema(&self) -> Option<String> {
        let path = self.get("search_path").ok()?;
        path.split(',')
            .map(|s| s.trim().trim_matches('"'))
            .find(|s| !s.is_empty() && *s != "$user" && *s != "pg_catalog")
            .map(str::to_string)
    }
}

fn invalid(message: impl Into<String>) -> FloeError {
    FloeError::new(sqlstate::INVALID_PARAMETER_VALUE, message)
}

fn any_text(value: &str) -> Result<String> {
    Ok(value.to_string())
}

/// A zone name from the IANA database (`Europe/Paris`) or a fixed offset (`+02:00`).
fn time_zone(value: &str) -> Result<String> {
    if value.eq_ignore_ascii_case("utc") {
        return Ok("UTC".to_string());
    }
    value.parse::<Tz>().map(|_| value.to_string()).map_err(|_| {
        invalid(
            "expected a time zone name such as UTC or Europe/Paris, or an offset such as +02:00",
        )
    })
}

fn utf8_only(value: &str) -> Result<String> {
    match value.to_ascii_uppercase().replace('-', "").as_str() {
        "UTF8" | "UNICODE" => Ok("UTF8".to_string()),
        _ => Err(FloeError::unsupported("Floe speaks UTF8 only")),
    }
}

fn on_only(value: &str) -> Result<String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok("on".to_string()),
        _ => Err(FloeError::unsupported("only \"on\" is available")),
    }
}

fn message_level(value: &str) -> Result<String> {
    const LEVELS: &[&str] = &[
        "debug5", "debug4", "debug3", "debug2", "debug1", "debug", "log", "notice", "warning",
        "error",
    ];
    let lower = value.to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(invalid(format!("expected one of {}", LEVELS.join(", "))))
    }
}

/// Floe writes dates in ISO form only; the order part (MDY/DMY/YMD) only matters for
/// reading ambiguous input, which Floe always reads as ISO.
fn date_style(value: &str) -> Result<String> {
    let parts: Vec<String> = value
        .split(',')
        .map(|p| p.trim().to_ascii_uppercase())
        .collect();
    if !parts.iter().any(|p| p == "ISO") {
        return Err(FloeError::unsupported(
            "only the ISO output style is available",
        ));
    }
    let order = parts
        .iter()
        .find(|p| matches!(p.as_str(), "MDY" | "DMY" | "YMD"))
        .cloned()
        .unwrap_or_else(|| "MDY".to_string());
    Ok(format!("ISO, {order}"))
}

fn isolation_level(value: &str) -> Result<String> {
    let lower = value.to_ascii_lowercase().replace('_', " ");
    match lower.as_str() {
        "read uncommitted" | "read committed" | "repeatable read" | "serializable" => Ok(lower),
        _ => Err(invalid(
            "expected read uncommitted, read committed, repeatable read or serializable",
        )),
    }
}

fn float_digits(value: &str) -> Result<String> {
    match value.parse::<i32>() {
        Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
        _ => Err(invalid("expected an integer from -15 to 3")),
    }
}

fn search_path(value: &str) -> Result<String> {
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    if entries.iter().any(|e| e.is_empty()) {
        return Err(invalid("empty schema name"));
    }
    Ok(entries.join(", "))
}

/// Milliseconds, as PostgreSQL reads them: a bare number, or a number with a unit.
fn timeout(value: &str) -> Result<String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| invalid("expected a duration such as 5000, 5s or 2min"))?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid("valid units are ms, s, min, h and d")),
    };
    Ok(number.saturating_mul(factor).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_values_checked() {
        let mut settings = Settings::default();
        assert_eq!(settings.set("datestyle", "iso, dmy").unwrap(), "DateStyle");
        assert_eq!(settings.get("DATESTYLE").unwrap(), "ISO, DMY");
        assert_eq!(
            settings.set("DateStyle", "German").unwrap_err().sqlstate,
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        assert_eq!(
            settings.set("server_version", "16").unwrap_err().sqlstate,
            sqlstate::CANT_CHANGE_RUNTIME_PARAM
        );
        assert_eq!(
            settings.get("no_such_thing").unwrap_err().sqlstate,
            sqlstate::UNDEFINED_OBJECT
        );
    }

    #[test]
    fn statement_timeout_reads_units() {
        let mut settings = Settings::default();
        assert_eq!(settings.statement_timeout(), None);
        settings.set("statement_timeout", "2s").unwrap();
        assert_eq!(settings.statement_timeout(), Some(Duration::from_secs(2)));
        settings.set("statement_timeout", "150").unwrap();
        assert_eq!(
            settings.statement_timeout(),
            Some(Duration::from_millis(150))
        );
        assert!(settings.set("statement_timeout", "soon").is_err());
        assert_eq!(settings.set("TimeZone", "utc").unwrap(), "TimeZone");
        assert_eq!(settings.get("timezone").unwrap(), "UTC");
        settings.set("TimeZone", "Europe/Paris").unwrap();
        settings.set("TimeZone", "+05:30").unwrap();
        assert_eq!(
            settings
                .set("TimeZone", "Nowhere/Bad")
                .unwrap_err()
                .sqlstate,
            sqlstate::INVALID_PARAMETER_VALUE
        );
        assert_eq!(settings.get("TimeZone").unwrap(), "+05:30");
        settings.reset("STATEMENT_TIMEOUT").unwrap();
        assert_eq!(settings.statement_timeout(), None);
    }

    #[test]
    fn client_min_messages_above_notice_silences_notices() {
        let mut settings = Settings::default();
        assert!(settings.sends_notices());
        settings.set("client_min_messages", "WARNING").unwrap();
        assert!(!settings.sends_notices());
        settings.set("client_min_messages", "debug1").unwrap();
        assert!(settings.sends_notices());
    }

    #[test]
    fn default_schema_skips_user_and_pg_catalog() {
        let mut settings = Settings::default();
        settings
            .set("search_path", "\"$user\", pg_catalog, sales, public")
            .unwrap();
        assert_eq!(settings.default_schema().as_deref(), Some("sales"));
    }
}
