//! Tables of custom resources: the Name column, then the CRD's
//! `additionalPrinterColumns` (Age alone when it gives none), with cells typed as
//! kube-apiserver types them (`date` columns print as ages).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::cells::{age_at, human_duration};
use crate::crd::{jsonpath, PrinterColumn};

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// A Table of `body` (one custom object or a list) with `columns`.
pub fn render(
    columns: &[PrinterColumn],
    body: &Value,
    table_version: &str,
    include_object: bool,
) -> Value {
    let mut definitions = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": NAME_DESCRIPTION, "priority": 0})];
    definitions.extend(columns.iter().map(definition));
    super::build(
        definitions,
        &|obj, now| {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let mut cells = vec![json!(name)];
            cells.extend(columns.iter().map(|c| cell(c, obj, now)));
            cells
        },
        body,
        table_version,
        include_object,
    )
}

/// The `TableColumnDefinition` of a printer column.
fn definition(column: &PrinterColumn) -> Value {
    json!({
        "name": column.name,
        "type": column.kind,
        "format": column.format,
        "description": column.description,
        "priority": column.priority,
    })
}

/// The cell of `column` for `obj`: `null` (kubectl prints `<none>`) when the path finds
/// nothing.
fn cell(column: &PrinterColumn, obj: &Value, now: DateTime<Utc>) -> Value {
    let Ok(Some(value)) = jsonpath::lookup(obj, &column.json_path) else {
        return Value::Null;
    };
    match column.kind.as_str() {
        "date" => match value.as_str() {
            Some(_) if column.json_path == ".metadata.creationTimestamp" => {
                json!(age_at(obj, "metadata.creationTimestamp", now))
            }
            Some(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => json!(human_duration(now - t.with_timezone(&Utc))),
                Err(_) => json!(s),
            },
            None => Value::Null,
        },
        "integer" => match value {
            Value::Number(n) => n
                .as_i64()
                .map(Value::from)
                .or_else(|| n.as_f64().map(|f| json!(f as i64)))
                .unwrap_or(Value::Null),
            other => json!(text(other)),
        },
        "number" | "boolean" if !value.is_string() => value.clone(),
        _ => json!(text(value)),
    }
}

/// A value as kubectl's JSONPath printer prints it.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, kind: &str, path: &str) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            kind: kind.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: path.into(),
        }
    }

    #[test]
    fn rows_have_name_then_printer_columns() {
        let now = Utc::now();
        let created = crate::registry::meta::format_timestamp(now - chrono::Duration::minutes(5));
        let obj = json!({"metadata": {"name": "w1", "creationTimestamp": created},
            "spec": {"replicas": 3, "color": "red", "tags": ["a"]}});
        let columns = vec![
            column("Replicas", "integer", ".spec.replicas"),
            column("Color", "string", ".spec.color"),
            column("Tags", "string", ".spec.tags"),
            column("Missing", "string", ".spec.nope"),
            column("Age", "date", ".metadata.creationTimestamp"),
        ];
        let table = render(
            &columns,
            &json!({"kind": "WidgetList", "items": [obj]}),
            "v1",
            true,
        );
        assert_eq!(table["columnDefinitions"][0]["name"], "Name");
        assert_eq!(table["columnDefinitions"][1]["type"], "integer");
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["w1", 3, "red", "[\"a\"]", null, "5m"])
        );
        assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "w1");
    }
}
