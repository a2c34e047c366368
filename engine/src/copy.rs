//! COPY: loading files into an Iceberg table and exporting query results to a file.
//!
//! A load reads every file the source names (a file, a directory or a glob, on any store
//! DataFusion knows) against the table's own schema, never an inferred one, and writes
//! the rows through the table's one INSERT path, so they land in one commit or not at all.
//! CSV is parsed at full speed with all files in parallel; only when that fails are the
//! files read again, one by one and in order, to name the file, line and column at fault.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::file_format::options::ReadOptions;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::functions::expr_fn::nullif;
use datafusion::logical_expr::{Expr, LogicalPlan, ScalarUDF, cast, lit, when};
use datafusion::object_store::ObjectStoreExt;
use datafusion::object_store::buffered::BufWriter;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions};
use futures::{StreamExt, TryStreamExt};
use iceberg::spec::{Schema as IcebergSchema, Type};
use tokio::io::AsyncWriteExt;

use crate::copy_lines::CopyLines;
use crate::csv_fields;
use crate::error::{FloeError, Result, sqlstate};
use crate::parser::{CopyFormat, CopyOptions};
use crate::pg_text;
use crate::types::sql_name;
use crate::{bytea_text, uuid_text};

/// The files of one COPY FROM and how to read them.
pub struct CopySource {
    /// The files read: those named, or their marked copies (CSV).
    files: Vec<String>,
    /// The files named, in the same order, for messages.
    named: Vec<String>,
    format: CopyFormat,
    options: CopyOptions,
    /// The table's columns, all nullable: NOT NULL is checked by the writer, which names
    /// the column.
    read_schema: SchemaRef,
    table_schema: IcebergSchema,
    table_name: String,
    /// How messages name the input (`STDIN`, say) instead of `file <path>`.
    shown: Option<String>,
    /// Where CSV files are copied with their fields marked (see `csv_fields`), when they
    /// need it; removed with the source.
    marked: Option<tempfile::TempDir>,
}

impl CopySource {
    /// Lists the files `source` names; there must be at least one.
    pub async fn open(
        ctx: &SessionContext,
        source: &str,
        options: &CopyOptions,
        table_schema: &IcebergSchema,
        table_name: String,
        shown: Option<&str>,
    ) -> Result<Self> {
        let format = match options.format {
            Some(CopyFormat::Binary) => return Err(binary_needs_a_client()),
            Some(format) => format,
            None => format_from_extension(source).unwrap_or(CopyFormat::Text),
        };
        let named = list_files(ctx, source).await?;
        let (files, marked) = match format {
            CopyFormat::Csv | CopyFormat::Text
                if needs_marking(ctx, &named, format, options).await? =>
            {
                let (dir, marked) = mark_fields(ctx, &named, format, options).await?;
                (marked, Some(dir))
            }
            _ => (named.clone(), None),
        };
        let arrow_schema = iceberg::arrow::schema_to_arrow_schema(table_schema)?;
        let read_schema = Arc::new(Schema::new(
            arrow_schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        Ok(Self {
            files,
            named,
            format,
            options: options.clone(),
            read_schema,
            table_schema: table_schema.clone(),
            table_name,
            shown: shown.map(str::to_string),
            marked,
        })
    }

    /// The rows of every file, in the table's columns.
    pub async fn plan(&self, ctx: &SessionContext) -> Result<LogicalPlan> {
        let frame = match (self.format, self.null_marker()) {
            (CopyFormat::Text, None) | (CopyFormat::Csv, None)
                if self.marked.is_none() && !self.has_columns_read_as_text() =>
            {
                ctx.read_csv(self.files.clone(), self.csv_options(&self.read_schema))
                    .await?
            }
            (CopyFormat::Csv | CopyFormat::Text, marker) => {
                // DataFusion's CSV reader has no NULL marker of its own, nor reads uuid
                // or bytea text, nor timestamps as PostgreSQL writes them: read text, turn
                // the marker into NULL, decode the text format's escapes, then convert to
                // the column types (casts, which read timestamps without seconds too).
                let text_schema = text_schema(&self.read_schema);
                let frame = ctx
                    .read_csv(self.files.clone(), self.csv_options(&text_schema))
                    .await?;
                let decode = pg_text::decode_function();
                let columns = self
                    .read_schema
                    .fields()
                    .iter()
                    .zip(self.table_schema.as_struct().fields())
                    .map(|(field, table_field)| {
                        let mut value = Expr::Column(Column::from_name(field.name()));
                        if let Some(marker) = &marker {
                            value = nullif(value, lit(marker.clone()));
                        }
                        if self.marked.is_some() {
                            value = when(value.clone().eq(lit(self.empty_marker())), lit(""))
                                .otherwise(value)?;
                        }
                        if self.format == CopyFormat::Text {
                            value = decode.call(vec![value]);
                        }
                        Ok(from_text(value, &table_field.field_type, field.data_type())
                            .alias(field.name()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                frame.select(columns)?
            }
            (CopyFormat::Json, _) => {
                let options = JsonReadOptions {
                    schema: Some(&self.read_schema),
                    file_extension: "",
                    ..JsonReadOptions::default()
                };
                ctx.read_json(self.files.clone(), options).await?
            }
            (CopyFormat::Parquet, _) => {
                let frame = self.read_parquet(ctx).await?;
                self.by_name(frame)?
            }
            (CopyFormat::Binary, _) => return Err(binary_needs_a_client()),
        };
        Ok(frame.into_unoptimized_plan())
    }

    /// The Parquet files, strings read as the table's `Utf8` rather than DataFusion's
    /// default views, which a load would only cast back value by value. (A file whose
    /// Arrow schema asks for views, as tpchgen's do, is still read as views.)
    async fn read_parquet(&self, ctx: &SessionContext) -> Result<DataFrame> {
        let options = ParquetReadOptions {
            file_extension: "",
            ..ParquetReadOptions::default()
        };
        let mut table_options = ctx.copied_table_options();
        table_options.parquet.global.schema_force_view_types = false;
        let listing = options.to_listing_options(&ctx.copied_config(), table_options);
        let urls = self
            .files
            .iter()
            .map(ListingTableUrl::parse)
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let schema = listing.infer_schema(&ctx.state(), &urls[0]).await?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(listing)
            .with_schema(schema);
        Ok(ctx.read_table(Arc::new(ListingTable::try_new(config)?))?)
    }

    /// Parquet files carry their own column names: take the table's columns by name,
    /// NULL for those a file lacks; a column the table does not have is an error.
    fn by_name(&self, frame: DataFrame) -> Result<DataFrame> {
        let file_columns: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if let Some(extra) = file_columns
            .iter()
            .find(|c| self.read_schema.field_with_name(c).is_err())
        {
            return Err(FloeError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!(
                    "COPY {}: the files have column {extra}, which the table does not have",
                    self.table_name
                ),
            ));
        }
        let columns = self
            .read_schema
            .fields()
            .iter()
            .map(|field| {
                if file_columns.contains(field.name()) {
                    Expr::Column(Column::from_name(field.name()))
                } else {
                    Expr::Literal(ScalarValue::Null, None).alias(field.name())
                }
            })
            .collect::<Vec<_>>();
        Ok(frame.select(columns)?)
    }

    /// Whether the table has uuid or binary columns, whose text only Floe reads, or
    /// timestamps, whose text without seconds only the cast reads.
    fn has_columns_read_as_text(&self) -> bool {
        use iceberg::spec::PrimitiveType as P;
        self.table_schema.as_struct().fields().iter().any(|field| {
            binary_text(&field.field_type).is_some()
                || matches!(
                    *field.field_type,
                    Type::Primitive(
                        P::Timestamp | P::Timestamptz | P::TimestampNs | P::TimestamptzNs
                    )
                )
        })
    }

    /// The text that stands for NULL; `None`: an empty field (in CSV files, whose
    /// fields are marked, always).
    fn null_marker(&self) -> Option<String> {
        match (&self.options.null, self.format) {
            (_, CopyFormat::Csv) => None,
            (Some(null), _) if !null.is_empty() => Some(null.clone()),
            (None, CopyFormat::Text) => Some("\\N".to_string()),
            _ => None,
        }
    }

    fn empty_marker(&self) -> &'static str {
        empty_marker(self.format)
    }

    fn csv_options<'a>(&self, schema: &'a Schema) -> CsvReadOptions<'a> {
        let text = self.format == CopyFormat::Text;
        let delimiter = self
            .options
            .delimiter
            .unwrap_or(if text { '\t' } else { ',' });
        let mut options = CsvReadOptions::new()
            .schema(schema)
            .has_header(self.options.header)
            .delimiter(delimiter as u8)
            .file_extension("");
        // Text has no quoting; a NUL quote character never appears in text.
        options = options.quote(if text {
            0
        } else {
            self.options.quote.unwrap_or('"') as u8
        });
        if let Some(escape) = self.options.escape {
            options = options.escape(escape as u8);
        }
        options
    }

    /// After a failed load, finds the first bad value in file order and names its file,
    /// line and column; any other failure is returned as it was.
    pub async fn explain(&self, ctx: &SessionContext, err: FloeError) -> FloeError {
        if !matches!(self.format, CopyFormat::Csv | CopyFormat::Text) {
            return err;
        }
        // One partition per file, so rows come in file order and lines can be counted.
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_repartition_file_scans(false);
        let ctx = SessionContext::new_with_config_rt(config, ctx.runtime_env());
        for (file, named) in self.files.iter().zip(&self.named) {
            let shown = match &self.shown {
                Some(shown) => shown.clone(),
                None => format!("file {}", named.strip_prefix("file://").unwrap_or(named)),
            };
            match self.find_bad_value(&ctx, file, &shown).await {
                Ok(None) => continue,
                Ok(Some(found)) => return found,
                Err(read_error) => {
                    return FloeError::new(
                        read_error.sqlstate,
                        format!("COPY {}: {shown}: {}", self.table_name, read_error.message),
                    );
                }
            }
        }
        err
    }

    /// Reads `file` as text and tries each value against its column's type; `shown` is
    /// how messages name it.
    async fn find_bad_value(
        &self,
        ctx: &SessionContext,
        file: &str,
        shown: &str,
    ) -> Result<Option<FloeError>> {
        let text_schema = text_schema(&self.read_schema);
        let null_marker = self.null_marker();
        let mut batches = ctx
            .read_csv(vec![file.to_string()], self.csv_options(&text_schema))
            .await?
            .execute_stream()
            .await?;
        let first_line = if self.options.header { 2 } else { 1 };
        let mut rows_before = 0usize;
        let fields = self.table_schema.as_struct().fields();
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            for ((text, target), field) in batch
                .columns()
                .iter()
                .zip(self.read_schema.fields())
                .zip(fields)
            {
                let mut text = without_marker(text, null_marker.as_deref())?;
                if self.marked.is_some() {
                    text = empty_strings(&text, self.empty_marker());
                }
                if self.format == CopyFormat::Text {
                    text = match decoded(&text) {
                        Ok(text) => text,
                        Err((row, message)) => {
                            return Ok(Some(FloeError::new(
                                sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                                format!(
                                    "COPY {}: {message} ({shown}, line {})",
                                    self.table_name,
                                    first_line + rows_before + row
                                ),
                            )));
                        }
                    };
                }
                let unreadable = match binary_text(&field.field_type) {
                    Some(reading) => first_unreadable(&text, reading),
                    None => first_unconvertible(&text, target.data_type())?,
                };
                let Some((row, value)) = unreadable else {
                    if field.required
                        && let Some(row) = (0..text.len()).find(|&i| text.is_null(i))
                    {
                        return Ok(Some(FloeError::new(
                            sqlstate::NOT_NULL_VIOLATION,
                            format!(
                                "COPY {}: null value in column {} violates not-null constraint \
                                 ({shown}, line {})",
                                self.table_name,
                                field.name,
                                first_line + rows_before + row
                            ),
                        )));
                    }
                    continue;
                };
                return Ok(Some(FloeError::new(
                    value_error_code(&field.field_type, &value),
                    format!(
                        "COPY {}: invalid value \"{value}\" for column {} of type {} \
                         ({shown}, line {})",
                        self.table_name,
                        field.name,
                        sql_name(&field.field_type),
                        first_line + rows_before + row
                    ),
                )));
            }
            rows_before += batch.num_rows();
        }
        Ok(None)
    }
}

/// The same columns, all read as text.
fn text_schema(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    )
}

/// Marked text with its `marker` of the empty string made the empty string again.
fn empty_strings(text: &ArrayRef, marker: &str) -> ArrayRef {
    let values: StringArray = text
        .as_string::<i32>()
        .iter()
        .map(|value| value.map(|v| if v == marker { "" } else { v }))
        .collect();
    Arc::new(values)
}

/// What stands for the empty string in marked files of `format`.
fn empty_marker(format: CopyFormat) -> &'static str {
    match format {
        CopyFormat::Text => csv_fields::EMPTY_IN_TEXT,
        _ => csv_fields::EMPTY,
    }
}

/// Whether `files` must be marked before they are read (see [`csv_fields`]): CSV when a
/// field may be `""` (two quotes in a row) or the NULL string is not empty; text when a
/// field may be empty (two delimiters in a row, or one at either end of a line) and the
/// NULL string is not the empty field. Found with one `memchr` pass over each file; other
/// files read the same either way and are read as they are, since marking costs a copy.
async fn needs_marking(
    ctx: &SessionContext,
    files: &[String],
    format: CopyFormat,
    options: &CopyOptions,
) -> Result<bool> {
    let null_is_empty = options.null.as_deref().is_some_and(str::is_empty);
    let (pairs, empty_at_start) = if format == CopyFormat::Csv {
        if !null_is_empty && options.null.is_some() {
            return Ok(true);
        }
        let quote = options.quote.unwrap_or('"') as u8;
        (vec![[quote, quote]], false)
    } else {
        if null_is_empty {
            return Ok(false);
        }
        let d = options.delimiter.unwrap_or('\t') as u8;
        (vec![[d, d], [d, b'\n'], [d, b'\r'], [b'\n', d]], true)
    };
    let finders: Vec<_> = pairs.iter().map(memchr::memmem::Finder::new).collect();
    for file in files {
        let mut chunks = file_chunks(ctx, file).await?;
        // The last byte of one chunk and the first of the next are a pair too.
        let mut previous = empty_at_start.then_some(b'\n');
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(DataFusionError::from)?;
            let Some(&first) = chunk.first() else {
                continue;
            };
            if previous.is_some_and(|last| pairs.contains(&[last, first]))
                || finders.iter().any(|finder| finder.find(&chunk).is_some())
            {
                return Ok(true);
            }
            previous = chunk.last().copied();
        }
    }
    Ok(false)
}

/// The bytes a file is read in by [`file_chunks`].
const CHUNK_BYTES: u64 = 8 << 20;

/// The bytes of `file` in ranges of [`CHUNK_BYTES`], the next fetched while the last is
/// used. (An object store's own stream of a local file comes in 8 KiB pieces, each a
/// hand-off to a blocking thread: waking those threads was 12% of a CSV load's time.)
async fn file_chunks(
    ctx: &SessionContext,
    file: &str,
) -> Result<futures::stream::BoxStream<'static, datafusion::object_store::Result<bytes::Bytes>>> {
    let url = ListingTableUrl::parse(file)?;
    let store = ctx.runtime_env().object_store(&url)?;
    let path = url.prefix().clone();
    let size = store.head(&path).await.map_err(DataFusionError::from)?.size;
    let ranges = (0..size)
        .step_by(CHUNK_BYTES as usize)
        .map(move |start| start..(start + CHUNK_BYTES).min(size));
    Ok(futures::stream::iter(ranges)
        .map(move |range| {
            let (store, path) = (store.clone(), path.clone());
            async move { store.get_range(&path, range).await }
        })
        .buffered(2)
        .boxed())
}

/// Copies each CSV or text file into `dir` with its fields marked (see `csv_fields`),
/// streaming; returns the directory and the copies' paths, in the files' order.
async fn mark_fields(
    ctx: &SessionContext,
    files: &[String],
    format: CopyFormat,
    options: &CopyOptions,
) -> Result<(tempfile::TempDir, Vec<String>)> {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::Builder::new()
        .prefix("floe-copy-csv-")
        .tempdir()
        .map_err(|err| FloeError::new(sqlstate::IO_ERROR, format!("COPY: {err}")))?;
    // Text has no quotes: a NUL quote never appears in it.
    let (quote, delimiter, null) = match format {
        CopyFormat::Text => (0, options.delimiter.unwrap_or('\t'), "\\N"),
        _ => (
            options.quote.unwrap_or('"') as u8,
            options.delimiter.unwrap_or(','),
            "",
        ),
    };
    let mut marked = Vec::with_capacity(files.len());
    for (n, file) in files.iter().enumerate() {
        let mut chunks = file_chunks(ctx, file).await?;
        let path = dir.path().join(format!("{n:06}.csv"));
        let io_error =
            |err: std::io::Error| FloeError::new(sqlstate::IO_ERROR, format!("COPY: {err}"));
        let mut out = tokio::fs::File::create(&path).await.map_err(io_error)?;
        let mut marker = csv_fields::FieldMarker::new(
            delimiter as u8,
            quote,
            options.escape.map_or(quote, |escape| escape as u8),
            options.null.as_deref().unwrap_or(null),
            empty_marker(format),
        );
        let mut buffer = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(DataFusionError::from)?;
            buffer.clear();
            marker.push(&chunk, &mut buffer);
            out.write_all(&buffer).await.map_err(io_error)?;
        }
        buffer.clear();
        marker.finish(&mut buffer);
        out.write_all(&buffer).await.map_err(io_error)?;
        out.flush().await.map_err(io_error)?;
        marked.push(path.display().to_string());
    }
    Ok((dir, marked))
}

/// `text` with the NULL marker's occurrences made NULL.
fn without_marker(text: &ArrayRef, marker: Option<&str>) -> Result<ArrayRef> {
    let Some(marker) = marker else {
        return Ok(text.clone());
    };
    let strings = text.as_string::<i32>();
    let values: StringArray = strings
        .iter()
        .map(|value| value.filter(|v| *v != marker))
        .collect();
    Ok(Arc::new(values))
}

/// Text-format fields with their escapes decoded; else the row of the first that cannot
/// be decoded and why.
fn decoded(text: &ArrayRef) -> std::result::Result<ArrayRef, (usize, String)> {
    let strings = text.as_string::<i32>();
    let values = strings
        .iter()
        .enumerate()
        .map(|(row, value)| {
            value
                .map(|v| pg_text::decode(v).map(|d| d.into_owned()))
                .transpose()
                .map_err(|message| (row, message))
        })
        .collect::<std::result::Result<StringArray, _>>()?;
    Ok(Arc::new(values))
}

/// The first value of `text` that does not convert to `target`, with its row.
fn first_unconvertible(text: &ArrayRef, target: &DataType) -> Result<Option<(usize, String)>> {
    let options = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    // As the load reads it: timestamps without seconds are read as PostgreSQL does.
    let completed;
    let text = if matches!(target, DataType::Timestamp(..)) {
        completed = Arc::new(
            text.as_string::<i32>()
                .iter()
                .map(|value| value.map(crate::timestamp_text::with_seconds))
                .collect::<StringArray>(),
        ) as ArrayRef;
        &completed
    } else {
        text
    };
    let converted = cast_with_options(text, target, &options)?;
    let strings = text.as_string::<i32>();
    Ok((0..text.len())
        .find(|&i| !text.is_null(i) && converted.is_null(i))
        .map(|i| (i, strings.value(i).to_string())))
}

/// How text is read into a uuid or binary column (PostgreSQL's input forms, which
/// Arrow's casts do not know).
#[derive(Debug, Clone, Copy)]
enum BinaryText {
    Uuid,
    Bytea,
    /// `binary(n)`: bytea of exactly n bytes.
    Fixed(u64),
}

fn binary_text(ty: &Type) -> Option<BinaryText> {
    use iceberg::spec::PrimitiveType as P;
    match ty {
        Type::Primitive(P::Uuid) => Some(BinaryText::Uuid),
        Type::Primitive(P::Binary) => Some(BinaryText::Bytea),
        Type::Primitive(P::Fixed(width)) => Some(BinaryText::Fixed(*width)),
        _ => None,
    }
}

/// The values of the text `value` for a column of type `ty`, stored as `data_type`.
fn from_text(value: Expr, ty: &Type, data_type: &DataType) -> Expr {
    let read = match binary_text(ty) {
        Some(BinaryText::Uuid) => {
            return ScalarUDF::new_from_impl(uuid_text::UuidFromText::new()).call(vec![value]);
        }
        Some(BinaryText::Bytea) => {
            ScalarUDF::new_from_impl(bytea_text::ByteaFromText::new()).call(vec![value])
        }
        Some(BinaryText::Fixed(width)) => {
            ScalarUDF::new_from_impl(bytea_text::ByteaFromText::new())
                .call(vec![value, lit(width as i64)])
        }
        None => value,
    };
    cast(read, data_type.clone())
}

/// The first value of `text` that is not a valid value of the uuid or binary column,
/// with its row.
fn first_unreadable(text: &ArrayRef, reading: BinaryText) -> Option<(usize, String)> {
    let strings = text.as_string::<i32>();
    strings.iter().enumerate().find_map(|(row, value)| {
        let value = value?;
        let readable = match reading {
            BinaryText::Uuid => uuid_text::parse(value).is_ok(),
            BinaryText::Bytea => bytea_text::parse(value).is_ok(),
            BinaryText::Fixed(width) => {
                bytea_text::parse(value).is_ok_and(|bytes| bytes.len() as u64 == width)
            }
        };
        (!readable).then(|| (row, value.to_string()))
    })
}

/// 22003 for a number too big for its column, 22007 for a bad date or time, 22P02 else.
fn value_error_code(ty: &Type, value: &str) -> &'static str {
    use iceberg::spec::PrimitiveType as P;
    match ty {
        Type::Primitive(P::Int | P::Long | P::Float | P::Double | P::Decimal { .. })
            if value.trim().parse::<f64>().is_ok() =>
        {
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        }
        Type::Primitive(
            P::Date | P::Time | P::Timestamp | P::Timestamptz | P::TimestampNs | P::TimestamptzNs,
        ) => sqlstate::INVALID_DATETIME_FORMAT,
        _ => sqlstate::INVALID_TEXT_REPRESENTATION,
    }
}

/// The files `source` names: itself, the files of a directory, or a glob's matches.
async fn list_files(ctx: &SessionContext, source: &str) -> Result<Vec<String>> {
    let url = ListingTableUrl::parse(source)?;
    let store = ctx.runtime_env().object_store(&url)?;
    let state = ctx.state();
    let mut files: Vec<String> = url
        .list_all_files(&state, store.as_ref(), "")
        .await?
        .map_ok(|meta| format!("{}{}", url.object_store().as_str(), meta.location))
        .try_collect()
        .await?;
    files.sort();
    if files.is_empty() {
        return Err(FloeError::new(
            sqlstate::UNDEFINED_FILE,
            format!("COPY: no file found at {source}"),
        ));
    }
    Ok(files)
}

/// A stream of rows as a scan's one partition, for loading rows a face decoded: it can be
/// read once, as a load reads it.
pub struct OneStream {
    schema: SchemaRef,
    rows: Mutex<Option<SendableRecordBatchStream>>,
}

impl OneStream {
    pub fn new(rows: SendableRecordBatchStream) -> Self {
        Self {
            schema: rows.schema(),
            rows: Mutex::new(Some(rows)),
        }
    }
}

impl std::fmt::Debug for OneStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneStream").finish_non_exhaustive()
    }
}

impl PartitionStream for OneStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.rows.lock().expect("rows lock").take();
        taken.unwrap_or_else(|| {
            let again = DataFusionError::Execution("the rows of a COPY were read twice".into());
            Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async move { Err(again) }),
            ))
        })
    }
}

/// PostgreSQL's binary COPY format is decoded and encoded by the wire server, which
/// streams it from and to its client; files take the other formats.
fn binary_needs_a_client() -> FloeError {
    FloeError::unsupported(
        "COPY FORMAT binary is PostgreSQL's binary stream, which travels over the wire \
         protocol: use it with FROM STDIN or TO STDOUT; files take csv, text, parquet or json",
    )
}

fn format_from_extension(path: &str) -> Option<CopyFormat> {
    let lower = path.to_ascii_lowercase();
    let extension = lower.rsplit('.').next()?;
    match extension {
        "csv" => Some(CopyFormat::Csv),
        "parquet" => Some(CopyFormat::Parquet),
        "json" | "ndjson" | "jsonl" => Some(CopyFormat::Json),
        "txt" | "tsv" => Some(CopyFormat::Text),
        _ => None,
    }
}

/// Writes the rows of `plan` to `target` as one file (a directory of files when `target`
/// ends with `/`), returning how many rows were written.
pub async fn export(
    ctx: &SessionContext,
    plan: LogicalPlan,
    target: &str,
    options: &CopyOptions,
) -> Result<u64> {
    let frame = DataFrame::new(ctx.state(), plan);
    let write = DataFrameWriteOptions::new().with_single_file_output(!target.ends_with('/'));
    let format = match options.format {
        Some(format) => format,
        None => format_from_extension(target).unwrap_or(CopyFormat::Text),
    };
    let batches = match format {
        CopyFormat::Csv | CopyFormat::Text => {
            return write_lines(ctx, frame, target, &options_of(format, options)).await;
        }
        CopyFormat::Parquet => frame.write_parquet(target, write, None).await?,
        CopyFormat::Json => frame.write_json(target, write, None).await?,
        CopyFormat::Binary => return Err(binary_needs_a_client()),
    };
    Ok(crate::engine::count_from(&batches))
}

/// Appends the lines of `batch` to `text`: each value as Arrow displays it.
fn push_lines(batch: &RecordBatch, lines: &CopyLines, text: &mut Vec<u8>) -> Result<()> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // Each row's values go into one string, which the line then takes by ranges.
    let mut values = String::new();
    let mut cells: Vec<Option<std::ops::Range<usize>>> = Vec::new();
    for row in 0..batch.num_rows() {
        values.clear();
        cells.clear();
        for (column, formatter) in batch.columns().iter().zip(&formatters) {
            if column.is_null(row) {
                cells.push(None);
                continue;
            }
            let start = values.len();
            write!(values, "{}", formatter.value(row))
                .map_err(|err| FloeError::internal(format!("COPY TO: {err}")))?;
            cells.push(Some(start..values.len()));
        }
        let bytes = values.as_bytes();
        lines.push_row(
            text,
            cells
                .iter()
                .map(|cell| cell.clone().map(|range| &bytes[range])),
        );
    }
    Ok(())
}

/// `options` with the format decided.
fn options_of(format: CopyFormat, options: &CopyOptions) -> CopyOptions {
    CopyOptions {
        format: Some(format),
        ..options.clone()
    }
}

/// Writes the rows of `frame` as text or CSV lines, as `COPY ... TO STDOUT` sends them, into
/// one file at `target` (a file named by a fresh id in it, when `target` ends with `/`).
/// Values are Arrow's text of them (ISO dates and timestamps); a NULL and an empty string
/// stay apart (`,,` and `,"",` in CSV). The file appears only once it is complete.
async fn write_lines(
    ctx: &SessionContext,
    frame: DataFrame,
    target: &str,
    options: &CopyOptions,
) -> Result<u64> {
    let lines = CopyLines::new(options)?;
    let url = ListingTableUrl::parse(target)?;
    let store = ctx.runtime_env().object_store(url.object_store())?;
    let path = if target.ends_with('/') {
        let extension = if options.format == Some(CopyFormat::Csv) {
            "csv"
        } else {
            "txt"
        };
        url.prefix()
            .clone()
            .join(format!("{}.{extension}", uuid::Uuid::new_v4()))
    } else {
        url.prefix().clone()
    };
    let mut file = BufWriter::new(store, path);
    let written = write_batches(frame, &lines, options.header, &mut file).await;
    match written {
        Ok(rows) => {
            file.shutdown().await.map_err(DataFusionError::from)?;
            Ok(rows)
        }
        Err(err) => {
            // Nothing of a failed export is left behind.
            let _ = file.abort().await;
            Err(err)
        }
    }
}

async fn write_batches(
    frame: DataFrame,
    lines: &CopyLines,
    header: bool,
    file: &mut BufWriter,
) -> Result<u64> {
    let schema = frame.schema().inner().clone();
    let mut batches = frame.execute_stream().await?;
    let mut text = Vec::new();
    if header {
        text = lines.header(schema.fields().iter().map(|field| field.name().as_str()));
    }
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        push_lines(&batch, lines, &mut text)?;
        rows += batch.num_rows() as u64;
        if !text.is_empty() {
            let full = std::mem::take(&mut text);
            file.put(full.into()).await.map_err(DataFusionError::from)?;
        }
    }
    if !text.is_empty() {
        file.put(text.into()).await.map_err(DataFusionError::from)?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_value_its_type_cannot_hold() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("1.50"),
            None,
            Some("x"),
            Some("2"),
        ]));
        let found = first_unconvertible(&text, &DataType::Decimal128(5, 2)).unwrap();
        assert_eq!(found, Some((2, "x".to_string())));
        let fine: ArrayRef = Arc::new(StringArray::from(vec![Some("2024-01-02"), None]));
        assert_eq!(first_unconvertible(&fine, &DataType::Date32).unwrap(), None);
    }

    #[test]
    fn error_codes_tell_overflow_from_garbage() {
        use iceberg::spec::PrimitiveType as P;
        let int = Type::Primitive(P::Int);
        assert_eq!(
            value_error_code(&int, "99999999999"),
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            value_error_code(&int, "abc"),
            sqlstate::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(
            value_error_code(&Type::Primitive(P::Date), "2024-13-45"),
            sqlstate::INVALID_DATETIME_FORMAT
        );
    }

    #[test]
    fn formats_follow_extensions() {
        assert_eq!(format_from_extension("/a/b.CSV"), Some(CopyFormat::Csv));
        assert_eq!(
            format_from_extension("s3://b/x.parquet"),
            Some(CopyFormat::Parquet)
        );
        assert_eq!(format_from_extension("rows.jsonl"), Some(CopyFormat::Json));
        assert_eq!(format_from_extension("/data/dir/"), None);
    }
}
