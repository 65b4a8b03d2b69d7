//! Reading a CustomResourceDefinition: the resources it serves, one
//! [`CustomResourceVersion`] per served version (descriptor, schema, subresources,
//! printer columns).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};
use skiff_core::resource::{ApiResource, Subresource, ALL_VERBS};

use super::CrdError;

/// The finalizer that keeps a deleted CRD until its custom objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Where the Scale subresource of a custom resource reads and writes (JSON paths such
/// as `.spec.replicas`, from `subresources.scale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// `specReplicasPath`.
    pub spec_replicas: String,
    /// `statusReplicasPath`.
    pub status_replicas: String,
    /// `labelSelectorPath`, if any.
    pub label_selector: Option<String>,
}

impl ScalePaths {
    /// The paths of the built-in workloads: `.spec.replicas`, `.status.replicas`, and
    /// the label selector object at `.spec.selector`.
    pub fn builtin() -> ScalePaths {
        ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".spec.selector".into()),
        }
    }
}

/// One `additionalPrinterColumns` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Header.
    pub name: String,
    /// `integer`, `number`, `string`, `boolean` or `date`.
    pub kind: String,
    /// Format hint (`name`, ...), often empty.
    pub format: String,
    /// Description.
    pub description: String,
    /// 0: always shown; more: only with `-o wide`.
    pub priority: i32,
    /// The simple JSONPath of the cell (`.spec.replicas`).
    pub json_path: String,
}

/// One served version of a custom resource: everything the API server needs to serve
/// it.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomResourceVersion {
    /// The name of the CRD (`widgets.example.com`).
    pub crd_name: String,
    /// The descriptor discovery lists.
    pub resource: ApiResource,
    /// The version's `openAPIV3Schema` (`{}` when none was given).
    pub schema: Value,
    /// The `apiVersion` objects are stored in (the storage version's).
    pub storage_api_version: String,
    /// The Scale subresource's paths, when it has one.
    pub scale: Option<ScalePaths>,
    /// The printer columns (Name comes first and is not listed here); Age alone when
    /// the CRD gives none.
    pub columns: Vec<PrinterColumn>,
}

/// Decodes a CRD object; 400-worthy [`CrdError::Decode`] when it does not fit the type.
pub fn decode(crd: &Value) -> Result<CustomResourceDefinition, CrdError> {
    serde_json::from_value(crd.clone()).map_err(|e| CrdError::Decode(e.to_string()))
}

/// The priority of a version name as Kubernetes sorts them: GA before beta before
/// alpha, higher numbers first, names that are not Kubernetes versions last by name.
fn version_priority(name: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    let parsed = name.strip_prefix('v').and_then(|rest| {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: u64 = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((0, major, 0));
        }
        for (level, stage) in [(1u8, "beta"), (2u8, "alpha")] {
            if let Some(minor) = tail.strip_prefix(stage) {
                return Some((level, major, minor.parse().ok()?));
            }
        }
        None
    });
    match parsed {
        Some((level, major, minor)) => (
            level,
            std::cmp::Reverse(major),
            std::cmp::Reverse(minor),
            String::new(),
        ),
        None => (
            3,
            std::cmp::Reverse(0),
            std::cmp::Reverse(0),
            name.to_owned(),
        ),
    }
}

/// The served versions of a CRD, most preferred first (`v2`, `v1`, `v1beta1`, ...), as
/// discovery lists them.
pub fn served_versions(crd: &Value) -> Result<Vec<CustomResourceVersion>, CrdError> {
    let typed = decode(crd)?;
    let spec = &typed.spec;
    let names = &spec.names;
    let crd_name = typed.metadata.name.clone().unwrap_or_default();
    let storage = spec
        .versions
        .iter()
        .find(|v| v.storage)
        .ok_or(CrdError::NoStorageVersion)?;
    let storage_api_version = format!("{}/{}", spec.group, storage.name);
    let raw_versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, version) in spec.versions.iter().enumerate() {
        if !version.served {
            continue;
        }
        let raw = raw_versions.get(i).cloned().unwrap_or(Value::Null);
        let schema = raw
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let subresources = version.subresources.as_ref();
        let mut subs = Vec::new();
        if subresources.is_some_and(|s| s.status.is_some()) {
            subs.push(Subresource {
                name: "status".into(),
                group: spec.group.clone(),
                version: version.name.clone(),
                kind: names.kind.clone(),
                verbs: vec!["get".into(), "patch".into(), "update".into()],
            });
        }
        let scale = subresources
            .and_then(|s| s.scale.as_ref())
            .map(|s| ScalePaths {
                spec_replicas: s.spec_replicas_path.clone(),
                status_replicas: s.status_replicas_path.clone(),
                label_selector: s.label_selector_path.clone(),
            });
        if scale.is_some() {
            subs.push(Subresource {
                name: "scale".into(),
                group: "autoscaling".into(),
                version: "v1".into(),
                kind: "Scale".into(),
                verbs: vec!["get".into(), "patch".into(), "update".into()],
            });
        }
        let columns = match version.additional_printer_columns.as_deref() {
            Some(cols) if !cols.is_empty() => cols
                .iter()
                .map(|c| PrinterColumn {
                    name: c.name.clone(),
                    kind: c.type_.clone(),
                    format: c.format.clone().unwrap_or_default(),
                    description: c.description.clone().unwrap_or_default(),
                    priority: c.priority.unwrap_or(0),
                    json_path: c.json_path.clone(),
                })
                .collect(),
            _ => vec![PrinterColumn {
                name: "Age".into(),
                kind: "date".into(),
                format: String::new(),
                description: String::new(),
                priority: 0,
                json_path: ".metadata.creationTimestamp".into(),
            }],
        };
        out.push(CustomResourceVersion {
            crd_name: crd_name.clone(),
            resource: ApiResource {
                group: spec.group.clone(),
                version: version.name.clone(),
                kind: names.kind.clone(),
                plural: names.plural.clone(),
                singular: names
                    .singular
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| names.kind.to_ascii_lowercase()),
                namespaced: spec.scope == "Namespaced",
                short_names: names.short_names.clone().unwrap_or_default(),
                categories: names.categories.clone().unwrap_or_default(),
                verbs: ALL_VERBS.iter().map(|v| (*v).to_owned()).collect(),
                subresources: subs,
            },
            schema,
            storage_api_version: storage_api_version.clone(),
            scale,
            columns,
        });
    }
    out.sort_by_key(|v| version_priority(&v.resource.version));
    Ok(out)
}

/// The names a CRD's status reports as accepted: its `spec.names` with singular and
/// listKind defaulted.
pub fn accepted_names(crd: &Value) -> Value {
    let mut names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let kind = names
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(map) = names.as_object_mut() {
        if map
            .get("singular")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            map.insert("singular".into(), json!(kind.to_ascii_lowercase()));
        }
        if map
            .get("listKind")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            map.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"],
                          "categories": ["all"]},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object"}}}},
                     "subresources": {"status": {}, "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas"}},
                     "additionalPrinterColumns": [
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]},
                    {"name": "v0", "served": false, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                ],
            },
        })
    }

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut names = vec![
            "v1alpha1", "v1", "foo", "v2beta1", "v1beta2", "v2", "v1beta1",
        ];
        names.sort_by_key(|n| version_priority(n));
        assert_eq!(
            names,
            vec!["v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn one_resource_per_served_version() {
        let versions = served_versions(&widget_crd()).unwrap();
        assert_eq!(versions.len(), 2);
        let v1 = &versions[0];
        assert_eq!(v1.resource.api_version(), "example.com/v1");
        assert_eq!(v1.resource.singular, "widget");
        assert!(v1.resource.namespaced);
        assert_eq!(v1.resource.short_names, vec!["wd"]);
        assert!(v1.resource.subresource("status").is_some());
        assert_eq!(v1.resource.subresource("scale").unwrap().kind, "Scale");
        assert_eq!(v1.columns[0].name, "Replicas");
        assert_eq!(v1.storage_api_version, "example.com/v1");
        let beta = &versions[1];
        assert!(beta.resource.subresources.is_empty());
        assert_eq!(beta.columns[0].name, "Age");
        assert_eq!(beta.storage_api_version, "example.com/v1");
        let names = accepted_names(&widget_crd());
        assert_eq!(names["listKind"], "WidgetList");
        assert_eq!(names["singular"], "widget");
    }
}
