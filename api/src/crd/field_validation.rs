//! `fieldValidation=Strict` for custom objects: a body with fields the schema does not
//! declare is refused (400) instead of pruned, as kube-apiserver does (kubectl create
//! and apply send Strict by default).

use serde_json::Value;
use skiff_core::status::ApiError;

use super::schema::pruned_fields;
use crate::strategy::Strategy;

/// Under `fieldValidation=Strict`, refuses a custom object (`obj`, as the client sent
/// or patched it) with undeclared fields; anything else passes (`Ignore` and `Warn`
/// prune them).
pub fn check_unknown_fields(
    strategy: &dyn Strategy,
    field_validation: Option<&str>,
    obj: &Value,
) -> Result<(), ApiError> {
    if field_validation != Some("Strict") {
        return Ok(());
    }
    let Some(custom) = strategy.custom_resource() else {
        return Ok(());
    };
    let mut copy = obj.clone();
    let unknown = pruned_fields(&custom.schema, &mut copy);
    if unknown.is_empty() {
        return Ok(());
    }
    let r = &custom.resource;
    let fields: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    Err(ApiError::bad_request(format!(
        "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
        fields.join(", "),
        kind = r.kind,
        version = r.version,
    )))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::crd::{served_versions, CustomResourceStrategy};

    #[test]
    fn strict_refuses_undeclared_fields() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]},
        });
        let version = served_versions(&crd).unwrap().remove(0);
        let strategy = CustomResourceStrategy::new(Arc::new(version));
        let obj = json!({"metadata": {"name": "w"}, "spec": {"size": 1, "colour": "red"}});
        let err = check_unknown_fields(&strategy, Some("Strict"), &obj).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            r#"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.colour""#
        );
        assert!(check_unknown_fields(&strategy, Some("Ignore"), &obj).is_ok());
        assert!(check_unknown_fields(&strategy, None, &obj).is_ok());
        let good = json!({"metadata": {"name": "w"}, "spec": {"size": 1}});
        assert!(check_unknown_fields(&strategy, Some("Strict"), &good).is_ok());
    }
}
