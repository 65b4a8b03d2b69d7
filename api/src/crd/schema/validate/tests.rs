use serde_json::{json, Value};

use super::*;

fn schema() -> Value {
    json!({"type": "object", "required": ["spec"], "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 0, "maximum": 10},
            "replicas": {"type": "integer", "format": "int32"},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
            "when": {"type": "string", "format": "date-time"},
            "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0},
            "port": {"x-kubernetes-int-or-string": true},
            "note": {"type": "string", "nullable": true},
            "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "strict": {"type": "object", "properties": {"a": {"type": "string"}},
                       "additionalProperties": false},
        }},
    }})
}

/// The causes as `field: message`, sorted (fields are visited in key order).
fn messages(obj: Value) -> Vec<String> {
    let mut got: Vec<String> = validate(&schema(), &obj)
        .into_iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    got.sort();
    got
}

fn sorted(mut v: Vec<&str>) -> Vec<String> {
    v.sort();
    v.into_iter().map(str::to_owned).collect()
}

#[test]
fn a_valid_object_has_no_causes() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "x"},
        "spec": {"size": 3, "replicas": 2, "color": "red", "name": "abc",
                 "when": "2024-01-02T03:04:05Z", "ratio": 0.5, "port": "http",
                 "note": null, "tags": ["a"], "labels": {"k": "v"}, "strict": {"a": "b"}}});
    assert_eq!(messages(obj), Vec::<String>::new());
    let obj = json!({"spec": {"size": 0, "port": 8080}});
    assert_eq!(messages(obj), Vec::<String>::new());
}

#[test]
fn wrong_types_are_worded_like_kubernetes() {
    assert_eq!(
        messages(json!({"spec": {"size": "string"}})),
        vec![
            r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#
        ]
    );
    assert_eq!(
        messages(json!({"spec": {"size": 1, "port": true}})),
        vec![
            r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
        ]
    );
    assert_eq!(
        messages(json!({"spec": {"size": 1, "name": null}})),
        vec![
            r#"spec.name: Invalid value: "null": spec.name in body must be of type string: "null""#
        ]
    );
}

#[test]
fn required_fields() {
    assert_eq!(messages(json!({})), vec!["spec: Required value"]);
    assert_eq!(
        messages(json!({"spec": {}})),
        vec!["spec.size: Required value"]
    );
}

#[test]
fn bounds_lengths_patterns_enums_formats() {
    let got = messages(json!({"spec": {"size": 11, "replicas": 3_000_000_000i64,
        "color": "pink", "name": "ABCDEF", "when": "yesterday", "ratio": 0}}));
    assert_eq!(
        got,
        sorted(vec![
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
            "spec.replicas: Invalid value: 3000000000: spec.replicas in body must be of type int32: 3000000000",
            r#"spec.color: Unsupported value: "pink": supported values: "red", "blue""#,
            "spec.name: Too long: may not be more than 5 bytes",
            r#"spec.name: Invalid value: "ABCDEF": spec.name in body should match '^[a-z]+$'"#,
            r#"spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday""#,
            "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0",
        ])
    );
    assert_eq!(
        messages(json!({"spec": {"size": -1, "name": ""}})),
        sorted(vec![
            "spec.size: Invalid value: -1: spec.size in body should be greater than or equal to 0",
            r#"spec.name: Invalid value: "": spec.name in body should be at least 1 chars long"#,
            r#"spec.name: Invalid value: "": spec.name in body should match '^[a-z]+$'"#,
        ])
    );
}

#[test]
fn arrays_and_maps() {
    assert_eq!(
        messages(
            json!({"spec": {"size": 1, "tags": ["a", 2, "c"], "labels": {"k": 1},
            "strict": {"b": 1}}})
        ),
        sorted(vec![
            "spec.tags: Too many: 3: must have at most 2 items",
            r#"spec.tags[1]: Invalid value: "integer": spec.tags[1] in body must be of type string: "integer""#,
            r#"spec.labels.k: Invalid value: "integer": spec.labels.k in body must be of type string: "integer""#,
            "spec.strict.b: Forbidden: additional properties are not allowed",
        ])
    );
}

#[test]
fn metadata_is_not_checked_by_the_schema() {
    let schema = json!({"type": "object", "required": ["metadata"], "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 2}}}}});
    let obj = json!({"metadata": {"name": "long-name"}});
    assert!(validate(&schema, &obj).is_empty());
}
