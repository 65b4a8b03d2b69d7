//! The OpenAPI v3 schema of a custom resource version, as kube-apiserver publishes it:
//! the CRD's `openAPIV3Schema` with `apiVersion`, `kind` and `metadata` (a reference to
//! ObjectMeta) added, and `x-kubernetes-group-version-kind`.

use serde_json::{json, Value};

use super::CustomResourceVersion;

/// The schema of `version` for `components.schemas`; `object_meta_ref` is the
/// reference of ObjectMeta in the same document.
pub fn openapi_schema(version: &CustomResourceVersion, object_meta_ref: &str) -> Value {
    let r = &version.resource;
    let mut schema = version.schema.clone();
    if !schema.is_object() {
        schema = json!({});
    }
    if schema.get("type").is_none() {
        schema["type"] = json!("object");
    }
    let properties = schema
        .as_object_mut()
        .map(|m| m.entry("properties").or_insert_with(|| json!({})));
    if let Some(Value::Object(props)) = properties {
        props.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."}),
        );
        props.insert(
            "kind".into(),
            json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase."}),
        );
        props.insert(
            "metadata".into(),
            json!({"allOf": [{"$ref": object_meta_ref}], "description": "Standard object's metadata."}),
        );
    }
    schema["x-kubernetes-group-version-kind"] =
        json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
    schema
}
