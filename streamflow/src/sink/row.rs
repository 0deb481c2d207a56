//! Records as columns: how sinks that show or write tables (console, CSV) see a serde record.
//!
//! A record is serialized to JSON and read back keeping the order of its fields: a struct's
//! fields (or a map's keys) become the columns; a tuple's elements become `_1`, `_2` … (Scala's
//! names); anything else is one column named `value`. Nested structs show as `{a, b}` and
//! sequences as `[a, b]`, as Spark shows them.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};

/// A JSON value that keeps the order of object keys.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Number(String),
    Text(String),
    Seq(Vec<Cell>),
    Map(Vec<(String, Cell)>),
}

impl Cell {
    /// The cell as Spark's `show()` prints it.
    pub(crate) fn display(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Bool(b) => b.to_string(),
            Cell::Number(n) | Cell::Text(n) => n.clone(),
            Cell::Seq(items) => format!(
                "[{}]",
                items.iter().map(Cell::display).collect::<Vec<_>>().join(", ")
            ),
            Cell::Map(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(_, c)| c.display())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The cell in a CSV file: nested values as JSON.
    pub(crate) fn csv_text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Seq(_) | Cell::Map(_) => self.json(),
            other => other.display(),
        }
    }

    fn json(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Bool(b) => b.to_string(),
            Cell::Number(n) => n.clone(),
            Cell::Text(t) => serde_json::to_string(t).unwrap_or_default(),
            Cell::Seq(items) => format!("[{}]", items.iter().map(Cell::json).collect::<Vec<_>>().join(",")),
            Cell::Map(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, c)| format!("{}:{}", serde_json::to_string(k).unwrap_or_default(), c.json()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Cell, D::Error> {
        Cell::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Cell, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Cell, E> {
        Ok(Cell::Number(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Cell, E> {
        Ok(Cell::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Cell, E> {
        // Scala prints doubles with a fractional part: 1.0, not 1.
        Ok(Cell::Number(format!("{v:?}")))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Cell, E> {
        Ok(Cell::Text(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Cell, E> {
        Ok(Cell::Text(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Cell, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Cell>()? {
            items.push(item);
        }
        Ok(Cell::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Cell, A::Error> {
        let mut fields = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Cell>()? {
            fields.push((k, v));
        }
        Ok(Cell::Map(fields))
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Cell, D::Error> {
        d.deserialize_any(CellVisitor)
    }
}

/// The columns of `record`, in order.
pub(crate) fn columns<T: serde::Serialize>(record: &T) -> Result<Vec<(String, Cell)>> {
    let json = serde_json::to_string(record).map_err(|e| {
        Error::serialization(
            format!("a {} cannot be serialized", std::any::type_name::<T>()),
            e,
        )
    })?;
    let cell: Cell = serde_json::from_str(&json)
        .map_err(|e| Error::serialization("a serialized record cannot be read back", e))?;
    Ok(match cell {
        Cell::Map(fields) => fields,
        Cell::Seq(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, c)| (format!("_{}", i + 1), c))
            .collect(),
        other => vec![("value".to_string(), other)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Inner {
        start: i64,
        end: i64,
    }

    #[derive(serde::Serialize)]
    struct Row {
        zeta: Inner,
        alpha: f64,
        name: Option<String>,
    }

    #[test]
    fn keeps_field_order_and_shows_like_spark() {
        let row = Row {
            zeta: Inner { start: 1, end: 2 },
            alpha: 1.0,
            name: None,
        };
        let cols = columns(&row).unwrap();
        let names: Vec<_> = cols.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "name"]);
        let shown: Vec<_> = cols.iter().map(|(_, c)| c.display()).collect();
        assert_eq!(shown, ["{1, 2}", "1.0", "null"]);
        assert_eq!(cols[0].1.csv_text(), r#"{"start":1,"end":2}"#);
        let tuple = columns(&("a", 2)).unwrap();
        assert_eq!(tuple[1].0, "_2");
        assert_eq!(columns(&7).unwrap()[0].0, "value");
    }
}
