//! Pruning: fields a structural schema does not declare are dropped, unless a
//! schema node preserves unknown fields (`x-kubernetes-preserve-unknown-fields: true`)
//! or is an embedded resource (which keeps `apiVersion`, `kind`, `metadata`).

use serde_json::Value;

use super::{child_path, flag, ROOT_META_FIELDS};

/// Drops every field of `obj` its schema does not declare. At the root, `apiVersion`,
/// `kind` and `metadata` are always kept.
pub fn prune(schema: &Value, obj: &mut Value) {
    pruned_fields(schema, obj);
}

/// Like [`prune`], returning the paths of the fields dropped (`spec.colour`), for
/// `fieldValidation=Strict|Warn`.
pub fn pruned_fields(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut dropped = Vec::new();
    walk(schema, obj, "", true, &mut dropped);
    dropped
}

fn walk(schema: &Value, value: &mut Value, path: &str, keep_meta: bool, dropped: &mut Vec<String>) {
    if !schema.is_object() {
        return;
    }
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    let keep_meta = keep_meta || flag(schema, "x-kubernetes-embedded-resource");
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let at = child_path(path, &key);
                if keep_meta && ROOT_META_FIELDS.contains(&key.as_str()) {
                    if key == "metadata" {
                        if let Some(Value::Object(meta)) = map.get_mut(&key) {
                            prune_metadata(meta, &at, dropped);
                        }
                    }
                    continue;
                }
                if let Some(prop) = properties.and_then(|p| p.get(&key)) {
                    if let Some(child) = map.get_mut(&key) {
                        walk(prop, child, &at, false, dropped);
                    }
                } else if let Some(extra @ Value::Object(_)) = additional {
                    if let Some(child) = map.get_mut(&key) {
                        walk(extra, child, &at, false, dropped);
                    }
                } else if !preserve && additional != Some(&Value::Bool(true)) {
                    map.remove(&key);
                    dropped.push(at);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), false, dropped);
                }
            }
        }
        _ => {}
    }
}

/// The fields of ObjectMeta; others are dropped from custom objects' metadata.
const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn prune_metadata(
    meta: &mut serde_json::Map<String, Value>,
    path: &str,
    dropped: &mut Vec<String>,
) {
    let unknown: Vec<String> = meta
        .keys()
        .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        meta.remove(&key);
        dropped.push(child_path(path, &key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "embedded": {"type": "object", "x-kubernetes-embedded-resource": true,
                              "x-kubernetes-preserve-unknown-fields": true},
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        }})
    }

    #[test]
    fn drops_undeclared_fields_at_every_level() {
        let mut obj = json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "labels": {"a": "b"}, "bogus": 1},
            "spec": {"size": 1, "colour": "red", "labels": {"a": "b"},
                     "items": [{"a": "x", "b": "y"}], "free": {"any": {"thing": 1}},
                     "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "x": 1}},
            "status": {"ready": true, "extra": 1},
            "top": 1,
        });
        let dropped = pruned_fields(&schema(), &mut obj);
        assert_eq!(
            dropped,
            vec![
                "metadata.bogus",
                "spec.colour",
                "spec.items[0].b",
                "status.extra",
                "top"
            ]
        );
        assert_eq!(obj["metadata"], json!({"name": "w", "labels": {"a": "b"}}));
        assert_eq!(obj["spec"]["labels"]["a"], "b");
        assert_eq!(obj["spec"]["free"]["any"]["thing"], 1);
        assert_eq!(obj["spec"]["embedded"]["metadata"]["name"], "p");
        assert_eq!(obj["spec"]["items"][0], json!({"a": "x"}));
    }

    #[test]
    fn preserve_at_the_root_keeps_everything() {
        let schema = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        let mut obj = json!({"spec": {"anything": [1, 2]}});
        prune(&schema, &mut obj);
        assert_eq!(obj["spec"]["anything"], json!([1, 2]));
    }
}
