//! Validation of a value against an OpenAPI v3 (structural) schema, with Kubernetes'
//! messages (`spec.replicas in body must be of type integer: "string"`).

use std::sync::OnceLock;

use serde_json::{json, Value};
use skiff_core::status::StatusCause;

use super::{child_path, flag, ROOT_META_FIELDS};

/// Validates a whole custom object against its version's `openAPIV3Schema`: every field
/// except `apiVersion`, `kind` and `metadata` at the root. One cause per failing field.
pub fn validate(schema: &Value, obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let Some(map) = obj.as_object() else {
        check(schema, obj, "", &mut causes);
        return causes;
    };
    let mut rest = map.clone();
    for field in ROOT_META_FIELDS {
        rest.remove(field);
    }
    let mut root = schema.clone();
    if let Some(required) = root.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| !ROOT_META_FIELDS.iter().any(|m| r == m));
    }
    if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
        for field in ROOT_META_FIELDS {
            props.remove(field);
        }
    }
    check(&root, &Value::Object(rest), "", &mut causes);
    causes
}

/// Validates `value` found at `path` (`spec.replicas`; empty for the root) against
/// `schema`.
pub fn validate_value(schema: &Value, value: &Value, path: &str) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    check(schema, value, path, &mut causes);
    causes
}

/// The JSON type name Kubernetes prints for a value.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

/// The name printed for the field in messages: the path, or `body` at the root.
fn shown(path: &str) -> &str {
    if path.is_empty() {
        "body"
    } else {
        path
    }
}

fn invalid(path: &str, value: &Value, detail: String) -> StatusCause {
    StatusCause::invalid_value(shown(path), value, &detail)
}

fn check(schema: &Value, value: &Value, path: &str, causes: &mut Vec<StatusCause>) {
    if !schema.is_object() {
        return;
    }
    let field = shown(path);
    if value.is_null() {
        if flag(schema, "nullable") {
            return;
        }
        if let Some(expected) = schema.get("type").and_then(Value::as_str) {
            causes.push(invalid(
                path,
                &json!("null"),
                format!("{field} in body must be of type {expected}: \"null\""),
            ));
        }
        return;
    }
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            let actual = type_name(value);
            causes.push(invalid(
                path,
                &json!(actual),
                format!("{field} in body must be of type integer,string: \"{actual}\""),
            ));
            return;
        }
    } else if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        if !type_matches(expected, value) {
            let actual = type_name(value);
            causes.push(invalid(
                path,
                &json!(actual),
                format!("{field} in body must be of type {expected}: \"{actual}\""),
            ));
            return;
        }
    }
    let before = causes.len();
    check_enum(schema, value, path, causes);
    match value {
        Value::Number(_) => check_number(schema, value, path, causes),
        Value::String(s) => check_string(schema, s, value, path, causes),
        Value::Array(items) => check_array(schema, items, path, causes),
        Value::Object(map) => check_object(schema, map, path, causes),
        _ => {}
    }
    if causes.len() == before {
        for sub in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            check(sub, value, path, causes);
        }
    }
}

fn check_enum(schema: &Value, value: &Value, path: &str, causes: &mut Vec<StatusCause>) {
    let Some(allowed) = schema.get("enum").and_then(Value::as_array) else {
        return;
    };
    if allowed.iter().any(|a| a == value) {
        return;
    }
    let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
    causes.push(StatusCause::new(
        "FieldValueNotSupported",
        &format!(
            "Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ),
        shown(path),
    ));
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn check_number(schema: &Value, value: &Value, path: &str, causes: &mut Vec<StatusCause>) {
    let Some(n) = value.as_f64() else { return };
    let field = shown(path);
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMinimum");
        if n < min || (exclusive && n == min) {
            let op = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            causes.push(invalid(
                path,
                value,
                format!("{field} in body should be {op} {}", number_text(min)),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = flag(schema, "exclusiveMaximum");
        if n > max || (exclusive && n == max) {
            let op = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            causes.push(invalid(
                path,
                value,
                format!("{field} in body should be {op} {}", number_text(max)),
            ));
        }
    }
    if let Some(m) = schema.get("multipleOf").and_then(Value::as_f64) {
        if m > 0.0 && (n / m).fract() != 0.0 {
            causes.push(invalid(
                path,
                value,
                format!("{field} in body should be a multiple of {}", number_text(m)),
            ));
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        let fits = match format {
            "int32" => value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            "int64" => value.is_i64(),
            _ => true,
        };
        if !fits {
            causes.push(invalid(
                path,
                value,
                format!("{field} in body must be of type {format}: {value}"),
            ));
        }
    }
}

fn check_string(schema: &Value, s: &str, value: &Value, path: &str, causes: &mut Vec<StatusCause>) {
    let field = shown(path);
    let len = s.chars().count();
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if len as u64 > max {
            causes.push(StatusCause::new(
                "FieldValueTooLong",
                &format!("Too long: may not be more than {max} bytes"),
                field,
            ));
        }
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if (len as u64) < min {
            causes.push(invalid(
                path,
                value,
                format!("{field} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => causes.push(invalid(
                path,
                value,
                format!("{field} in body should match '{pattern}'"),
            )),
            Err(_) => causes.push(invalid(
                path,
                value,
                format!("{field} has an invalid pattern in its schema: '{pattern}'"),
            )),
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        if !string_format_ok(format, s) {
            causes.push(invalid(
                path,
                value,
                format!("{field} in body must be of type {format}: {value}"),
            ));
        }
    }
}

/// The cheap string formats Kubernetes checks; unknown formats pass.
fn string_format_ok(format: &str, s: &str) -> bool {
    use base64::Engine;
    static UUID: OnceLock<Option<regex::Regex>> = OnceLock::new();
    match format {
        "date-time" | "datetime" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => UUID
            .get_or_init(|| {
                regex::Regex::new(
                    "^(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
                )
                .ok()
            })
            .as_ref()
            .is_none_or(|re| re.is_match(s)),
        _ => true,
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, causes: &mut Vec<StatusCause>) {
    let field = shown(path);
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
        if items.len() as u64 > max {
            causes.push(StatusCause::new(
                "FieldValueTooMany",
                &format!("Too many: {}: must have at most {max} items", items.len()),
                field,
            ));
        }
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if (items.len() as u64) < min {
            causes.push(invalid(
                path,
                &json!(items.len()),
                format!("{field} in body should have at least {min} items"),
            ));
        }
    }
    if flag(schema, "uniqueItems") {
        for (i, item) in items.iter().enumerate() {
            if items[..i].contains(item) {
                causes.push(StatusCause::duplicate(&format!("{field}[{i}]"), item));
            }
        }
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"), causes);
        }
    }
}

fn check_object(
    schema: &Value,
    map: &serde_json::Map<String, Value>,
    path: &str,
    causes: &mut Vec<StatusCause>,
) {
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if map.get(required).is_none() {
            causes.push(StatusCause::required(&child_path(path, required)));
        }
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64) {
        if map.len() as u64 > max {
            causes.push(StatusCause::new(
                "FieldValueTooMany",
                &format!("Too many: {}: must have at most {max} items", map.len()),
                shown(path),
            ));
        }
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64) {
        if (map.len() as u64) < min {
            causes.push(invalid(
                path,
                &json!(map.len()),
                format!(
                    "{} in body should have at least {min} properties",
                    shown(path)
                ),
            ));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (key, child) in map {
        let child_at = child_path(path, key);
        if let Some(prop) = properties.and_then(|p| p.get(key)) {
            check(prop, child, &child_at, causes);
            continue;
        }
        match additional {
            Some(extra @ Value::Object(_)) => check(extra, child, &child_at, causes),
            Some(Value::Bool(false)) if !flag(schema, "x-kubernetes-preserve-unknown-fields") => {
                causes.push(StatusCause::forbidden(
                    &child_at,
                    "additional properties are not allowed",
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
