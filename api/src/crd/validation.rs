//! Validation of CustomResourceDefinition objects: names, versions, schemas,
//! subresources and printer columns, with Kubernetes' field paths and wording.

use serde_json::{json, Value};
use skiff_core::status::StatusCause;

use super::structural::structural_causes;
use crate::strategy::validate_dns1123_subdomain;

const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Whether `s` is a DNS-1035 label (`[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 long).
fn is_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The problems of a whole CRD object (empty when valid).
pub fn validate_crd(crd: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let group = str_at(crd, "/spec/group");
    let plural = str_at(crd, "/spec/names/plural");
    let name = str_at(crd, "/metadata/name");
    if name != format!("{plural}.{group}") {
        causes.push(StatusCause::invalid_value(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        causes.push(StatusCause::required("spec.group"));
    } else if let Some(err) = validate_dns1123_subdomain(group).first() {
        causes.push(StatusCause::invalid_value("spec.group", &json!(group), err));
    } else if !group.contains('.') {
        causes.push(StatusCause::invalid_value(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    let protected = group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io");
    let approved = crd
        .pointer("/metadata/annotations/api-approved.kubernetes.io")
        .and_then(Value::as_str)
        .is_some_and(|a| !a.is_empty());
    if protected && !approved {
        causes.push(StatusCause::new(
            "FieldValueRequired",
            "Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111",
            "metadata.annotations[api-approved.kubernetes.io]",
        ));
    }
    match str_at(crd, "/spec/scope") {
        "" => causes.push(StatusCause::required("spec.scope")),
        "Cluster" | "Namespaced" => {}
        other => causes.push(StatusCause::not_supported(
            "spec.scope",
            &json!(other),
            &["Cluster", "Namespaced"],
        )),
    }
    causes.extend(names_causes(
        crd.pointer("/spec/names").unwrap_or(&Value::Null),
    ));
    causes.extend(versions_causes(crd));
    match str_at(crd, "/spec/conversion/strategy") {
        "" | "None" => {}
        "Webhook" => causes.push(StatusCause::forbidden(
            "spec.conversion.strategy",
            "conversion webhooks are not supported by this server; use \"None\"",
        )),
        other => causes.push(StatusCause::not_supported(
            "spec.conversion.strategy",
            &json!(other),
            &["None", "Webhook"],
        )),
    }
    causes
}

/// The problems of `spec.names`.
fn names_causes(names: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let get = |f: &str| names.get(f).and_then(Value::as_str).unwrap_or("");
    let plural = get("plural");
    if plural.is_empty() {
        causes.push(StatusCause::required("spec.names.plural"));
    } else if !is_dns1035_label(plural) {
        causes.push(StatusCause::invalid_value(
            "spec.names.plural",
            &json!(plural),
            DNS1035_MSG,
        ));
    }
    let singular = get("singular");
    if !singular.is_empty() && !is_dns1035_label(singular) {
        causes.push(StatusCause::invalid_value(
            "spec.names.singular",
            &json!(singular),
            DNS1035_MSG,
        ));
    }
    let kind = get("kind");
    if kind.is_empty() {
        causes.push(StatusCause::required("spec.names.kind"));
    } else if !is_dns1035_label(&kind.to_ascii_lowercase()) {
        causes.push(StatusCause::invalid_value(
            "spec.names.kind",
            &json!(kind),
            "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
        ));
    }
    let list_kind = get("listKind");
    if !list_kind.is_empty() {
        if !is_dns1035_label(&list_kind.to_ascii_lowercase()) {
            causes.push(StatusCause::invalid_value(
                "spec.names.listKind",
                &json!(list_kind),
                "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
            ));
        }
        if list_kind == kind {
            causes.push(StatusCause::invalid_value(
                "spec.names.listKind",
                &json!(list_kind),
                "kind and listKind may not be the same",
            ));
        }
    }
    for (i, short) in names
        .get("shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = short.as_str().unwrap_or("");
        if !is_dns1035_label(s) {
            causes.push(StatusCause::invalid_value(
                &format!("spec.names.shortNames[{i}]"),
                short,
                DNS1035_MSG,
            ));
        }
    }
    causes
}

/// The problems of `spec.versions`.
fn versions_causes(crd: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(StatusCause::new(
            "FieldValueRequired",
            "Required value: must have exactly one version marked as storage version",
            "spec.versions",
        ));
        return causes;
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        let listed: Vec<&str> = versions
            .iter()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .collect();
        causes.push(StatusCause::invalid_value(
            "spec.versions",
            &json!(listed),
            "must have exactly one version marked as storage version",
        ));
    }
    if !versions
        .iter()
        .any(|v| v.get("served").and_then(Value::as_bool) == Some(true))
    {
        causes.push(StatusCause::invalid_value(
            "spec.versions",
            &json!(versions.len()),
            "must have at least one version marked as served",
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            causes.push(StatusCause::required(&format!("{at}.name")));
        } else if !is_dns1035_label(name) {
            causes.push(StatusCause::invalid_value(
                &format!("{at}.name"),
                &json!(name),
                DNS1035_MSG,
            ));
        } else if seen.contains(&name) {
            causes.push(StatusCause::duplicate(&format!("{at}.name"), &json!(name)));
        }
        seen.push(name);
        causes.extend(schema_causes(v, &at));
        causes.extend(scale_causes(v, &at));
        causes.extend(column_causes(v, &at));
    }
    causes
}

fn schema_causes(version: &Value, at: &str) -> Vec<StatusCause> {
    let field = format!("{at}.schema.openAPIV3Schema");
    let Some(schema) = version.pointer("/schema/openAPIV3Schema") else {
        return vec![StatusCause::new(
            "FieldValueRequired",
            "Required value: schemas are required",
            &field,
        )];
    };
    if !schema.is_object() {
        return vec![StatusCause::invalid_value(
            &field,
            schema,
            "must be an object",
        )];
    }
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    let mut causes = Vec::new();
    structural_causes(schema, &field, true, &mut causes);
    let root = match schema.get("type").and_then(Value::as_str) {
        Some("object") => Vec::new(),
        None | Some("") if preserve => Vec::new(),
        None | Some("") => vec![StatusCause::new(
            "FieldValueRequired",
            "Required value: must not be empty at the root",
            &format!("{field}.type"),
        )],
        Some(other) => vec![StatusCause::invalid_value(
            &format!("{field}.type"),
            &json!(other),
            "must be object at the root",
        )],
    };
    causes.extend(root);
    causes
}

fn scale_causes(version: &Value, at: &str) -> Vec<StatusCause> {
    let Some(scale) = version.pointer("/subresources/scale") else {
        return Vec::new();
    };
    let mut causes = Vec::new();
    let field = format!("{at}.subresources.scale");
    for (key, under, required) in [
        ("specReplicasPath", ".spec.", true),
        ("statusReplicasPath", ".status.", true),
        ("labelSelectorPath", "", false),
    ] {
        let path = scale.get(key).and_then(Value::as_str).unwrap_or("");
        if path.is_empty() {
            if required {
                causes.push(StatusCause::required(&format!("{field}.{key}")));
            }
            continue;
        }
        let ok = if under.is_empty() {
            path.starts_with(".spec.") || path.starts_with(".status.")
        } else {
            path.starts_with(under)
        };
        if !ok {
            let detail = if under.is_empty() {
                "should be a json path under either .spec or .status".to_owned()
            } else {
                format!(
                    "should be a json path under {}",
                    under.trim_end_matches('.')
                )
            };
            causes.push(StatusCause::invalid_value(
                &format!("{field}.{key}"),
                &json!(path),
                &detail,
            ));
        }
    }
    causes
}

fn column_causes(version: &Value, at: &str) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    for (i, col) in version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!("{at}.additionalPrinterColumns[{i}]");
        if col
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(StatusCause::required(&format!("{field}.name")));
        }
        let kind = col.get("type").and_then(Value::as_str).unwrap_or("");
        if !["integer", "number", "string", "boolean", "date"].contains(&kind) {
            causes.push(StatusCause::not_supported(
                &format!("{field}.type"),
                &json!(kind),
                &["integer", "number", "string", "boolean", "date"],
            ));
        }
        let path = col.get("jsonPath").and_then(Value::as_str).unwrap_or("");
        if path.is_empty() {
            causes.push(StatusCause::required(&format!("{field}.jsonPath")));
        } else if !path.starts_with('.') {
            causes.push(StatusCause::invalid_value(
                &format!("{field}.jsonPath"),
                &json!(path),
                "must be a simple json path starting with .",
            ));
        }
    }
    causes
}

/// The problems of an update of a CRD: fields that may not change.
pub fn validate_crd_update(new: &Value, old: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    for (pointer, field) in [("/spec/scope", "spec.scope"), ("/spec/group", "spec.group")] {
        let (n, o) = (str_at(new, pointer), str_at(old, pointer));
        if n != o {
            causes.push(StatusCause::invalid_value(
                field,
                &json!(n),
                "field is immutable",
            ));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]},
        })
    }

    fn fields(crd: &Value) -> Vec<String> {
        validate_crd(crd)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_good_crd_passes() {
        assert!(fields(&crd()).is_empty(), "{:?}", fields(&crd()));
    }

    #[test]
    fn names_must_be_lowercase_and_match() {
        let mut bad = crd();
        bad["spec"]["names"]["plural"] = json!("Widgets");
        let got = fields(&bad);
        assert!(got[0].starts_with("metadata.name: Invalid value: \"widgets.example.com\": must be spec.names.plural+\".\"+spec.group"), "{got:?}");
        assert!(
            got[1].starts_with("spec.names.plural: Invalid value: \"Widgets\": a DNS-1035 label"),
            "{got:?}"
        );
        let mut bad = crd();
        bad["spec"]["group"] = json!("example");
        bad["metadata"]["name"] = json!("widgets.example");
        assert_eq!(
            fields(&bad),
            vec![
                "spec.group: Invalid value: \"example\": should be a domain with at least one dot"
            ]
        );
    }

    #[test]
    fn versions_need_one_storage_and_schemas() {
        let mut bad = crd();
        bad["spec"]["versions"] = json!([]);
        assert_eq!(
            fields(&bad),
            vec!["spec.versions: Required value: must have exactly one version marked as storage version"]
        );
        let mut bad = crd();
        bad["spec"]["versions"] = json!([
            {"name": "v1", "served": true, "storage": true},
            {"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "string"}}},
        ]);
        assert_eq!(
            fields(&bad),
            vec![
                "spec.versions: Invalid value: \"array\": must have exactly one version marked as storage version",
                "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required",
                "spec.versions[1].schema.openAPIV3Schema.type: Invalid value: \"string\": must be object at the root",
            ]
        );
    }

    #[test]
    fn scope_and_scale_and_columns() {
        let mut bad = crd();
        bad["spec"]["scope"] = json!("Global");
        bad["spec"]["versions"][0]["subresources"] =
            json!({"scale": {"specReplicasPath": ".replicas"}});
        bad["spec"]["versions"][0]["additionalPrinterColumns"] =
            json!([{"name": "X", "type": "float", "jsonPath": ".spec.x"}]);
        let got = fields(&bad);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].starts_with("spec.scope: Unsupported value: \"Global\""));
        assert!(got[1]
            .starts_with("spec.versions[0].subresources.scale.specReplicasPath: Invalid value"));
        assert!(
            got[2].starts_with("spec.versions[0].subresources.scale.statusReplicasPath: Required")
        );
        assert!(got[3]
            .starts_with("spec.versions[0].additionalPrinterColumns[0].type: Unsupported value"));
    }

    #[test]
    fn schemas_must_be_structural() {
        let mut bad = crd();
        bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({
            "type": "object",
            "properties": {
                "spec": {"properties": {
                    "size": {"type": "integer", "default": "big"},
                    "tags": {"type": "array"},
                    "port": {"type": "string", "x-kubernetes-int-or-string": true},
                    "free": {"x-kubernetes-preserve-unknown-fields": true},
                }},
            },
        });
        let at = "spec.versions[0].schema.openAPIV3Schema.properties[spec]";
        let got = fields(&bad);
        assert_eq!(
            got,
            vec![
                format!("{at}.type: Required value: must not be empty for specified object fields"),
                format!("{at}.properties[port].type: Invalid value: \"string\": must be empty if x-kubernetes-int-or-string is true"),
                format!("{at}.properties[size].default: Invalid value: \"string\": default in body must be of type integer: \"string\""),
                format!("{at}.properties[tags].items: Required value: must be specified"),
            ]
        );
    }

    #[test]
    fn protected_groups_need_approval() {
        let mut crd = crd();
        crd["spec"]["group"] = json!("coordination.k8s.io");
        crd["metadata"]["name"] = json!("widgets.coordination.k8s.io");
        let got = fields(&crd);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("metadata.annotations[api-approved.kubernetes.io]: Required value")
        );
        crd["metadata"]["annotations"] =
            json!({"api-approved.kubernetes.io": "https://example.com/pr/1"});
        assert!(fields(&crd).is_empty());
    }

    #[test]
    fn scope_is_immutable() {
        let mut new = crd();
        new["spec"]["scope"] = json!("Cluster");
        assert_eq!(validate_crd_update(&new, &crd()).len(), 1);
        assert!(validate_crd_update(&crd(), &crd()).is_empty());
    }
}
