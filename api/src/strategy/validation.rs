//! Validation shared by every kind: names, the typed decode into the k8s-openapi type,
//! labels, immutable fields, and the kind-specific checks the table in
//! [`super::kinds`] points at.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use skiff_core::resource::ApiResource;
use skiff_core::status::{ApiError, StatusCause};

use super::KindRules;
use crate::registry::meta;

/// How an object's name is validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// A DNS-1123 subdomain (most kinds): at most 253 characters of `[a-z0-9.-]`.
    Subdomain,
    /// A DNS-1123 label (namespaces, services): at most 63 characters of `[a-z0-9-]`.
    Label,
}

/// Why an object failed its typed decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypedError {
    /// A required field is missing: its dotted path.
    Missing(String),
    /// The JSON does not fit the type: where and why.
    Mismatch {
        /// Dotted path of the offending value.
        path: String,
        /// serde's description.
        message: String,
    },
}

/// A typed decode check: decodes the object into its k8s-openapi type; with a list,
/// also records there the fields the type does not define.
pub type TypedCheck = fn(&Value, Option<&mut Vec<FieldPath>>) -> Result<(), TypedError>;

/// Where a field is in an object: keys and list indexes from the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(Vec<PathStep>);

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// A key of an object.
    Key(String),
    /// An index of a list.
    Index(usize),
}

impl FieldPath {
    fn from_ignored(path: &serde_ignored::Path<'_>) -> FieldPath {
        fn walk(path: &serde_ignored::Path<'_>, out: &mut Vec<PathStep>) {
            use serde_ignored::Path;
            match path {
                Path::Root => {}
                Path::Seq { parent, index } => {
                    walk(parent, out);
                    out.push(PathStep::Index(*index));
                }
                Path::Map { parent, key } => {
                    walk(parent, out);
                    out.push(PathStep::Key(key.clone()));
                }
                Path::Some { parent }
                | Path::NewtypeStruct { parent }
                | Path::NewtypeVariant { parent } => walk(parent, out),
            }
        }
        let mut steps = Vec::new();
        walk(path, &mut steps);
        FieldPath(steps)
    }

    /// Removes the field from `obj`; false (and nothing removed) when it is absent or
    /// `null`.
    pub fn remove_from(&self, obj: &mut Value) -> bool {
        let Some((last, parents)) = self.0.split_last() else {
            return false;
        };
        let mut at = obj;
        for step in parents {
            let next = match step {
                PathStep::Key(k) => at.get_mut(k.as_str()),
                PathStep::Index(i) => at.get_mut(*i),
            };
            match next {
                Some(v) => at = v,
                None => return false,
            }
        }
        match (last, at.as_object_mut()) {
            (PathStep::Key(k), Some(map)) if map.get(k).is_some_and(|v| !v.is_null()) => {
                map.remove(k);
                true
            }
            _ => false,
        }
    }
}

/// Dotted keys with list indexes: `spec.template.spec.containers[0].foo`.
impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Key(k) if i == 0 => write!(f, "{k}")?,
                PathStep::Key(k) => write!(f, ".{k}")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Decodes `obj` into `T`, reporting where it does not fit; with `unknown`, records
/// there the fields `T` does not define. The common case (it fits) decodes once,
/// with no path tracking; only a failure decodes again to say where.
pub fn typed<T: DeserializeOwned>(
    obj: &Value,
    unknown: Option<&mut Vec<FieldPath>>,
) -> Result<(), TypedError> {
    let fits = match unknown {
        Some(out) => serde_ignored::deserialize::<_, _, T>(obj, |path| {
            out.push(FieldPath::from_ignored(&path))
        })
        .is_ok(),
        None => T::deserialize(obj).is_ok(),
    };
    if fits {
        return Ok(());
    }
    match serde_path_to_error::deserialize::<_, T>(obj) {
        Ok(_) => Ok(()),
        Err(err) => {
            let path = err.path().to_string();
            let message = err.inner().to_string();
            let path = if path == "." { String::new() } else { path };
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
            {
                let full = if path.is_empty() {
                    field.to_owned()
                } else {
                    format!("{path}.{field}")
                };
                return Err(TypedError::Missing(full));
            }
            Err(TypedError::Mismatch { path, message })
        }
    }
}

/// Removes from `obj` the fields at `unknown` (found by a [`TypedCheck`]) and returns
/// their paths; `null`s are left alone and not reported.
pub fn prune_unknown_fields(obj: &mut Value, unknown: &[FieldPath]) -> Vec<String> {
    unknown
        .iter()
        .filter(|path| path.remove_from(obj))
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod unknown_field_tests {
    use super::*;

    #[test]
    fn prunes_and_names_unknown_fields() {
        use k8s_openapi::api::apps::v1::Deployment;
        let mut obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "bogus": 1, "labels": {"any": "key"}},
            "spec": {"foo": "bar", "nothing": null, "replicas": 1, "selector": {},
                "template": {"spec": {"containers": [{"name": "c", "imag": "x"}]}}}});
        let mut found = Vec::new();
        typed::<Deployment>(&obj, Some(&mut found)).unwrap();
        let unknown = prune_unknown_fields(&mut obj, &found);
        assert_eq!(
            unknown,
            [
                "metadata.bogus",
                "spec.foo",
                "spec.template.spec.containers[0].imag"
            ]
        );
        // What is left is what the type keeps (and the null, which it drops silently).
        let known =
            serde_json::to_value(serde_json::from_value::<Deployment>(obj.clone()).unwrap())
                .unwrap();
        obj["spec"].as_object_mut().unwrap().remove("nothing");
        assert_eq!(obj, known);
    }

    #[test]
    fn a_misfit_says_where() {
        use k8s_openapi::api::core::v1::Pod;
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": "x"}]}]}});
        match typed::<Pod>(&obj, None) {
            Err(TypedError::Mismatch { path, .. }) => {
                assert_eq!(path, "spec.containers[0].ports[0].containerPort")
            }
            other => panic!("{other:?}"),
        }
        // The same with unknown fields looked for.
        assert!(matches!(
            typed::<Pod>(&obj, Some(&mut Vec::new())),
            Err(TypedError::Mismatch { path, .. }) if path == "spec.containers[0].ports[0].containerPort"
        ));
    }
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The problems of `value` as a DNS-1123 label (empty when valid).
pub fn validate_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    if !is_label(&value[..value.len().min(63)]) || value.is_empty() {
        errs.push(LABEL_MSG.to_owned());
    }
    errs
}

/// The problems of `value` as a DNS-1123 subdomain (empty when valid).
pub fn validate_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push("must be no more than 253 characters".to_owned());
    }
    if value.is_empty() || !value.split('.').all(is_label) {
        errs.push(SUBDOMAIN_MSG.to_owned());
    }
    errs
}

fn name_causes(rule: NameRule, name: &str, field: &str) -> Vec<StatusCause> {
    let errs = match rule {
        NameRule::Subdomain => validate_dns1123_subdomain(name),
        NameRule::Label => validate_dns1123_label(name),
    };
    errs.iter()
        .map(|e| StatusCause::invalid_value(field, &json!(name), e))
        .collect()
}

/// Label values: at most 63 characters, alphanumerics with `-_.` inside.
fn label_value_ok(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric())
}

/// Label keys: an optional DNS subdomain prefix and `/`, then a name like a value
/// but non-empty.
fn label_key_ok(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    prefix.is_none_or(|p| validate_dns1123_subdomain(p).is_empty())
        && !name.is_empty()
        && label_value_ok(name)
}

fn label_causes(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    for (k, v) in meta::labels(obj) {
        if !label_key_ok(&k) {
            causes.push(StatusCause::invalid_value(
                "metadata.labels",
                &json!(k),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            ));
        }
        if !label_value_ok(&v) {
            causes.push(StatusCause::invalid_value(
                "metadata.labels",
                &json!(v),
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            ));
        }
    }
    causes
}

/// The whole-object check: name, labels, typed decode (with `decode`; without, the
/// caller knows the object decodes), the kind's extra checks.
pub fn validate_object(
    resource: &ApiResource,
    rules: &KindRules,
    obj: &Value,
    decode: bool,
) -> Result<(), ApiError> {
    let name = meta::name(obj);
    let mut causes = if name.is_empty() {
        vec![StatusCause::required("metadata.name")]
    } else {
        name_causes(rules.name_rule, name, "metadata.name")
    };
    causes.extend(label_causes(obj));
    if let Some(check) = rules.typed_check.filter(|_| decode) {
        match check(obj, None) {
            Ok(_) => {}
            Err(TypedError::Missing(field)) => causes.push(StatusCause::required(&field)),
            Err(TypedError::Mismatch { path, message }) => {
                return Err(ApiError::bad_request(format!(
                    "{} in version {:?} cannot be handled as a {}: {}{}",
                    resource.kind,
                    resource.version,
                    resource.kind,
                    if path.is_empty() {
                        String::new()
                    } else {
                        format!("{path}: ")
                    },
                    message
                )));
            }
        }
    }
    if causes.is_empty() {
        if let Some(extra) = rules.extra_validation {
            causes.extend(extra(obj));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&resource.qualified_kind(), name, causes))
    }
}

/// `/spec/selector` -> `spec.selector`.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// The update check: the kind's immutable fields, then its own update rules.
pub fn validate_immutable(rules: &KindRules, new: &Value, old: &Value) -> Vec<StatusCause> {
    let mut causes: Vec<StatusCause> = rules
        .immutable
        .iter()
        .filter(|p| old.pointer(p).is_some() && old.pointer(p) != new.pointer(p))
        .map(|p| {
            StatusCause::invalid_value(
                &dotted(p),
                new.pointer(p).unwrap_or(&Value::Null),
                "field is immutable",
            )
        })
        .collect();
    if let Some(check) = rules.update_check {
        causes.extend(check(new, old));
    }
    causes
}

/// A pod's spec may change only in container images, `activeDeadlineSeconds`,
/// tolerations (additions) and `terminationGracePeriodSeconds`.
pub fn pod_spec_update(new: &Value, old: &Value) -> Vec<StatusCause> {
    fn mutable_cleared(obj: &Value) -> Value {
        let mut spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            if let Some(items) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for c in items {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("image");
                    }
                }
            }
        }
        if let Some(s) = spec.as_object_mut() {
            for field in [
                "activeDeadlineSeconds",
                "tolerations",
                "terminationGracePeriodSeconds",
                "schedulingGates",
                "ephemeralContainers",
            ] {
                s.remove(field);
            }
        }
        spec
    }
    if mutable_cleared(new) == mutable_cleared(old) {
        return Vec::new();
    }
    vec![StatusCause::forbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    )]
}

/// A pod needs containers, each with a unique DNS-label name and an image.
pub fn pod_extra(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let containers = obj
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if containers.is_empty() {
        causes.push(StatusCause::required("spec.containers"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let field = format!("spec.containers[{i}].name");
        if name.is_empty() {
            causes.push(StatusCause::required(&field));
        } else {
            causes.extend(name_causes(NameRule::Label, name, &field));
            if !seen.insert(name.to_owned()) {
                causes.push(StatusCause::duplicate(&field, &json!(name)));
            }
        }
        if c.get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            causes.push(StatusCause::required(&format!(
                "spec.containers[{i}].image"
            )));
        }
    }
    if let Some(policy) = obj.pointer("/spec/restartPolicy") {
        if !matches!(policy.as_str(), Some("Always" | "OnFailure" | "Never")) {
            causes.push(StatusCause::not_supported(
                "spec.restartPolicy",
                policy,
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
    causes
}

/// A workload's selector must be non-empty and match its pod template's labels, and
/// its replicas must not be negative.
pub fn selector_matches_template(obj: &Value) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64) {
        if r < 0 {
            causes.push(StatusCause::invalid_value(
                "spec.replicas",
                &json!(r),
                "must be greater than or equal to 0",
            ));
        }
    }
    let selector = obj
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or(Value::Null);
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let has_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if match_labels.is_empty() && !has_expressions {
        causes.push(StatusCause::invalid_value(
            "spec.selector",
            &selector,
            "empty selector is invalid for deployment",
        ));
        return causes;
    }
    let template_labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let matches = match_labels
        .iter()
        .all(|(k, v)| template_labels.get(k) == Some(v));
    if !matches {
        causes.push(StatusCause::invalid_value(
            "spec.template.metadata.labels",
            &Value::Object(template_labels),
            "`selector` does not match template `labels`",
        ));
    }
    causes
}

/// A service's `spec.clusterIP` may not change once assigned.
pub fn service_update(new: &Value, old: &Value) -> Vec<StatusCause> {
    let ip = |o: &Value| {
        o.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (n, o) = (ip(new), ip(old));
    if !o.is_empty() && !n.is_empty() && n != o {
        return vec![StatusCause::invalid_value(
            "spec.clusterIP",
            &json!(n),
            "field is immutable",
        )];
    }
    Vec::new()
}

/// ConfigMaps and Secrets marked `immutable: true` keep their data and the mark.
pub fn immutable_data(new: &Value, old: &Value) -> Vec<StatusCause> {
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let mut causes = Vec::new();
    if new.get("immutable") != Some(&Value::Bool(true)) {
        causes.push(StatusCause::forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
    for field in ["data", "binaryData", "stringData"] {
        if new.get(field) != old.get(field) && field != "stringData" {
            causes.push(StatusCause::forbidden(
                field,
                "field is immutable when `immutable` is set",
            ));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(validate_dns1123_subdomain("web-1.example").is_empty());
        assert!(!validate_dns1123_subdomain("Web").is_empty());
        assert!(!validate_dns1123_subdomain("-a").is_empty());
        assert!(!validate_dns1123_subdomain("").is_empty());
        assert!(validate_dns1123_label("kube-system").is_empty());
        assert!(!validate_dns1123_label("a.b").is_empty());
        assert!(!validate_dns1123_label(&"a".repeat(64)).is_empty());
    }

    #[test]
    fn labels() {
        assert!(label_key_ok("app.kubernetes.io/name"));
        assert!(!label_key_ok("bad key"));
        assert!(label_value_ok(""));
        assert!(!label_value_ok("-x"));
    }

    #[test]
    fn pods_need_containers_with_images() {
        let causes = pod_extra(
            &json!({"spec": {"containers": [{"name": "a"}, {"name": "a", "image": "x"}]}}),
        );
        let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.containers[0].image", "spec.containers[1].name"]
        );
    }

    #[test]
    fn pod_spec_is_mostly_immutable() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        let image = json!({"spec": {"containers": [{"name": "a", "image": "y"}]}});
        let port = json!({"spec": {"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}]}});
        assert!(pod_spec_update(&image, &old).is_empty());
        assert_eq!(pod_spec_update(&port, &old).len(), 1);
    }

    #[test]
    fn selector_must_match_template() {
        let ok = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "template": {"metadata": {"labels": {"a": "1"}}}}});
        let bad = json!({"spec": {"selector": {"matchLabels": {"a": "2"}}, "template": {"metadata": {"labels": {"a": "1"}}}}});
        assert!(selector_matches_template(&ok).is_empty());
        assert_eq!(
            selector_matches_template(&bad)[0].field,
            "spec.template.metadata.labels"
        );
    }
}
