//! Server-side apply: merges a manager's applied configuration into the live object,
//! with ownership.
//!
//! 1. The configuration's field set is what the manager now owns.
//! 2. Fields it changes that another manager owns are conflicts (409, one
//!    `FieldManagerConflict` cause each) unless `force`, which takes them over.
//! 3. Fields the manager applied before and omits now are removed from the object,
//!    unless another manager owns them too.
//!
//! ```
//! use serde_json::json;
//! use skiff_api::managed_fields::{apply, ApplyRequest, Scope};
//!
//! let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
//!     "metadata": {"name": "c"}, "data": {"a": "1"}});
//! let request = ApplyRequest {
//!     manager: "kubectl",
//!     api_version: "v1",
//!     force: false,
//!     scope: Scope::for_kind("", "ConfigMap", false),
//!     subresource: "",
//! };
//! let created = apply(&serde_json::Value::Null, &config, &request).unwrap();
//! assert_eq!(created["data"]["a"], "1");
//! assert_eq!(created["metadata"]["managedFields"][0]["operation"], "Apply");
//! ```

use serde_json::Value;
use skiff_core::patch::{apply_strategic_merge_patch_with, builtin_schema};
use skiff_core::status::{ApiError, StatusCause, StatusDetails};

use super::entries::{read_entries, write_entries, Entry, Operation};
use super::fieldset::{FieldSet, Path};
use super::walk::{changed_fields, fields_of, remove_path, Scope};
use crate::registry::meta;

/// One apply request.
#[derive(Clone, Debug)]
pub struct ApplyRequest<'a> {
    /// `fieldManager` (required for apply).
    pub manager: &'a str,
    /// `group/version` of the request.
    pub api_version: &'a str,
    /// `force=true`: take fields over from other managers instead of conflicting.
    pub force: bool,
    /// The kind and part of the object written.
    pub scope: Scope,
    /// The subresource applied to (`status`, `scale`), or empty for the object.
    pub subresource: &'a str,
}

/// Applies `config` to `live` (`Value::Null` when the object does not exist yet) and
/// returns the object to store, with its managedFields. 409 on conflicts.
pub fn apply(live: &Value, config: &Value, req: &ApplyRequest<'_>) -> Result<Value, ApiError> {
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "the body of an apply request must be an object",
        ));
    }
    let mut config = config.clone();
    meta::remove_meta(&mut config, "managedFields");
    let config_set = fields_of(&config, &req.scope);
    let root = req.scope.root();
    let mut merged = apply_strategic_merge_patch_with(live, &config, builtin_schema(), root)?;
    let changed = changed_fields(live, &merged, &req.scope);

    let mut entries = read_entries(live);
    let is_self = |e: &Entry| e.is(req.manager, Operation::Apply, req.subresource);
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for e in entries.iter_mut().filter(|e| !is_self(e)) {
        let overlap = e.fields.intersection(&changed);
        if overlap.is_empty() {
            continue;
        }
        if req.force {
            e.fields = e.fields.difference(&overlap);
        } else {
            let who = e.describe();
            conflicts.extend(overlap.paths().into_iter().map(|p| (who.clone(), p)));
        }
    }
    if !conflicts.is_empty() {
        return Err(conflict_error(&conflicts));
    }

    let previous = entries
        .iter()
        .find(|e| is_self(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others = entries
        .iter()
        .filter(|e| !is_self(e))
        .fold(FieldSet::new(), |acc, e| acc.union(&e.fields));
    let dropped = previous.difference(&config_set);
    for path in dropped.paths().into_iter().rev() {
        let owned_elsewhere = others.contains(&path.0) || others.has_descendants(&path.0);
        if !owned_elsewhere && !config_set.contains_prefix(&path.0) {
            remove_path(&mut merged, &path.0);
        }
    }

    let now = meta::now_timestamp();
    match entries.iter_mut().find(|e| is_self(e)) {
        Some(e) => {
            e.fields = config_set;
            e.api_version = req.api_version.to_owned();
            e.time = Some(now);
        }
        None => entries.push(Entry {
            manager: req.manager.to_owned(),
            operation: Operation::Apply,
            api_version: req.api_version.to_owned(),
            time: Some(now),
            subresource: req.subresource.to_owned(),
            fields: config_set,
        }),
    }
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// The 409 Kubernetes answers: `Apply failed with 1 conflict: conflict with "m" using
/// apps/v1: .spec.replicas`, one `FieldManagerConflict` cause per field.
pub fn conflict_error(conflicts: &[(String, Path)]) -> ApiError {
    let message = if let [(who, path)] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {who}: {path}")
    } else {
        let mut managers: Vec<&String> = conflicts.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for (_, p) in conflicts.iter().filter(|(who, _)| who == m) {
                lines.push(format!("- {p}"));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes = conflicts
        .iter()
        .map(|(who, path)| {
            StatusCause::new(
                "FieldManagerConflict",
                &format!("conflict with {who}"),
                &path.to_string(),
            )
        })
        .collect();
    let mut err = ApiError::new(409, "Conflict", message);
    err.details = Some(Box::new(StatusDetails {
        causes,
        ..StatusDetails::default()
    }));
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managed_fields::entries::{track_update, Writer};
    use serde_json::json;

    fn req(manager: &str, force: bool) -> ApplyRequest<'_> {
        ApplyRequest {
            manager,
            api_version: "apps/v1",
            force,
            scope: Scope::for_kind("apps", "Deployment", true),
            subresource: "",
        }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "nginx", "image": image}]}}}})
    }

    #[test]
    fn conflicts_name_manager_and_field() {
        let mut live = deployment(2, "nginx");
        track_update(
            &Value::Null,
            &mut live,
            &Writer {
                manager: "kubectl-client-side-apply",
                api_version: "apps/v1",
                subresource: "",
            },
            &Scope::for_kind("apps", "Deployment", true),
        );
        // Same values: shared ownership, no conflict.
        let same = apply(&live, &deployment(2, "nginx"), &req("kubectl", false)).unwrap();
        assert_eq!(read_entries(&same).len(), 2);

        let err = apply(&live, &deployment(3, "nginx"), &req("kubectl", false)).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(err.reason, "Conflict");
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let status = err.to_status();
        assert_eq!(
            status["details"]["causes"][0],
            json!({"reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                "field": ".spec.replicas"})
        );

        let two = apply(&live, &deployment(3, "httpd"), &req("kubectl", false)).unwrap_err();
        assert_eq!(
            two.message,
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"
        );

        let forced = apply(&live, &deployment(3, "nginx"), &req("kubectl", true)).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let entries = read_entries(&forced);
        let csa = entries
            .iter()
            .find(|e| e.manager == "kubectl-client-side-apply")
            .unwrap();
        assert!(!csa.fields.to_fields_v1()["f:spec"]
            .as_object()
            .unwrap()
            .contains_key("f:replicas"));
    }

    #[test]
    fn omitted_fields_are_removed_unless_owned_elsewhere() {
        let mut config = deployment(2, "nginx");
        config["metadata"]["labels"] = json!({"a": "1", "b": "2"});
        let live = apply(&Value::Null, &config, &req("kubectl", false)).unwrap();
        assert_eq!(
            live["metadata"]["managedFields"][0]["fieldsV1"]["f:metadata"],
            json!({"f:labels": {"f:a": {}, "f:b": {}}})
        );
        // Another applier co-owns label b.
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"b": "2"}}});
        let live = apply(&live, &other, &req("other", false)).unwrap();

        let mut smaller = deployment(2, "nginx");
        smaller["metadata"]["labels"] = json!({});
        smaller["spec"].as_object_mut().unwrap().remove("replicas");
        let after = apply(&live, &smaller, &req("kubectl", false)).unwrap();
        assert_eq!(after["metadata"]["labels"], json!({"b": "2"}));
        assert!(after["spec"].get("replicas").is_none());
        assert_eq!(
            after["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx"
        );
    }

    #[test]
    fn applying_twice_is_stable() {
        let first = apply(
            &Value::Null,
            &deployment(2, "nginx"),
            &req("kubectl", false),
        )
        .unwrap();
        let second = apply(&first, &deployment(2, "nginx"), &req("kubectl", false)).unwrap();
        assert_eq!(first["spec"], second["spec"]);
        assert_eq!(read_entries(&second).len(), 1);
    }
}
