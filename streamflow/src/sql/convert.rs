//! Serde records ⇄ Arrow record batches (through `serde_arrow`), and Arrow cells as text.
//!
//! A record becomes a row the way the console sink sees it (`sink/row.rs`): a struct's fields
//! (in order) are the columns; a tuple's elements are `_1`, `_2` … (Scala's names); anything
//! else (a `String`, a number) is one column named `value`, as Spark's `toDF()` of an RDD of
//! strings.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, FieldRef, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

/// A value that is not a record, as a record of one column named `value`.
#[derive(Serialize, Deserialize)]
struct Value<T> {
    value: T,
}

fn options() -> TracingOptions {
    TracingOptions::default()
        .allow_null_fields(true)
        .strings_as_large_utf8(false)
        .enums_without_data_as_strings(true)
}

/// Spark's names for a tuple's elements: `0` → `_1`.
fn spark_name(field: &FieldRef) -> FieldRef {
    match field.name().parse::<usize>() {
        Ok(i) => Arc::new(Field::clone(field).with_name(format!("_{}", i + 1))),
        Err(_) => field.clone(),
    }
}

/// The rows as one Arrow record batch. The columns come from `T`'s type (so an empty batch has
/// them too); a type whose shape only its values tell (`serde_json::Value`, say) is traced from
/// the rows.
pub(crate) fn to_record_batch<T: Serialize + DeserializeOwned>(rows: &[T]) -> Result<RecordBatch, String> {
    let record = Vec::<FieldRef>::from_type::<T>(options())
        .or_else(|e| Vec::<FieldRef>::from_samples(rows, options()).map_err(|_| e));
    let batch = match record {
        Ok(fields) => serde_arrow::to_record_batch(&fields, &rows),
        Err(_) => {
            let wrapped: Vec<Value<&T>> = rows.iter().map(|value| Value { value }).collect();
            Vec::<FieldRef>::from_type::<Value<T>>(options())
                .and_then(|fields| serde_arrow::to_record_batch(&fields, &wrapped))
        }
    }
    .map_err(|e| format!("a {} cannot be a row: {e}", std::any::type_name::<T>()))?;
    let fields: Vec<FieldRef> = batch.schema().fields().iter().map(spark_name).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec()).map_err(|e| e.to_string())
}

/// The rows of `batches` as `U`s: a struct's fields are found by column name, a tuple's
/// elements by position.
pub(crate) fn from_record_batches<U: DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<U>, String> {
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        let part: Vec<U> = serde_arrow::from_record_batch(batch).map_err(|e| {
            format!(
                "its rows ({}) cannot be read as {}: {e}",
                describe(batch),
                std::any::type_name::<U>()
            )
        })?;
        rows.extend(part);
    }
    Ok(rows)
}

/// `word: Utf8, total: Int64`: a schema as an error message shows it.
fn describe(batch: &RecordBatch) -> String {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first `limit` rows of `batches` as text, cell by cell (`null` for a null, as Spark).
pub(crate) fn cells(batches: &[RecordBatch], limit: usize) -> Result<Vec<Vec<String>>, String> {
    let options = FormatOptions::default().with_null("null");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for i in 0..batch.num_rows() {
            if rows.len() == limit {
                return Ok(rows);
            }
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Word {
        word: String,
        count: i64,
        note: Option<String>,
    }

    #[test]
    fn records_tuples_and_values_become_columns_and_come_back() {
        let rows = vec![
            Word {
                word: "a".into(),
                count: 2,
                note: None,
            },
            Word {
                word: "b".into(),
                count: 1,
                note: Some("x".into()),
            },
        ];
        let batch = to_record_batch(&rows).unwrap();
        assert_eq!(describe(&batch), "word: Utf8, count: Int64, note: Utf8");
        assert_eq!(
            from_record_batches::<Word>(std::slice::from_ref(&batch)).unwrap(),
            rows
        );
        assert_eq!(cells(&[batch], 1).unwrap(), [["a", "2", "null"]]);

        let pairs = vec![("a".to_string(), 1_u32)];
        let batch = to_record_batch(&pairs).unwrap();
        assert_eq!(describe(&batch), "_1: Utf8, _2: UInt32");
        assert_eq!(from_record_batches::<(String, u32)>(&[batch]).unwrap(), pairs);

        let words = vec!["x".to_string(), "y".to_string()];
        let batch = to_record_batch(&words).unwrap();
        assert_eq!(describe(&batch), "value: Utf8");
        assert_eq!(to_record_batch::<String>(&[]).unwrap().num_columns(), 1);
    }

    #[test]
    fn a_row_of_the_wrong_type_is_an_error_naming_both() {
        let batch = to_record_batch(&[("a".to_string(), 1_i64)]).unwrap();
        let err = from_record_batches::<(i64, i64)>(&[batch]).unwrap_err();
        assert!(
            err.contains("_1: Utf8, _2: Int64") && err.contains("(i64, i64)"),
            "{err}"
        );
    }
}
