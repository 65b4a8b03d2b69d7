//! Resource paths: `/api/v1/...` and `/apis/{group}/{version}/...` after the group and
//! version, parsed into what the request is about.

use skiff_core::status::ApiError;

/// What a resource path names, before the resource is looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    /// The plural resource name.
    pub plural: String,
    /// The namespace, for `namespaces/{ns}/{plural}/...`.
    pub namespace: Option<String>,
    /// The object's name, if the path names one.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, ...), if any.
    pub subresource: Option<String>,
}

/// Subresources of namespaces themselves (`namespaces/{name}/status`), which are not
/// namespaced collections.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// Parses the segments after `/api/v1/` or `/apis/{g}/{v}/`.
pub fn parse(rest: &str) -> Result<ResourcePath, ApiError> {
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(not_found());
    }
    let path = |plural: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        ResourcePath {
            plural: plural.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        }
    };
    match segments.as_slice() {
        ["namespaces", ns, sub] if NAMESPACE_SUBRESOURCES.contains(sub) => {
            Ok(path("namespaces", None, Some(ns), Some(sub)))
        }
        ["namespaces", ns, plural] => Ok(path(plural, Some(ns), None, None)),
        ["namespaces", ns, plural, name] => Ok(path(plural, Some(ns), Some(name), None)),
        ["namespaces", ns, plural, name, sub] => Ok(path(plural, Some(ns), Some(name), Some(sub))),
        [plural] => Ok(path(plural, None, None, None)),
        [plural, name] => Ok(path(plural, None, Some(name), None)),
        [plural, name, sub] => Ok(path(plural, None, Some(name), Some(sub))),
        _ => Err(not_found()),
    }
}

/// The 404 for a path that names nothing.
pub fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = parse("namespaces/default/pods/web/status").unwrap();
        assert_eq!(
            (
                p.plural.as_str(),
                p.namespace.as_deref(),
                p.name.as_deref(),
                p.subresource.as_deref()
            ),
            ("pods", Some("default"), Some("web"), Some("status"))
        );
        let p = parse("namespaces/default").unwrap();
        assert_eq!(
            (p.plural.as_str(), p.name.as_deref()),
            ("namespaces", Some("default"))
        );
        let p = parse("namespaces/kube-system/finalize").unwrap();
        assert_eq!(
            (p.plural.as_str(), p.subresource.as_deref()),
            ("namespaces", Some("finalize"))
        );
        let p = parse("namespaces/default/configmaps").unwrap();
        assert_eq!(
            (p.plural.as_str(), p.namespace.as_deref(), p.name),
            ("configmaps", Some("default"), None)
        );
        let p = parse("nodes/n1/status").unwrap();
        assert_eq!(
            (p.plural.as_str(), p.namespace, p.subresource.as_deref()),
            ("nodes", None, Some("status"))
        );
        assert!(parse("a/b/c/d").is_err());
        assert!(parse("pods//x").is_err());
    }
}
