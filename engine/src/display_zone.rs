//! PostgreSQL shows every timestamptz in the session's `TimeZone`, whatever offset it
//! was written with or stored in (Iceberg keeps UTC). Arrow carries the zone on the
//! column type and its values are UTC instants either way, so presenting a result in
//! the session's zone only relabels its timestamptz columns; the faces then print each
//! value in the zone its column names.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

/// `schema` with each timestamp-with-time-zone column labelled with `zone`; `None` when
/// no column changes.
pub fn schema_in_zone(schema: &Schema, zone: &str) -> Option<SchemaRef> {
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Timestamp(unit, Some(current)) if current.as_ref() != zone => {
                changed = true;
                field
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(*unit, Some(zone.into())))
            }
            _ => field.as_ref().clone(),
        })
        .collect();
    changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// `stream` with its timestamptz columns presented in `zone` (same instants).
pub fn stream_in_zone(stream: SendableRecordBatchStream, zone: &str) -> SendableRecordBatchStream {
    let Some(schema) = schema_in_zone(&stream.schema(), zone) else {
        return stream;
    };
    let target = schema.clone();
    let batches = stream.map(move |batch| {
        let batch = batch?;
        let columns = batch
            .columns()
            .iter()
            .zip(target.fields())
            .map(
                |(column, field)| match column.data_type() == field.data_type() {
                    true => Ok(column.clone()),
                    // Between zones at the same unit this only relabels the values.
                    false => cast(column, field.data_type()),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(target.clone(), columns).map_err(DataFusionError::from)
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{TimeUnit, TimestampMicrosecondType};
    use datafusion::physical_plan::memory::MemoryStream;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn timestamptz_columns_are_relabelled_and_keep_their_instants() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                true,
            ),
            Field::new(
                "local",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
        ]));
        let at = TimestampMicrosecondArray::from(vec![Some(1_717_243_200_000_000), None])
            .with_timezone("+00:00");
        let local = TimestampMicrosecondArray::from(vec![Some(5), Some(6)]);
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(at), Arc::new(local)]).unwrap();
        let stream = Box::pin(MemoryStream::try_new(vec![batch], schema, None).unwrap());
        let shown = stream_in_zone(stream, "America/New_York");
        let batches: Vec<RecordBatch> = shown.try_collect().await.unwrap();
        let at = batches[0]
            .column(0)
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(
            at.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("America/New_York".into()))
        );
        assert_eq!(at.value(0), 1_717_243_200_000_000);
        assert!(at.is_null(1));
        assert_eq!(
            batches[0].column(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
    }

    #[test]
    fn schemas_without_timestamptz_are_left_alone() {
        let schema = Schema::new(vec![Field::new("n", DataType::Int32, true)]);
        assert!(schema_in_zone(&schema, "+02:00").is_none());
    }
}
