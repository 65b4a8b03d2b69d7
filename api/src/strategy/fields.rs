//! Field selectors: which labels each kind supports and how their values are read.

use serde_json::Value;
use skiff_core::status::ApiError;

use super::KindRules;

/// The value of field-selector label `label` in `obj`, as Kubernetes renders it:
/// strings as they are, booleans and numbers printed, a missing field as `""` (so
/// `spec.nodeName=` selects unscheduled pods).
pub fn field_value(
    rules: &KindRules,
    namespaced: bool,
    obj: &Value,
    label: &str,
) -> Result<Option<String>, ApiError> {
    let pointer = match label {
        "metadata.name" => "/metadata/name",
        "metadata.namespace" if namespaced => "/metadata/namespace",
        _ => rules
            .field_labels
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, p)| *p)
            .ok_or_else(|| ApiError::bad_request(format!("field label not supported: {label}")))?,
    };
    Ok(Some(render(obj.pointer(pointer))))
}

fn render(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::kinds::rules_for;
    use serde_json::json;

    #[test]
    fn pods_select_on_node_and_phase() {
        let rules = rules_for("", "Pod");
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"hostNetwork": true}, "status": {"phase": "Running"}});
        let get = |l| field_value(rules, true, &pod, l).unwrap().unwrap();
        assert_eq!(get("metadata.name"), "p");
        assert_eq!(get("metadata.namespace"), "ns");
        assert_eq!(get("spec.nodeName"), "");
        assert_eq!(get("spec.hostNetwork"), "true");
        assert_eq!(get("status.phase"), "Running");
        assert_eq!(
            field_value(rules, true, &pod, "spec.bogus")
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn cluster_scoped_kinds_have_no_namespace_field() {
        let rules = rules_for("", "Node");
        assert!(field_value(rules, false, &json!({}), "metadata.namespace").is_err());
    }
}
