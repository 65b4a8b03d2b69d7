//! Building the OpenAPI v3 documents.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};
use skiff_core::resource::{join_api_version, ApiResource};

use super::types::typed_kinds;
use crate::crd::{openapi_schema, CustomResourceVersion};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Subresources that are not object-shaped (streams, proxies): left out of the paths.
const STREAMING_SUBRESOURCES: [&str; 5] = ["log", "exec", "attach", "portforward", "proxy"];

/// The index key and URL path of a group-version: `api/v1` or `apis/{group}/{version}`.
pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`: each group-version's path with the URL of its document, made
/// unique by `hash` (a digest of the document, so clients may cache it forever).
pub fn index_document(entries: &BTreeMap<String, String>) -> Value {
    let paths: Map<String, Value> = entries
        .iter()
        .map(|(path, hash)| {
            (
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            )
        })
        .collect();
    json!({ "paths": paths })
}

/// The OpenAPI v3 document of one group-version, or `None` if nothing is served there.
pub fn group_version_document(
    resources: &[ApiResource],
    group: &str,
    version: &str,
) -> Option<Value> {
    group_version_document_with(resources, &[], group, version)
}

/// [`group_version_document`], with the schemas of custom resources taken from their
/// CRDs (`custom`) instead of an any-fields object.
pub fn group_version_document_with(
    resources: &[ApiResource],
    custom: &[CustomResourceVersion],
    group: &str,
    version: &str,
) -> Option<Value> {
    let served: Vec<&ApiResource> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let typed = typed_kinds();
    let find = |g: &str, v: &str, k: &str| {
        typed
            .iter()
            .find(|t| t.group == g && t.version == v && t.kind == k)
    };
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut untyped: Map<String, Value> = Map::new();
    let mut paths = Map::new();

    // Adds the schema of a kind; returns the reference to it.
    let mut schema_ref = |g: &str, v: &str, k: &str, generator: &mut schemars::SchemaGenerator| {
        match find(g, v, k) {
            Some(t) => {
                (t.add)(generator);
                format!("#/components/schemas/{}", t.schema_name)
            }
            None => {
                let name = untyped_schema_name(g, v, k);
                let crd = custom.iter().find(|c| {
                    c.resource.group == g && c.resource.version == v && c.resource.kind == k
                });
                if let Some(crd) = crd {
                    let meta = generator.subschema_for::<ObjectMeta>();
                    let meta_ref = meta
                        .get("$ref")
                        .and_then(Value::as_str)
                        .unwrap_or(
                            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                        )
                        .to_owned();
                    untyped
                        .entry(name.clone())
                        .or_insert_with(|| openapi_schema(crd, &meta_ref));
                    return format!("#/components/schemas/{name}");
                }
                untyped.entry(name.clone()).or_insert_with(|| {
                    json!({
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "x-kubernetes-group-version-kind": [{"group": g, "version": v, "kind": k}],
                    })
                });
                format!("#/components/schemas/{name}")
            }
        }
    };

    for r in served {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let reference = schema_ref(&r.group, &r.version, &r.kind, &mut generator);
        let base = format!("/{}", group_version_path(&r.group, &r.version));
        let scope = if r.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!("{base}{scope}/{}", r.plural);
        let object = format!("{collection}/{{name}}");
        let ns_param = r.namespaced.then(|| path_param("namespace"));

        let mut ops = Map::new();
        if r.verbs.iter().any(|v| v == "list") {
            ops.insert("get".into(), operation(r, "list", &gvk, None, false));
        }
        if r.verbs.iter().any(|v| v == "create") {
            ops.insert(
                "post".into(),
                operation(r, "post", &gvk, Some(&reference), true),
            );
        }
        if r.verbs.iter().any(|v| v == "deletecollection") {
            ops.insert(
                "delete".into(),
                operation(r, "deletecollection", &gvk, None, false),
            );
        }
        insert_path(
            &mut paths,
            collection,
            ops,
            ns_param.iter().cloned().collect(),
        );

        let mut ops = Map::new();
        if r.verbs.iter().any(|v| v == "get") {
            ops.insert(
                "get".into(),
                operation(r, "get", &gvk, Some(&reference), false),
            );
        }
        if r.verbs.iter().any(|v| v == "update") {
            ops.insert(
                "put".into(),
                operation(r, "put", &gvk, Some(&reference), true),
            );
        }
        if r.verbs.iter().any(|v| v == "patch") {
            ops.insert(
                "patch".into(),
                operation(r, "patch", &gvk, Some(&reference), true),
            );
        }
        if r.verbs.iter().any(|v| v == "delete") {
            ops.insert("delete".into(), operation(r, "delete", &gvk, None, false));
        }
        let mut params: Vec<Value> = ns_param.iter().cloned().collect();
        params.push(path_param("name"));
        insert_path(&mut paths, object.clone(), ops, params.clone());

        for sub in r
            .subresources
            .iter()
            .filter(|s| !STREAMING_SUBRESOURCES.contains(&s.name.as_str()))
        {
            let sub_gvk = json!({"group": sub.group, "version": sub.version, "kind": sub.kind});
            let sub_ref = schema_ref(&sub.group, &sub.version, &sub.kind, &mut generator);
            let mut ops = Map::new();
            for (verb, method, action) in [
                ("get", "get", "get"),
                ("update", "put", "put"),
                ("patch", "patch", "patch"),
                ("create", "post", "post"),
            ] {
                if sub.verbs.iter().any(|v| v == verb) {
                    ops.insert(
                        method.into(),
                        operation(r, action, &sub_gvk, Some(&sub_ref), method != "get"),
                    );
                }
            }
            insert_path(
                &mut paths,
                format!("{object}/{}", sub.name),
                ops,
                params.clone(),
            );
        }
    }

    let mut schemas = generator.take_definitions(true);
    for t in &typed {
        if let Some(Value::Object(schema)) = schemas.get_mut(&t.schema_name) {
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": t.group, "version": t.version, "kind": t.kind}]),
            );
        }
    }
    schemas.extend(untyped);

    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", crate::discovery::KUBERNETES_MAJOR, crate::discovery::KUBERNETES_MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `com.example.v1.Widget` for group `example.com`, as Kubernetes names CRD schemas.
fn untyped_schema_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').filter(|p| !p.is_empty()).collect();
    parts.reverse();
    parts.push(version);
    parts.push(kind);
    parts.join(".")
}

fn insert_path(
    paths: &mut Map<String, Value>,
    path: String,
    mut ops: Map<String, Value>,
    params: Vec<Value>,
) {
    if ops.is_empty() {
        return;
    }
    ops.insert("parameters".into(), Value::Array(params));
    paths.insert(path, Value::Object(ops));
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

fn query_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

/// One operation: its GVK and action extensions, write parameters, body and response.
fn operation(
    r: &ApiResource,
    action: &str,
    gvk: &Value,
    schema: Option<&str>,
    write: bool,
) -> Value {
    let mut op = json!({
        "operationId": format!("{action}{}{}", camel(&join_api_version(&r.group, &r.version)), r.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema.map(|s| json!({"$ref": s})).unwrap_or(json!({"type": "object"}))}}}},
    });
    let mut parameters = Vec::new();
    if write {
        parameters.push(query_param(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ));
        parameters.push(query_param(
            "fieldManager",
            "A name associated with the actor or entity that is making these changes.",
        ));
        parameters.push(query_param(
            "fieldValidation",
            "How the server handles unknown or duplicate fields: Ignore, Warn or Strict.",
        ));
    }
    if action == "patch" {
        parameters.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
        let body = json!({"schema": {"type": "object"}});
        op["requestBody"] = json!({"required": true, "content": {
            "application/json-patch+json": body,
            "application/merge-patch+json": body,
            "application/apply-patch+yaml": body,
        }});
    } else if write {
        if let Some(s) = schema {
            op["requestBody"] =
                json!({"required": true, "content": {"*/*": {"schema": {"$ref": s}}}});
        }
    }
    if action == "list" || action == "get" {
        parameters.push(query_param(
            "resourceVersion",
            "Which version of the resource to read.",
        ));
    }
    op["parameters"] = Value::Array(parameters);
    op
}

/// `apps/v1` -> `AppsV1`, `v1` -> `CoreV1`.
fn camel(api_version: &str) -> String {
    let api_version = if api_version.contains('/') {
        api_version.to_string()
    } else {
        format!("core/{api_version}")
    };
    api_version
        .split(['/', '.', '-'])
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_core::resource::builtin_resources;

    #[test]
    fn core_document_has_kinds_with_gvk_and_patch_with_field_validation() {
        let doc = group_version_document(&builtin_resources(), "", "v1").unwrap();
        let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert!(
            doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
                .is_object()
        );
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        assert!(patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_none());
        // No dangling references.
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling {name}"
            );
        }
    }

    #[test]
    fn scale_subresource_and_custom_kinds() {
        let mut all = builtin_resources();
        let doc = group_version_document(&all, "apps", "v1").unwrap();
        let scale =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
        assert_eq!(
            scale["x-kubernetes-group-version-kind"]["group"],
            "autoscaling"
        );
        assert_eq!(
            doc["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"]
                ["x-kubernetes-group-version-kind"][0]["kind"],
            "Scale"
        );

        let mut widget = all
            .iter()
            .find(|r| r.plural == "deployments")
            .unwrap()
            .clone();
        widget.group = "example.com".into();
        widget.kind = "Widget".into();
        widget.plural = "widgets".into();
        widget.subresources.clear();
        all.push(widget);
        let doc = group_version_document(&all, "example.com", "v1").unwrap();
        assert_eq!(
            doc["components"]["schemas"]["com.example.v1.Widget"]
                ["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert!(group_version_document(&all, "nope", "v1").is_none());
    }

    #[test]
    fn names() {
        assert_eq!(camel("apps/v1"), "AppsV1");
        assert_eq!(camel("v1"), "CoreV1");
        assert_eq!(
            untyped_schema_name("example.com", "v1", "W"),
            "com.example.v1.W"
        );
    }
}
