//! The structural-schema rules Kubernetes enforces on the schemas of v1 CRDs.

use serde_json::{json, Value};
use skiff_core::status::StatusCause;

/// The structural-schema rules Kubernetes enforces on v1 CRDs, for the node `schema`
/// at `field`: a type on every node (unless int-or-string or preserving unknown
/// fields), `items` on arrays, not both `properties` and `additionalProperties`, and
/// defaults that pass the node's own validation.
pub(crate) fn structural_causes(
    schema: &Value,
    field: &str,
    root: bool,
    causes: &mut Vec<StatusCause>,
) {
    let Some(node) = schema.as_object() else {
        causes.push(StatusCause::invalid_value(
            field,
            schema,
            "must be an object",
        ));
        return;
    };
    let flag = |name: &str| node.get(name).and_then(Value::as_bool) == Some(true);
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    if flag("x-kubernetes-int-or-string") {
        if !kind.is_empty() {
            causes.push(StatusCause::invalid_value(
                &format!("{field}.type"),
                &json!(kind),
                "must be empty if x-kubernetes-int-or-string is true",
            ));
        }
    } else if kind.is_empty() && !root && !flag("x-kubernetes-preserve-unknown-fields") {
        causes.push(StatusCause::new(
            "FieldValueRequired",
            "Required value: must not be empty for specified object fields",
            &format!("{field}.type"),
        ));
    } else if !kind.is_empty()
        && !["object", "array", "string", "integer", "number", "boolean"].contains(&kind)
    {
        causes.push(StatusCause::not_supported(
            &format!("{field}.type"),
            &json!(kind),
            &["array", "boolean", "integer", "number", "object", "string"],
        ));
    }
    let properties = node.get("properties").and_then(Value::as_object);
    let additional = node.get("additionalProperties").filter(|a| a.is_object());
    if properties.is_some() && additional.is_some() {
        causes.push(StatusCause::forbidden(
            &format!("{field}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if kind == "array" && node.get("items").is_none() {
        causes.push(StatusCause::new(
            "FieldValueRequired",
            "Required value: must be specified",
            &format!("{field}.items"),
        ));
    }
    if let Some(default) = node.get("default") {
        for cause in crate::crd::schema::validate_value(schema, default, "default") {
            causes.push(StatusCause {
                field: format!("{field}.{}", cause.field),
                ..cause
            });
        }
    }
    for (name, child) in properties.into_iter().flatten() {
        structural_causes(child, &format!("{field}.properties[{name}]"), false, causes);
    }
    if let Some(extra) = additional {
        structural_causes(
            extra,
            &format!("{field}.additionalProperties"),
            false,
            causes,
        );
    }
    if let Some(items) = node.get("items") {
        structural_causes(items, &format!("{field}.items"), false, causes);
    }
}
