//! Scan planning from the cached manifests: which data files a predicate cannot rule out,
//! stage by stage (manifests skipped by their partition summaries, data files pruned by
//! their partition values, then by their column bounds), with the counts `EXPLAIN` shows.
//! Iceberg's evaluators are private to its crate and its `TableScan::plan_files` spawns a
//! task per manifest entry, which costs more than the rest of a small query; so Floe
//! evaluates the predicate itself, conservatively: an unknown range never rules a file out.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use iceberg::expr::{Bind, BoundPredicate, Predicate, PredicateOperator};
use iceberg::spec::{
    DataContentType, DataFile, Datum, FieldSummary, Literal, ManifestContentType, PartitionSpec,
    PrimitiveLiteral, PrimitiveType, Schema, SchemaRef, TableMetadata, Type,
};

use crate::manifest_cache::SnapshotManifests;

/// What one column's (or partition field's) values can be within a file or manifest.
#[derive(Debug, Clone, Default)]
pub struct ValueRange {
    pub lower: Option<Datum>,
    pub upper: Option<Datum>,
    pub may_be_null: bool,
    pub may_be_non_null: bool,
}

impl ValueRange {
    fn unknown() -> Self {
        Self {
            may_be_null: true,
            may_be_non_null: true,
            ..Default::default()
        }
    }
}

/// Whether rows whose values lie in the ranges `range_of(field_id)` gives could satisfy
/// `predicate` (`NOT` must have been rewritten away). Unknown ranges might always match.
pub fn might_match(predicate: &BoundPredicate, range_of: &dyn Fn(i32) -> ValueRange) -> bool {
    match predicate {
        BoundPredicate::AlwaysTrue => true,
        BoundPredicate::AlwaysFalse => false,
        BoundPredicate::And(e) => {
            let [a, b] = e.inputs();
            might_match(a, range_of) && might_match(b, range_of)
        }
        BoundPredicate::Or(e) => {
            let [a, b] = e.inputs();
            might_match(a, range_of) || might_match(b, range_of)
        }
        BoundPredicate::Not(_) => true,
        BoundPredicate::Unary(e) => {
            let range = range_of(e.term().field().id);
            match e.op() {
                PredicateOperator::IsNull => range.may_be_null,
                PredicateOperator::NotNull => range.may_be_non_null,
                _ => true,
            }
        }
        BoundPredicate::Binary(e) => {
            let range = range_of(e.term().field().id);
            range.may_be_non_null && binary_might_match(e.op(), e.literal(), &range)
        }
        BoundPredicate::Set(e) => {
            let range = range_of(e.term().field().id);
            range.may_be_non_null
                && match e.op() {
                    PredicateOperator::In => e
                        .literals()
                        .iter()
                        .any(|v| binary_might_match(PredicateOperator::Eq, v, &range)),
                    _ => true,
                }
        }
    }
}

fn binary_might_match(op: PredicateOperator, value: &Datum, range: &ValueRange) -> bool {
    if value.is_nan() {
        return true;
    }
    // `bound OP value` holds, or the two cannot be compared (then nothing is ruled out).
    let holds = |bound: &Option<Datum>, wanted: &[Ordering]| {
        bound.as_ref().is_none_or(|bound| {
            bound
                .partial_cmp(value)
                .is_none_or(|ordering| wanted.contains(&ordering))
        })
    };
    use Ordering::{Equal, Greater, Less};
    match op {
        PredicateOperator::LessThan => holds(&range.lower, &[Less]),
        PredicateOperator::LessThanOrEq => holds(&range.lower, &[Less, Equal]),
        PredicateOperator::GreaterThan => holds(&range.upper, &[Greater]),
        PredicateOperator::GreaterThanOrEq => holds(&range.upper, &[Greater, Equal]),
        PredicateOperator::Eq => {
            holds(&range.lower, &[Less, Equal]) && holds(&range.upper, &[Greater, Equal])
        }
        PredicateOperator::StartsWith => prefix_might_match(value, range),
        _ => true,
    }
}

/// Strings starting with `prefix` can lie in the range unless the range ends before the
/// prefix or starts after every string with it.
fn prefix_might_match(prefix: &Datum, range: &ValueRange) -> bool {
    let PrimitiveLiteral::String(prefix) = prefix.literal() else {
        return true;
    };
    let head = |bound: &Option<Datum>| match bound.as_ref().map(Datum::literal) {
        Some(PrimitiveLiteral::String(s)) => {
            Some(s.chars().take(prefix.chars().count()).collect::<String>())
        }
        _ => None,
    };
    let ends_before = head(&range.upper).is_some_and(|upper| upper < *prefix);
    let starts_after = head(&range.lower).is_some_and(|lower| lower > *prefix);
    !ends_before && !starts_after
}

/// The predicate on a spec's partition fields implied by `predicate` on the table's columns
/// (an inclusive projection: every row that matches has a partition that matches), bound
/// to the partition struct. `None` when nothing about the partitions follows from it.
pub fn partition_predicate(
    predicate: &BoundPredicate,
    spec: &PartitionSpec,
    table_schema: &Schema,
) -> Option<BoundPredicate> {
    let projected = project(predicate, spec);
    if matches!(projected, Predicate::AlwaysTrue) {
        return None;
    }
    let partition_type = spec.partition_type(table_schema).ok()?;
    let schema = Schema::builder()
        .with_fields(partition_type.fields().iter().cloned())
        .build()
        .ok()?;
    projected.bind(Arc::new(schema), true).ok()
}

fn project(predicate: &BoundPredicate, spec: &PartitionSpec) -> Predicate {
    let leaf_field = match predicate {
        BoundPredicate::AlwaysTrue | BoundPredicate::Not(_) => return Predicate::AlwaysTrue,
        BoundPredicate::AlwaysFalse => return Predicate::AlwaysFalse,
        BoundPredicate::And(e) => {
            let [a, b] = e.inputs();
            return project(a, spec).and(project(b, spec));
        }
        BoundPredicate::Or(e) => {
            let [a, b] = e.inputs();
            return project(a, spec).or(project(b, spec));
        }
        BoundPredicate::Unary(e) => e.term().field().id,
        BoundPredicate::Binary(e) => e.term().field().id,
        BoundPredicate::Set(e) => e.term().field().id,
    };
    spec.fields()
        .iter()
        .filter(|field| field.source_id == leaf_field)
        .filter_map(|field| {
            field
                .transform
                .project(&field.name, predicate)
                .ok()
                .flatten()
        })
        .fold(Predicate::AlwaysTrue, Predicate::and)
}

/// What planning a scan ruled out, stage by stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanningCounts {
    pub manifests_total: u64,
    pub manifests_skipped: u64,
    pub data_files_total: u64,
    /// Data files left after manifest and partition pruning, before column bounds.
    pub data_files_after_partitions: u64,
}

/// A data file planning kept, with the partition spec it was written with.
#[derive(Debug, Clone, Copy)]
pub struct PlannedFile<'a> {
    pub file: &'a DataFile,
    pub spec_id: i32,
}

/// The data files a scan reads, in path order (as a Parquet listing table reads them), and
/// what each stage of planning ruled out.
#[derive(Debug, Default)]
pub struct ScanPlan<'a> {
    pub files: Vec<PlannedFile<'a>>,
    pub counts: PlanningCounts,
}

/// Plans a scan of a snapshot's live data files for `predicate` (bound to `schema`, `NOT`
/// rewritten away). Delete manifests are left to the caller.
pub fn plan_scan<'a>(
    manifests: &'a SnapshotManifests,
    predicate: Option<&BoundPredicate>,
    metadata: &TableMetadata,
    schema: &SchemaRef,
) -> ScanPlan<'a> {
    let mut plan = ScanPlan::default();
    let mut partition_predicates: HashMap<i32, Option<BoundPredicate>> = HashMap::new();
    for (manifest_file, manifest) in manifests {
        if manifest_file.content != ManifestContentType::Data {
            continue;
        }
        plan.counts.manifests_total += 1;
        let data_files = manifest
            .entries()
            .iter()
            .filter(|entry| entry.is_alive() && entry.content_type() == DataContentType::Data)
            .map(|entry| entry.data_file());
        let Some(predicate) = predicate else {
            let before = plan.files.len();
            plan.files.extend(data_files.map(|data_file| PlannedFile {
                file: data_file,
                spec_id: manifest_file.partition_spec_id,
            }));
            let added = (plan.files.len() - before) as u64;
            plan.counts.data_files_total += added;
            plan.counts.data_files_after_partitions += added;
            continue;
        };
        let spec = manifest.metadata().partition_spec();
        let filter = partition_predicates
            .entry(manifest_file.partition_spec_id)
            .or_insert_with(|| {
                let spec = metadata
                    .partition_spec_by_id(manifest_file.partition_spec_id)
                    .map_or(spec, |spec| spec.as_ref());
                partition_predicate(predicate, spec, schema)
            })
            .as_ref();
        if let Some(filter) = filter {
            let summaries = manifest_file.partitions.as_deref().unwrap_or_default();
            if !might_match(filter, &|id| summary_range(spec, summaries, schema, id)) {
                plan.counts.manifests_skipped += 1;
                plan.counts.data_files_total += data_files.count() as u64;
                continue;
            }
        }
        for data_file in data_files {
            plan.counts.data_files_total += 1;
            let partition_matches = filter.is_none_or(|filter| {
                might_match(filter, &|id| {
                    partition_value_range(spec, data_file, schema, id)
                })
            });
            if !partition_matches {
                continue;
            }
            plan.counts.data_files_after_partitions += 1;
            if might_match(predicate, &|id| column_range(data_file, schema, id)) {
                plan.files.push(PlannedFile {
                    file: data_file,
                    spec_id: manifest_file.partition_spec_id,
                });
            }
        }
    }
    plan.files
        .sort_by(|a, b| a.file.file_path().cmp(b.file.file_path()));
    plan
}

/// What a data file's metrics say about one column's values. Iceberg's bounds leave NaN
/// out, and NaN sorts above every number in DataFusion, so a float column that may hold
/// NaN has no upper bound here.
fn column_range(file: &DataFile, schema: &Schema, field_id: i32) -> ValueRange {
    let values = file.value_counts().get(&field_id).copied();
    let nulls = file.null_value_counts().get(&field_id).copied();
    let is_float = schema.field_by_id(field_id).is_some_and(|field| {
        matches!(
            *field.field_type,
            Type::Primitive(PrimitiveType::Float | PrimitiveType::Double)
        )
    });
    let may_hold_nan = is_float && file.nan_value_counts().get(&field_id).copied() != Some(0);
    ValueRange {
        lower: file.lower_bounds().get(&field_id).cloned(),
        upper: match may_hold_nan {
            true => None,
            false => file.upper_bounds().get(&field_id).cloned(),
        },
        may_be_null: nulls != Some(0),
        may_be_non_null: match (values, nulls) {
            (Some(values), Some(nulls)) => values > nulls,
            _ => true,
        },
    }
}

fn partition_field(
    spec: &PartitionSpec,
    schema: &Schema,
    field_id: i32,
) -> Option<(usize, PrimitiveType)> {
    let index = spec.fields().iter().position(|f| f.field_id == field_id)?;
    let field = &spec.fields()[index];
    let source = schema.field_by_id(field.source_id)?;
    match field.transform.result_type(&source.field_type).ok()? {
        Type::Primitive(ty) => Some((index, ty)),
        _ => None,
    }
}

fn summary_range(
    spec: &PartitionSpec,
    summaries: &[FieldSummary],
    schema: &Schema,
    field_id: i32,
) -> ValueRange {
    let Some((index, ty)) = partition_field(spec, schema, field_id) else {
        return ValueRange::unknown();
    };
    let Some(summary) = summaries.get(index) else {
        return ValueRange::unknown();
    };
    let bound =
        |bytes: Option<&[u8]>| bytes.and_then(|b| Datum::try_from_bytes(b, ty.clone()).ok());
    let lower = bound(summary.lower_bound.as_deref().map(|b| b.as_slice()));
    ValueRange {
        may_be_null: summary.contains_null,
        // No lower bound and no NULLs is an odd summary; then assume values are there.
        may_be_non_null: lower.is_some()
            || !summary.contains_null
            || summary.contains_nan == Some(true),
        lower,
        upper: bound(summary.upper_bound.as_deref().map(|b| b.as_slice())),
    }
}

fn partition_value_range(
    spec: &PartitionSpec,
    file: &DataFile,
    schema: &Schema,
    field_id: i32,
) -> ValueRange {
    let Some((index, ty)) = partition_field(spec, schema, field_id) else {
        return ValueRange::unknown();
    };
    match file.partition().fields().get(index) {
        None => ValueRange::unknown(),
        Some(None) => ValueRange {
            may_be_null: true,
            ..Default::default()
        },
        Some(Some(value)) => match literal_datum(&ty, value) {
            Some(datum) => ValueRange {
                lower: Some(datum.clone()),
                upper: Some(datum),
                may_be_null: false,
                may_be_non_null: true,
            },
            None => ValueRange::unknown(),
        },
    }
}

/// A partition value as a typed datum (Datum's own constructor is private to iceberg).
pub fn literal_datum(ty: &PrimitiveType, value: &Literal) -> Option<Datum> {
    let literal = value.as_primitive_literal()?;
    Some(match (ty, literal) {
        (PrimitiveType::Boolean, PrimitiveLiteral::Boolean(v)) => Datum::bool(v),
        (PrimitiveType::Int, PrimitiveLiteral::Int(v)) => Datum::int(v),
        (PrimitiveType::Date, PrimitiveLiteral::Int(v)) => Datum::date(v),
        (PrimitiveType::Long, PrimitiveLiteral::Long(v)) => Datum::long(v),
        (PrimitiveType::Time, PrimitiveLiteral::Long(v)) => Datum::time_micros(v).ok()?,
        (PrimitiveType::Timestamp, PrimitiveLiteral::Long(v)) => Datum::timestamp_micros(v),
        (PrimitiveType::Timestamptz, PrimitiveLiteral::Long(v)) => Datum::timestamptz_micros(v),
        (PrimitiveType::TimestampNs, PrimitiveLiteral::Long(v)) => Datum::timestamp_nanos(v),
        (PrimitiveType::TimestamptzNs, PrimitiveLiteral::Long(v)) => Datum::timestamptz_nanos(v),
        (PrimitiveType::Float, PrimitiveLiteral::Float(v)) => Datum::float(v.0),
        (PrimitiveType::Double, PrimitiveLiteral::Double(v)) => Datum::double(v.0),
        (PrimitiveType::String, PrimitiveLiteral::String(v)) => Datum::string(v),
        (PrimitiveType::Binary, PrimitiveLiteral::Binary(v)) => Datum::binary(v),
        (PrimitiveType::Fixed(_), PrimitiveLiteral::Binary(v)) => Datum::fixed(v),
        (PrimitiveType::Uuid, PrimitiveLiteral::UInt128(v)) => {
            Datum::uuid(uuid::Uuid::from_u128(v))
        }
        // Decimal partition values (rare) are left unknown: they never prune.
        _ => return None,
    })
}
