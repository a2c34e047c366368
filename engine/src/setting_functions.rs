//! PostgreSQL's `current_setting(name [, missing_ok])` and `set_config(name, value,
//! is_local)`, bound to one session's settings: drivers read settings this way (asyncpg's
//! type introspection reads `jit`, SQLAlchemy reads `standard_conforming_strings`).

use std::sync::{Arc, Mutex, Weak};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use parking_lot::RwLock;

use crate::error::FloeError;
use crate::settings::Settings;

/// Registers both functions in `ctx`, reading and changing `settings`.
pub fn install(ctx: &SessionContext, settings: Arc<Mutex<Settings>>) {
    let state = Arc::downgrade(&ctx.state_ref());
    ctx.register_udf(ScalarUDF::new_from_impl(SettingFunction {
        kind: Kind::Current,
        settings: settings.clone(),
        state: state.clone(),
        signature: Signature::variadic_any(Volatility::Stable),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(SettingFunction {
        kind: Kind::Set,
        settings,
        state,
        signature: Signature::variadic_any(Volatility::Volatile),
    }));
}

/// Carries the settings that change how statements run into DataFusion's config.
pub fn apply(settings: &Settings, state: &mut SessionState) {
    let options = state.config_mut().options_mut();
    if let Some(schema) = settings.default_schema() {
        options.catalog.default_schema = schema;
    }
    // Always a zone: without one DataFusion types `now()` and `'...'::timestamptz` as
    // timestamps without time zone. UTC as the offset Iceberg's timestamptz columns carry.
    let zone = settings.get("TimeZone").unwrap_or_default();
    options.execution.time_zone = Some(match zone.as_str() {
        "" | "UTC" => "+00:00".to_string(),
        other => other.to_string(),
    });
    // Functions that read the config when made (now()) are remade, as DataFusion's SET
    // does.
    let config = state.config().options().clone();
    let remade: Vec<_> = state
        .scalar_functions()
        .values()
        .filter_map(|udf| udf.inner().with_updated_config(&config))
        .collect();
    for udf in remade {
        let _ = state.register_udf(Arc::new(udf));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Current,
    Set,
}

#[derive(Debug)]
struct SettingFunction {
    kind: Kind,
    settings: Arc<Mutex<Settings>>,
    /// The session's DataFusion state, to carry a changed setting into it; weak because
    /// the state owns this function.
    state: Weak<RwLock<SessionState>>,
    signature: Signature,
}

impl PartialEq for SettingFunction {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.settings, &other.settings)
    }
}

impl Eq for SettingFunction {}

impl std::hash::Hash for SettingFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

fn text_column(value: &ColumnarValue, rows: usize) -> datafusion::error::Result<StringArray> {
    let array = value.to_array(rows)?;
    let array = cast(&array, &DataType::Utf8)?;
    Ok(array
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8")
        .clone())
}

fn floe_error(err: FloeError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}

impl SettingFunction {
    fn current(&self, args: &[ColumnarValue], rows: usize) -> datafusion::error::Result<ArrayRef> {
        let names = text_column(&args[0], rows)?;
        let missing_ok = match args.get(1) {
            Some(flag) => {
                let flags = cast(&flag.to_array(rows)?, &DataType::Boolean)?;
                flags
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .expect("cast to Boolean")
                    .clone()
            }
            None => BooleanArray::from(vec![false; rows]),
        };
        let settings = self.settings.lock().expect("settings lock").clone();
        let mut out = StringBuilder::new();
        for row in 0..rows {
            if names.is_null(row) {
                out.append_null();
                continue;
            }
            match settings.get(names.value(row)) {
                Ok(value) => out.append_value(value),
                Err(_) if missing_ok.is_valid(row) && missing_ok.value(row) => out.append_null(),
                Err(err) => return Err(floe_error(err)),
            }
        }
        Ok(Arc::new(out.finish()))
    }

    fn set(&self, args: &[ColumnarValue], rows: usize) -> datafusion::error::Result<ArrayRef> {
        let names = text_column(&args[0], rows)?;
        let values = text_column(&args[1], rows)?;
        let mut out = StringBuilder::new();
        for row in 0..rows {
            if names.is_null(row) {
                return Err(floe_error(FloeError::new(
                    "22004",
                    "SET requires parameter name",
                )));
            }
            let value = if values.is_null(row) {
                ""
            } else {
                values.value(row)
            };
            let mut settings = self.settings.lock().expect("settings lock");
            let name = settings.set(names.value(row), value).map_err(floe_error)?;
            out.append_value(settings.get(name).map_err(floe_error)?);
            if let Some(state) = self.state.upgrade() {
                apply(&settings, &mut state.write());
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

impl ScalarUDFImpl for SettingFunction {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        match self.kind {
            Kind::Current => "current_setting",
            Kind::Set => "set_config",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        let arity_ok = match self.kind {
            Kind::Current => matches!(arg_types.len(), 1 | 2),
            Kind::Set => arg_types.len() == 3,
        };
        if !arity_ok {
            return Err(DataFusionError::Plan(format!(
                "function {}() does not take {} arguments",
                self.name(),
                arg_types.len()
            )));
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let all_scalars = args
            .args
            .iter()
            .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        let rows = if all_scalars { 1 } else { args.number_rows };
        let array = match self.kind {
            Kind::Current => self.current(&args.args, rows)?,
            Kind::Set => self.set(&args.args, rows)?,
        };
        if all_scalars {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&array, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(array))
        }
    }
}
