//! `Engine`: the one path every statement takes, whichever face (shell, server, script,
//! test) it came from: parse, then either Floe's own handler or DataFusion's planner, then
//! a result stream or a command tag.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema as ArrowSchema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::ParamValues;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionContext, SessionState};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{
    DdlStatement, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, ScalarUDF, WriteOp,
};
use datafusion::optimizer::Analyzer;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::DataFrame;
use datafusion::sql::TableReference;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Query, Statement as SqlStatement, TableObject};
use futures::TryStreamExt;
use futures::stream::BoxStream;
use iceberg::spec::{NestedField, Schema};
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, TableIdent};

use crate::bytea_text;
use crate::copy::{self, CopySource, OneStream};
use crate::ddl;
use crate::display_zone;
use crate::error::{FloeError, Result};
use crate::function_signatures::FunctionSignatures;
use crate::information_schema;
use crate::insert_literals;
use crate::live_catalog::LiveCatalog;
use crate::maintenance::{self, FloeSettings};
use crate::names::{schema_name, table_name};
use crate::optimize::OptimizeRequest;
use crate::output::{Output, WriteSummary};
use crate::parser::{CopyOptions, CreateTable, Statement, parse_sql};
use crate::pg_compat;
use crate::progress::{self, WriteProgress};
use crate::session_statement::SessionStatement;
use crate::session_user::{self, Roles};
use crate::setting_functions;
use crate::settings::Settings;
use crate::sink::WRITE_METRICS;
use crate::sort_order;
use crate::table::IcebergTable;
use crate::timestamp_text;
use crate::types::iceberg_type_from_arrow;
use crate::uuid_text;
use crate::vacuum::{VacuumRequest, VacuumScope};
use crate::warehouse::{CATALOG_NAME, DEFAULT_SCHEMA, Warehouse};

/// The rows a COPY reads per batch from its files, at least (DataFusion's default is
/// 8,192). The write splits every batch by table partition and copies each partition's
/// rows out: a batch spread over 84 monthly partitions gave each about 100 rows, and
/// splitting and regathering such pieces was 18% of a load's profile (BENCHMARKS.md,
/// Ingest).
const LOAD_BATCH_ROWS: usize = 65_536;

/// One session over a warehouse. Sessions made with [`Engine::new_session`] share the
/// warehouse and its tables but each has its own settings (SET, search_path, TimeZone).
pub struct Engine {
    warehouse: Warehouse,
    ctx: SessionContext,
    live: Arc<LiveCatalog>,
    /// Shared with the session's `current_setting`/`set_config` functions.
    settings: Arc<Mutex<Settings>>,
    /// Floe's own settings (`SET floe.*`), also per session.
    floe_settings: FloeSettings,
    /// The memory each new session may use for its sorts, joins and aggregations.
    memory_limit: Option<usize>,
    /// What the running statement has written so far.
    progress: Arc<WriteProgress>,
    /// Names of the statements made with SQL `PREPARE` in this session, which
    /// `DEALLOCATE ALL` and `DISCARD ALL` drop (DataFusion keeps them but cannot list them).
    prepared: Mutex<BTreeSet<String>>,
    /// The users logged in to any session, which `pg_roles` lists.
    roles: Roles,
    /// What `pg_get_function_result` and friends read, loaded when first needed.
    function_signatures: FunctionSignatures,
}

/// What a statement needs and gives, known before it runs (the extended protocol's
/// Describe).
#[derive(Debug, Clone)]
pub struct Described {
    /// The type DataFusion infers for each `$n` placeholder, in order, as a field (whose
    /// metadata marks extension types such as uuid); `None` where it cannot tell.
    pub parameters: Vec<Option<FieldRef>>,
    /// The result columns; `None` for statements that return no rows.
    pub schema: Option<SchemaRef>,
}

impl Engine {
    /// Opens the warehouse in `dir` (see [`Warehouse::open`]) with a fresh session.
    pub async fn open(dir: &Path) -> Result<Self> {
        let warehouse = Warehouse::open(dir).await?;
        let config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_SCHEMA)
            // Floe serves information_schema itself (DataFusion's tables and more).
            .with_information_schema(false)
            // Planning errors then carry the position of the name or expression at fault.
            .set_bool("datafusion.sql_parser.collect_spans", true)
            // A scan of 1 MiB or more is cut into byte ranges for all cores (DataFusion's
            // default is 10 MiB): a selective query that partition pruning narrows to one
            // month's 2 MiB file then reads its row groups on both cores.
            .set_usize("datafusion.optimizer.repartition_file_min_size", 1 << 20);
        // Text literals compared with uuid columns become uuids before DataFusion's type
        // coercion sees them (it cannot compare the two).
        let mut analyzer_rules = Analyzer::new().rules;
        analyzer_rules.insert(0, Arc::new(uuid_text::UuidComparisons));
        // After type coercion, which adds casts of its own.
        analyzer_rules.push(Arc::new(timestamp_text::TimestampCasts));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_analyzer_rules(analyzer_rules)
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(ScalarUDF::new_from_impl(uuid_text::UuidFromText::new()));
        ctx.register_udf(ScalarUDF::new_from_impl(bytea_text::ByteaFromText::new()));
        let live = Arc::new(LiveCatalog::new(warehouse.catalog.clone()));
        ctx.register_catalog(CATALOG_NAME, live.clone());
        let roles = Roles::default();
        pg_compat::install(&ctx, roles.clone())?;
        information_schema::install(&ctx)?;
        let settings = Arc::new(Mutex::new(Settings::default()));
        setting_functions::install(&ctx, settings.clone());
        session_user::install(&ctx, settings.clone());
        let function_signatures = FunctionSignatures::default();
        function_signatures.install(&ctx);
        let engine = Self {
            warehouse,
            ctx,
            live,
            settings,
            floe_settings: FloeSettings::default(),
            memory_limit: None,
            progress: Arc::default(),
            prepared: Mutex::default(),
            roles,
            function_signatures,
        };
        engine.apply_settings();
        Ok(engine)
    }

    /// Caps the memory of each session made after this with [`Engine::new_session`]
    /// (its running statement, with the cursors it holds open): past the cap an operator
    /// that can spill to disk does, and one that cannot fails the statement with 53200.
    pub fn set_memory_limit(&mut self, limit: Option<usize>) {
        self.memory_limit = limit;
    }

    /// A new session over the same warehouse and catalog, with default settings.
    pub fn new_session(&self) -> Engine {
        let ctx = SessionContext::new_with_state(self.session_state());
        let settings = Arc::new(Mutex::new(Settings::default()));
        setting_functions::install(&ctx, settings.clone());
        session_user::install(&ctx, settings.clone());
        let session = Engine {
            warehouse: self.warehouse.clone(),
            ctx,
            live: self.live.clone(),
            settings,
            floe_settings: FloeSettings::default(),
            memory_limit: self.memory_limit,
            progress: Arc::default(),
            prepared: Mutex::default(),
            roles: self.roles.clone(),
            function_signatures: self.function_signatures.clone(),
        };
        session.apply_settings();
        session
    }

    /// The state for a new session: this one's, with its own memory pool when there is
    /// a limit.
    fn session_state(&self) -> SessionState {
        let state = self.ctx.state();
        let Some(limit) = self.memory_limit else {
            return state;
        };
        let mut runtime = state.runtime_env().as_ref().clone();
        // Names the largest consumers when the pool runs out.
        runtime.memory_pool = Arc::new(TrackConsumersPool::new(
            GreedyMemoryPool::new(limit),
            NonZeroUsize::new(3).expect("non-zero"),
        ));
        SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(Arc::new(runtime))
            .build()
    }

    /// Sets one PostgreSQL setting, as `SET name = value` does.
    pub fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.settings
            .lock()
            .expect("settings lock")
            .set(name, value)?;
        self.apply_settings();
        Ok(())
    }

    /// Names the user this session runs as (`current_user`; the operating-system user
    /// until set); `pg_roles` lists it from then on, in every session.
    pub fn set_user(&self, user: &str) {
        self.settings.lock().expect("settings lock").set_user(user);
        self.roles.add(user);
    }

    /// This session's PostgreSQL settings.
    pub fn settings(&self) -> Settings {
        self.settings.lock().expect("settings lock").clone()
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// Waits for the background compactions (`floe.auto-compact.min-small-files`) under
    /// way, e.g. before a script's process exits.
    pub async fn wait_for_auto_compaction(&self) {
        self.warehouse.catalog.auto_compaction().wait_idle().await
    }

    /// The errors background compactions met, oldest first (each was also printed to
    /// stderr).
    pub fn auto_compaction_errors(&self) -> Vec<String> {
        self.warehouse.catalog.auto_compaction().errors()
    }

    /// The DataFusion session, for faces that need its settings.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// Splits a SQL text into statements without running anything.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let sql = &session_user::keyword_calls(sql);
        let search_path = self.settings().get("search_path").unwrap_or_default();
        if let Some(queries) = pg_compat::parse_catalog_query(sql, &search_path) {
            return Ok(queries
                .into_iter()
                .map(|q| Statement::DataFusion(Box::new(DFStatement::Statement(Box::new(q)))))
                .collect());
        }
        Ok(parse_sql(sql)?
            .into_iter()
            .map(|statement| match statement {
                Statement::DataFusion(df) => match *df {
                    DFStatement::Statement(sql) => Statement::DataFusion(Box::new(
                        DFStatement::Statement(Box::new(pg_compat::rewrite(*sql))),
                    )),
                    other => Statement::DataFusion(Box::new(other)),
                },
                other => other,
            })
            .collect())
    }

    /// Says what `statement` takes and returns without changing anything. Statements
    /// Floe answers itself (SHOW, DESCRIBE) are run to learn their columns; they only read.
    pub async fn describe(&self, statement: &Statement) -> Result<Described> {
        let no_parameters = |schema| Described {
            parameters: vec![],
            schema,
        };
        match statement {
            Statement::ShowSchemas
            | Statement::ShowTables { .. }
            | Statement::Describe { .. }
            | Statement::ShowCreateTable { .. } => Ok(no_parameters(
                self.execute(statement.clone()).await?.schema(),
            )),
            Statement::DataFusion(df) => {
                if let Some(session) = SessionStatement::recognise(df) {
                    return Ok(no_parameters(session.describe()));
                }
                self.prepare_catalog(df).await?;
                let statement = self.with_typed_literals(*df.clone()).await;
                let plan = self.ctx.state().statement_to_plan(statement).await?;
                let mut parameters: Vec<(usize, Option<FieldRef>)> = plan
                    .get_parameter_fields()?
                    .into_iter()
                    .filter_map(|(name, ty)| {
                        name.trim_start_matches('$')
                            .parse::<usize>()
                            .ok()
                            .map(|n| (n, ty))
                    })
                    .collect();
                parameters.sort_by_key(|(n, _)| *n);
                let count = parameters.last().map_or(0, |(n, _)| *n);
                let mut fields = vec![None; count];
                let cast = cast_placeholder_types(&plan);
                for (n, field) in parameters {
                    fields[n - 1] = field.or_else(|| {
                        let ty = cast.get(&format!("${n}"))?;
                        Some(Arc::new(Field::new(format!("${n}"), ty.clone(), true)))
                    });
                }
                let schema = match command_tag(&plan) {
                    Some(_) => None,
                    None => {
                        let schema = plan.schema().as_arrow();
                        Some(
                            display_zone::schema_in_zone(schema, &self.display_zone())
                                .unwrap_or_else(|| Arc::new(schema.clone())),
                        )
                    }
                };
                Ok(Described {
                    parameters: fields,
                    schema,
                })
            }
            Statement::Optimize { .. } => {
                Ok(no_parameters(Some(maintenance::optimize_result_schema())))
            }
            Statement::Vacuum { .. }
            | Statement::ExpireSnapshots { .. }
            | Statement::RemoveOrphanFiles { .. } => {
                Ok(no_parameters(Some(maintenance::vacuum_result_schema())))
            }
            _ => Ok(no_parameters(None)),
        }
    }

    /// Runs one statement with values for its `$n` placeholders.
    pub async fn execute_with_parameters(
        &self,
        statement: Statement,
        parameters: ParamValues,
    ) -> Result<Output> {
        match statement {
            Statement::DataFusion(df) if SessionStatement::recognise(&df).is_none() => {
                self.execute_datafusion(*df, Some(parameters)).await
            }
            other => self.execute(other).await,
        }
    }

    /// Runs one statement. A result set comes back as a stream that the caller drains.
    pub async fn execute(&self, statement: Statement) -> Result<Output> {
        progress::track(self.progress.clone(), self.run_statement(statement)).await
    }

    /// The rows and bytes the statement running in this session has written so far
    /// (INSERT, COPY FROM, CREATE TABLE AS, OPTIMIZE), for a face to show while it runs.
    pub fn write_progress(&self) -> Arc<WriteProgress> {
        self.progress.clone()
    }

    async fn run_statement(&self, statement: Statement) -> Result<Output> {
        let catalog = self.warehouse.catalog.as_ref();
        match statement {
            Statement::CreateSchema {
                name,
                if_not_exists,
            } => ddl::create_schema(catalog, &schema_name(&name)?, if_not_exists).await,
            Statement::DropSchema {
                name,
                if_exists,
                cascade,
            } => ddl::drop_schema(catalog, &schema_name(&name)?, if_exists, cascade).await,
            Statement::ShowSchemas => ddl::show_schemas(catalog).await,
            Statement::ShowTables { schema } => self.show_tables(schema.as_ref()).await,
            Statement::CreateTable(create) => self.create_table(*create).await,
            Statement::DropTable { name, if_exists } => {
                let ident = table_name(&name, &self.current_schema())?;
                if self
                    .live
                    .drop_session_table(&ident.namespace().join("."), ident.name())
                {
                    return Ok(Output::command("DROP TABLE"));
                }
                ddl::drop_table(catalog, &ident, if_exists).await
            }
            Statement::Describe { table } => {
                let ident = table_name(&table, &self.current_schema())?;
                match self
                    .live
                    .session_table(&ident.namespace().join("."), ident.name())
                {
                    Some(provider) => describe_provider(provider.as_ref()),
                    None => ddl::describe(&self.load_table(&ident).await?),
                }
            }
            Statement::ShowCreateTable { table } => {
                let ident = table_name(&table, &self.current_schema())?;
                ddl::show_create_table(&ident, &self.load_table(&ident).await?)
            }
            Statement::Optimize {
                table,
                filter,
                file_size_threshold,
                order,
            } => {
                let ident = self.iceberg_table_name(&table).await?;
                let request = OptimizeRequest {
                    filter,
                    file_size_threshold,
                    order,
                    min_small_files: None,
                };
                maintenance::run_optimize(&self.ctx, &self.warehouse.catalog, &ident, request).await
            }
            Statement::Vacuum {
                table,
                retain,
                dry_run,
            } => {
                let request = VacuumRequest {
                    scope: VacuumScope::Full,
                    retention: retain,
                    dry_run,
                };
                self.vacuum(&table, request).await
            }
            Statement::ExpireSnapshots { table, retention } => {
                let request = VacuumRequest {
                    scope: VacuumScope::ExpireSnapshots,
                    retention,
                    dry_run: false,
                };
                self.vacuum(&table, request).await
            }
            Statement::RemoveOrphanFiles { table, retention } => {
                let request = VacuumRequest {
                    scope: VacuumScope::RemoveOrphans,
                    retention,
                    dry_run: false,
                };
                self.vacuum(&table, request).await
            }
            Statement::RollbackToSnapshot { table, snapshot_id } => {
                let ident = self.iceberg_table_name(&table).await?;
                maintenance::run_rollback(catalog, &ident, snapshot_id).await
            }
            Statement::CopyFrom {
                table,
                source: Some(source),
                options,
            } => self.copy_from(&table, &source, &options, None).await,
            Statement::CopyFrom { source: None, .. } => Err(FloeError::unsupported(
                "COPY ... FROM STDIN needs a client that sends the rows, such as psql's \\copy \
                 over the PostgreSQL protocol; here, COPY ... FROM 'path' reads files",
            )),
            Statement::CopyTo { target: None, .. } => Err(FloeError::unsupported(
                "COPY ... TO STDOUT needs a client that receives the rows, such as psql over \
                 the PostgreSQL protocol; here, COPY ... TO 'path' writes a file",
            )),
            Statement::CopyTo {
                query,
                target: Some(target),
                options,
            } => {
                let plan = self.plan_query(query).await?;
                let rows = copy::export(&self.ctx, plan, &target, &options).await?;
                Ok(Output::Command {
                    tag: "COPY",
                    rows: Some(rows),
                    written: None,
                })
            }
            Statement::SetFloeOption { name, value } => self.floe_settings.set(&name, &value),
            Statement::DataFusion(statement) if is_deallocate_all(&statement) => {
                self.deallocate_all().await?;
                Ok(Output::command("DEALLOCATE"))
            }
            Statement::DataFusion(statement) => match SessionStatement::recognise(&statement) {
                Some(session) => {
                    let discard_all =
                        matches!(session, SessionStatement::Discard { tag: "DISCARD ALL" });
                    let output = self.execute_session(session)?;
                    if discard_all {
                        self.deallocate_all().await?;
                    }
                    Ok(output)
                }
                None => self.execute_datafusion(*statement, None).await,
            },
        }
    }

    /// Parses and runs every statement of `sql`, returning the last one's output.
    pub async fn execute_sql(&self, sql: &str) -> Result<Output> {
        let mut last = Output::command("EMPTY");
        for statement in self.parse(sql)? {
            last = self.execute(statement).await?;
        }
        Ok(last)
    }

    pub fn current_schema(&self) -> String {
        self.ctx
            .state()
            .config()
            .options()
            .catalog
            .default_schema
            .clone()
    }

    /// The Iceberg table `name` refers to, which must exist.
    async fn iceberg_table_name(
        &self,
        name: &datafusion::sql::sqlparser::ast::ObjectName,
    ) -> Result<TableIdent> {
        let ident = table_name(name, &self.current_schema())?;
        self.load_table(&ident).await?;
        Ok(ident)
    }

    async fn vacuum(
        &self,
        table: &datafusion::sql::sqlparser::ast::ObjectName,
        request: VacuumRequest,
    ) -> Result<Output> {
        let ident = self.iceberg_table_name(table).await?;
        maintenance::run_vacuum(
            &self.warehouse.catalog,
            &ident,
            request,
            &self.floe_settings,
        )
        .await
    }

    async fn load_table(&self, ident: &TableIdent) -> Result<Table> {
        match self.warehouse.catalog.load_table(ident).await {
            Ok(table) => Ok(table),
            Err(err) if err.kind() == ErrorKind::TableNotFound => Err(ddl::no_such_table(ident)),
            Err(err) => Err(err.into()),
        }
    }

    async fn show_tables(
        &self,
        schema: Option<&datafusion::sql::sqlparser::ast::ObjectName>,
    ) -> Result<Output> {
        let namespace = match schema {
            Some(name) => schema_name(name)?,
            None => iceberg::NamespaceIdent::new(self.current_schema()),
        };
        let mut names: Vec<String> = match self.warehouse.catalog.list_tables(&namespace).await {
            Ok(tables) => tables.into_iter().map(|t| t.name).collect(),
            Err(err) if err.kind() == ErrorKind::NamespaceNotFound => {
                return Err(FloeError::new(
                    crate::error::sqlstate::UNDEFINED_SCHEMA,
                    format!("schema {} does not exist", namespace.join(".")),
                ));
            }
            Err(err) => return Err(err.into()),
        };
        names.extend(self.live.session_table_names(&namespace.join(".")));
        names.sort();
        Output::text_table(
            &["table_name"],
            names.into_iter().map(|n| vec![Some(n)]).collect(),
        )
    }

    async fn create_table(&self, create: CreateTable) -> Result<Output> {
        let ident = table_name(&create.name, &self.current_schema())?;
        let query_plan = match &create.query {
            Some(query) => Some(self.plan_query(query.clone()).await?),
            None => None,
        };
        let schema = match &query_plan {
            Some(plan) if create.columns.is_empty() => schema_from_plan(plan)?,
            _ => ddl::schema_from_columns(&create.columns)?,
        };
        let spec = ddl::partition_spec(&create.partition_by, &schema)?;
        let sort_order = sort_order::from_keys(&create.order_by, &schema)?;
        let created = ddl::create_table(
            self.warehouse.catalog.as_ref(),
            &ident,
            schema,
            spec,
            sort_order,
            create.properties,
            create.if_not_exists,
        )
        .await?;
        let (Some(table), Some(plan)) = (created, query_plan) else {
            return Ok(Output::command("CREATE TABLE"));
        };
        // CREATE TABLE AS: the table exists only if its rows were committed too.
        match self
            .insert_plan(&ident, table, plan, self.ctx.state())
            .await
        {
            Ok((rows, written)) => Ok(Output::Command {
                tag: "SELECT",
                rows: Some(rows),
                written,
            }),
            Err(err) => {
                let _ = ddl::drop_table(self.warehouse.catalog.as_ref(), &ident, true).await;
                Err(err)
            }
        }
    }

    /// Loads the files `source` names into `table` in one commit. Error messages name the
    /// files as `shown` when given (a client's STDIN spooled to a file, say).
    pub async fn copy_from(
        &self,
        table: &datafusion::sql::sqlparser::ast::ObjectName,
        source: &str,
        options: &CopyOptions,
        shown: Option<&str>,
    ) -> Result<Output> {
        let ident = table_name(table, &self.current_schema())?;
        let table = self.load_table(&ident).await?;
        let files = CopySource::open(
            &self.ctx,
            source,
            options,
            table.metadata().current_schema(),
            ident.to_string(),
            shown,
        )
        .await?;
        let plan = files.plan(&self.ctx).await?;
        let mut state = self.ctx.state();
        let batch_size = &mut state.config_mut().options_mut().execution.batch_size;
        *batch_size = (*batch_size).max(LOAD_BATCH_ROWS);
        match self.insert_plan(&ident, table, plan, state).await {
            Ok((rows, written)) => Ok(Output::Command {
                tag: "COPY",
                rows: Some(rows),
                written,
            }),
            Err(err) => Err(files.explain(&self.ctx, err).await),
        }
    }

    /// Loads rows that a face decodes itself (PostgreSQL's binary COPY, say) into `table`
    /// in one commit, through the same INSERT path as [`Engine::copy_from`]. `decode` is
    /// given the table's name and columns (their nullability included) and returns the rows
    /// with those columns, all nullable; an error it yields fails the load, committing
    /// nothing.
    pub async fn copy_from_stream<F>(
        &self,
        table: &datafusion::sql::sqlparser::ast::ObjectName,
        decode: F,
    ) -> Result<Output>
    where
        F: FnOnce(&str, SchemaRef) -> BoxStream<'static, Result<RecordBatch>>,
    {
        let ident = table_name(table, &self.current_schema())?;
        let table = self.load_table(&ident).await?;
        let columns = Arc::new(iceberg::arrow::schema_to_arrow_schema(
            table.metadata().current_schema(),
        )?);
        let nullable: Vec<_> = columns
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let rows = decode(&ident.to_string(), columns)
            .map_err(|err| DataFusionError::External(Box::new(err)));
        let schema = Arc::new(ArrowSchema::new(nullable));
        let rows = Box::pin(RecordBatchStreamAdapter::new(schema.clone(), rows));
        let source = StreamingTable::try_new(schema, vec![Arc::new(OneStream::new(rows))])?;
        let plan = self
            .ctx
            .read_table(Arc::new(source))?
            .into_unoptimized_plan();
        let (rows, written) = self
            .insert_plan(&ident, table, plan, self.ctx.state())
            .await?;
        Ok(Output::Command {
            tag: "COPY",
            rows: Some(rows),
            written,
        })
    }

    /// The rows of `query`, for a face that sends them on (COPY ... TO STDOUT).
    pub async fn query_rows(&self, query: Box<Query>) -> Result<Output> {
        let statement = DFStatement::Statement(Box::new(SqlStatement::Query(query)));
        self.execute_datafusion(statement, None).await
    }

    async fn plan_query(&self, query: Box<Query>) -> Result<LogicalPlan> {
        let statement = DFStatement::Statement(Box::new(SqlStatement::Query(query)));
        self.prepare_catalog(&statement).await?;
        Ok(self.ctx.state().statement_to_plan(statement).await?)
    }

    /// Appends the rows of `plan` to `table`, cast by position to the table's columns,
    /// planned and run in `state`.
    async fn insert_plan(
        &self,
        ident: &TableIdent,
        table: Table,
        plan: LogicalPlan,
        state: SessionState,
    ) -> Result<(u64, Option<WriteSummary>)> {
        let provider = Arc::new(IcebergTable::new(self.warehouse.catalog.clone(), table)?);
        let target = provider.schema();
        if target.fields().len() != plan.schema().fields().len() {
            return Err(FloeError::new(
                crate::error::sqlstate::SYNTAX_ERROR,
                format!(
                    "the query returns {} columns but the table has {}",
                    plan.schema().fields().len(),
                    target.fields().len()
                ),
            ));
        }
        let casts = plan
            .schema()
            .columns()
            .into_iter()
            .zip(target.fields())
            .map(|(column, field)| {
                Ok(Expr::Column(column)
                    .cast_to(field.data_type(), plan.schema())?
                    .alias(field.name()))
            })
            .collect::<Result<Vec<_>>>()?;
        let reference = TableReference::full(
            CATALOG_NAME,
            ident.namespace().join("."),
            ident.name().to_string(),
        );
        let insert = LogicalPlanBuilder::from(plan)
            .project(casts)?
            .build()
            .and_then(|projected| {
                LogicalPlanBuilder::insert_into(
                    projected,
                    reference,
                    provider_as_source(provider),
                    InsertOp::Append,
                )
            })?
            .build()?;
        self.run_write(DataFrame::new(state, insert)).await
    }

    /// Runs a plan that writes (INSERT, COPY), returning its row count and, for writes
    /// into Iceberg tables, what they wrote.
    async fn run_write(&self, frame: DataFrame) -> Result<(u64, Option<WriteSummary>)> {
        let task = Arc::new(frame.task_ctx());
        let plan = frame.create_physical_plan().await?;
        let batches = datafusion::physical_plan::collect(plan.clone(), task).await?;
        let rows = count_from(&batches);
        Ok((rows, write_summary(plan.as_ref(), rows)))
    }

    /// `statement` with the text literals an `INSERT ... VALUES` puts into uuid and binary
    /// columns read as uuids and bytea, as PostgreSQL reads them (DataFusion cannot cast
    /// text to a uuid, and its text-to-binary cast keeps the characters).
    async fn with_typed_literals(&self, mut statement: DFStatement) -> DFStatement {
        let DFStatement::Statement(sql) = &mut statement else {
            return statement;
        };
        let SqlStatement::Insert(insert) = sql.as_mut() else {
            return statement;
        };
        let TableObject::TableName(name) = &insert.table else {
            return statement;
        };
        let Ok(provider) = self.ctx.table_provider(name.to_string()).await else {
            return statement;
        };
        let schema = provider.schema();
        let targets: Vec<Option<FieldRef>> = if insert.columns.is_empty() {
            schema.fields().iter().cloned().map(Some).collect()
        } else {
            insert
                .columns
                .iter()
                .map(|column| {
                    let name = match column.quote_style {
                        Some(_) => column.value.clone(),
                        None => column.value.to_lowercase(),
                    };
                    schema.field_with_name(&name).ok().cloned().map(Arc::new)
                })
                .collect()
        };
        insert_literals::read_as_column_types(insert, |position| {
            targets.get(position).and_then(Option::clone)
        });
        statement
    }

    /// Refreshes the table listing when the statement reads it (information_schema,
    /// pg_catalog).
    async fn prepare_catalog(&self, statement: &DFStatement) -> Result<()> {
        let references = self.ctx.state().resolve_table_references(statement)?;
        let reads_listing = references.iter().any(|r| {
            r.schema().is_some_and(|s| {
                s.eq_ignore_ascii_case("information_schema") || s.eq_ignore_ascii_case("pg_catalog")
            })
        });
        let is_show = matches!(statement, DFStatement::Statement(s) if matches!(**s, SqlStatement::ShowTables { .. } | SqlStatement::ShowColumns { .. }));
        if reads_listing || is_show {
            self.live.refresh().await?;
        }
        if self.function_signatures.needed_by(&statement.to_string()) {
            self.function_signatures.load(&self.ctx).await?;
        }
        Ok(())
    }

    async fn execute_datafusion(
        &self,
        statement: DFStatement,
        parameters: Option<ParamValues>,
    ) -> Result<Output> {
        self.prepare_catalog(&statement).await?;
        let statement = self.with_typed_literals(statement).await;
        let mut plan = self.ctx.state().statement_to_plan(statement).await?;
        if let Some(parameters) = parameters {
            plan = plan.with_param_values(parameters)?;
        }
        let tag = command_tag(&plan);
        let prepared_name = match &plan {
            LogicalPlan::Statement(datafusion::logical_expr::Statement::Prepare(p)) => {
                Some((p.name.clone(), true))
            }
            LogicalPlan::Statement(datafusion::logical_expr::Statement::Deallocate(d)) => {
                Some((d.name.clone(), false))
            }
            _ => None,
        };
        let frame = self.ctx.execute_logical_plan(plan).await?;
        if let Some((name, made)) = prepared_name {
            let mut prepared = self.prepared.lock().expect("prepared lock");
            if made {
                prepared.insert(name);
            } else {
                prepared.remove(&name);
            }
        }
        match tag {
            Some(tag @ ("INSERT" | "COPY")) => {
                let (rows, written) = self.run_write(frame).await?;
                Ok(Output::Command {
                    tag,
                    rows: Some(rows),
                    written,
                })
            }
            Some(tag) => {
                frame.collect().await?;
                Ok(Output::command(tag))
            }
            None => Ok(Output::Rows(display_zone::stream_in_zone(
                frame.execute_stream().await?,
                &self.display_zone(),
            ))),
        }
    }

    /// The zone results show timestamptz values in: the session's TimeZone, as DataFusion
    /// was given it.
    fn display_zone(&self) -> String {
        // Read in place: `ctx.state()` would clone the whole session state per statement.
        let state = self.ctx.state_ref();
        let zone = state.read().config().options().execution.time_zone.clone();
        zone.unwrap_or_else(|| "+00:00".to_string())
    }
}

impl Engine {
    /// Drops every statement this session made with SQL `PREPARE`.
    async fn deallocate_all(&self) -> Result<()> {
        let names = std::mem::take(&mut *self.prepared.lock().expect("prepared lock"));
        for name in names {
            let deallocate = datafusion::logical_expr::Statement::Deallocate(
                datafusion::logical_expr::Deallocate { name },
            );
            self.ctx
                .execute_logical_plan(LogicalPlan::Statement(deallocate))
                .await?;
        }
        Ok(())
    }

    fn execute_session(&self, statement: SessionStatement) -> Result<Output> {
        let output = {
            let mut settings = self.settings.lock().expect("settings lock");
            statement.execute(&mut settings)?
        };
        self.apply_settings();
        Ok(output)
    }

    /// Carries the settings that change how statements run into DataFusion's config.
    fn apply_settings(&self) {
        let settings = self.settings();
        setting_functions::apply(&settings, &mut self.ctx.state_ref().write());
    }
}

/// `DEALLOCATE [PREPARE] ALL` (DataFusion would look for a statement named "all").
fn is_deallocate_all(statement: &DFStatement) -> bool {
    matches!(statement, DFStatement::Statement(sql)
        if matches!(sql.as_ref(), SqlStatement::Deallocate { name, .. }
            if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all")))
}

/// PostgreSQL's command tag for plans that change something; `None` for queries.
fn command_tag(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::Dml(dml) => Some(match dml.op {
            WriteOp::Insert(_) => "INSERT",
            WriteOp::Delete => "DELETE",
            WriteOp::Update => "UPDATE",
            WriteOp::Ctas => "SELECT",
            WriteOp::Truncate => "TRUNCATE TABLE",
        }),
        LogicalPlan::Copy(_) => Some("COPY"),
        LogicalPlan::Ddl(ddl) => Some(match ddl {
            DdlStatement::CreateExternalTable(_) | DdlStatement::CreateMemoryTable(_) => {
                "CREATE TABLE"
            }
            DdlStatement::CreateView(_) => "CREATE VIEW",
            DdlStatement::DropView(_) => "DROP VIEW",
            DdlStatement::DropTable(_) => "DROP TABLE",
            DdlStatement::CreateCatalogSchema(_) | DdlStatement::CreateCatalog(_) => {
                "CREATE SCHEMA"
            }
            DdlStatement::DropCatalogSchema(_) => "DROP SCHEMA",
            DdlStatement::CreateIndex(_) => "CREATE INDEX",
            DdlStatement::CreateFunction(_) => "CREATE FUNCTION",
            DdlStatement::DropFunction(_) => "DROP FUNCTION",
        }),
        LogicalPlan::Statement(statement) => Some(match statement {
            datafusion::logical_expr::Statement::SetVariable(_) => "SET",
            datafusion::logical_expr::Statement::ResetVariable(_) => "RESET",
            datafusion::logical_expr::Statement::TransactionStart(_) => "BEGIN",
            datafusion::logical_expr::Statement::TransactionEnd(_) => "COMMIT",
            datafusion::logical_expr::Statement::Prepare(_) => "PREPARE",
            datafusion::logical_expr::Statement::Deallocate(_) => "DEALLOCATE",
            datafusion::logical_expr::Statement::Execute(_) => return None,
        }),
        _ => None,
    }
}

/// The row count DataFusion's DML and COPY plans return as a single `count` value.
pub(crate) fn count_from(batches: &[datafusion::arrow::array::RecordBatch]) -> u64 {
    batches
        .iter()
        .filter(|b| b.num_columns() == 1)
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|a| (0..a.len()).map(|i| a.value(i)).sum::<u64>())
        })
        .sum()
}

/// The write metrics an Iceberg sink at the root of `plan` reported.
fn write_summary(
    plan: &dyn datafusion::physical_plan::ExecutionPlan,
    rows: u64,
) -> Option<WriteSummary> {
    let metrics = plan.metrics()?;
    let [files, bytes, uncompressed_bytes] =
        WRITE_METRICS.map(|name| metrics.sum_by_name(name).map(|v| v.as_usize() as u64));
    Some(WriteSummary {
        rows,
        files: files?,
        bytes: bytes?,
        uncompressed_bytes: uncompressed_bytes?,
    })
}

/// The Iceberg schema for the result of `plan` (CREATE TABLE AS without a column list).
fn schema_from_plan(plan: &LogicalPlan) -> Result<Schema> {
    let fields = plan
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let ty = iceberg_type_from_arrow(field.data_type()).map_err(|err| {
                FloeError::new(
                    err.sqlstate,
                    format!("column {}: {}", field.name(), err.message),
                )
            })?;
            Ok(Arc::new(NestedField::optional(
                i as i32 + 1,
                field.name(),
                ty,
            )))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Schema::builder().with_fields(fields).build()?)
}

fn describe_provider(provider: &dyn TableProvider) -> Result<Output> {
    let rows = provider
        .schema()
        .fields()
        .iter()
        .map(|f| {
            vec![
                Some(f.name().clone()),
                Some(f.data_type().to_string()),
                Some(if f.is_nullable() { "YES" } else { "NO" }.to_string()),
                None,
            ]
        })
        .collect();
    Output::text_table(
        &[
            "column_name",
            "data_type",
            "is_nullable",
            "partition_transform",
        ],
        rows,
    )
}

/// The types of placeholders written with a cast (`$1::oid[]`), which DataFusion leaves
/// uninferred: PostgreSQL takes the cast's type as the parameter's.
fn cast_placeholder_types(plan: &LogicalPlan) -> std::collections::HashMap<String, DataType> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{Cast, TryCast};
    let mut types = std::collections::HashMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let datafusion::logical_expr::Expr::Cast(Cast { expr, data_type })
                | datafusion::logical_expr::Expr::TryCast(TryCast { expr, data_type }) = e
                    && let datafusion::logical_expr::Expr::Placeholder(placeholder) = expr.as_ref()
                {
                    types
                        .entry(placeholder.id.clone())
                        .or_insert_with(|| data_type.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    types
}
