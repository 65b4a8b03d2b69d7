//! Defaulting: `default:` values of a structural schema, filled where a field is
//! missing (or `null` and not nullable), then defaulted inside in turn.

use serde_json::Value;

use super::flag;

/// Fills the schema's defaults into `obj`, at every level the object reaches.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    walk(schema, obj);
}

fn walk(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, prop) in properties {
                    let Some(default) = prop.get("default") else {
                        continue;
                    };
                    let missing = match map.get(key) {
                        None => true,
                        Some(Value::Null) => !flag(prop, "nullable"),
                        Some(_) => false,
                    };
                    if missing {
                        map.insert(key.clone(), default.clone());
                    }
                }
                for (key, prop) in properties {
                    if let Some(child) = map.get_mut(key) {
                        walk(prop, child);
                    }
                }
            }
            if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
                let declared = schema.get("properties").and_then(Value::as_object);
                for (key, child) in map.iter_mut() {
                    if declared.is_none_or(|d| !d.contains_key(key)) {
                        walk(extra, child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    if item.is_null() && !flag(item_schema, "nullable") {
                        if let Some(default) = item_schema.get("default") {
                            *item = default.clone();
                        }
                    }
                    walk(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_missing_and_null_fields_recursively() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "default": {}, "properties": {
                "replicas": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "fast"},
                "opt": {"type": "string", "nullable": true, "default": "x"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "protocol": {"type": "string", "default": "TCP"}}}},
                "byName": {"type": "object", "additionalProperties": {"type": "object",
                    "properties": {"weight": {"type": "integer", "default": 10}}}},
            }},
        }});
        let mut obj = json!({});
        apply_defaults(&schema, &mut obj);
        assert_eq!(
            obj["spec"],
            json!({"replicas": 1, "mode": "fast", "opt": "x"})
        );

        let mut obj = json!({"spec": {"replicas": 3, "mode": null, "opt": null,
            "ports": [{"name": "http"}], "byName": {"a": {}}}});
        apply_defaults(&schema, &mut obj);
        assert_eq!(obj["spec"]["replicas"], 3);
        assert_eq!(obj["spec"]["mode"], "fast");
        assert_eq!(obj["spec"]["opt"], Value::Null, "nullable null stays null");
        assert_eq!(obj["spec"]["ports"][0]["protocol"], "TCP");
        assert_eq!(obj["spec"]["byName"]["a"]["weight"], 10);
    }
}
