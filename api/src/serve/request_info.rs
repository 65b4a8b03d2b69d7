//! What a request is about, read from its method, path and query the way
//! kube-apiserver's `RequestInfo` does: the verb (`get`, `list`, `watch`, `create`, ...),
//! and for resource requests the group, version, resource and subresource.

/// The parsed target of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Whether the path names a resource (`/api/v1/...`, `/apis/{g}/{v}/...`) rather than
    /// discovery, health or other non-resource endpoints.
    pub is_resource_request: bool,
    /// Kubernetes verb for resource requests (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`, `deletecollection`); the lower-cased method otherwise.
    pub verb: String,
    /// API group (empty for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace, if the path names one.
    pub namespace: String,
    /// Resource (plural), such as `pods`.
    pub resource: String,
    /// Object name, if any.
    pub name: String,
    /// Subresource, such as `status`.
    pub subresource: String,
}

impl RequestInfo {
    /// Parse a request's method, path and query string.
    pub fn parse(method: &http::Method, path: &str, query: Option<&str>) -> RequestInfo {
        let lower_method = method.as_str().to_ascii_lowercase();
        let non_resource = RequestInfo {
            verb: lower_method.clone(),
            ..RequestInfo::default()
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, mut rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return non_resource,
        };
        if rest.is_empty() {
            return non_resource;
        }
        let mut watch_path = false;
        if rest[0] == "watch" {
            watch_path = true;
            rest = &rest[1..];
        }
        let mut namespace = "";
        if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
            namespace = rest[1];
            rest = &rest[2..];
        }
        let resource = rest.first().copied().unwrap_or_default();
        if resource.is_empty() {
            return non_resource;
        }
        let name = rest.get(1).copied().unwrap_or_default();
        let subresource = rest.get(2).copied().unwrap_or_default();
        // `/api/v1/namespaces/{name}` is the namespace object itself.
        let (namespace, resource, name) = if resource == "namespaces" && !namespace.is_empty() {
            ("", resource, name)
        } else {
            (namespace, resource, name)
        };
        let watch_param = query.is_some_and(|q| {
            q.split('&')
                .any(|kv| kv == "watch=true" || kv == "watch=1" || kv == "watch")
        });
        let verb = match *method {
            http::Method::GET | http::Method::HEAD => {
                if watch_path || watch_param {
                    "watch"
                } else if name.is_empty() {
                    "list"
                } else {
                    "get"
                }
            }
            http::Method::POST => "create",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE if name.is_empty() => "deletecollection",
            http::Method::DELETE => "delete",
            _ => lower_method.as_str(),
        };
        RequestInfo {
            is_resource_request: true,
            verb: verb.to_string(),
            group: group.to_string(),
            version: version.to_string(),
            namespace: namespace.to_string(),
            resource: resource.to_string(),
            name: name.to_string(),
            subresource: subresource.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn parse(method: Method, path: &str, query: Option<&str>) -> RequestInfo {
        RequestInfo::parse(&method, path, query)
    }

    #[test]
    fn resource_requests() {
        let r = parse(
            Method::GET,
            "/api/v1/namespaces/default/pods",
            Some("limit=500"),
        );
        assert_eq!((r.verb.as_str(), r.resource.as_str()), ("list", "pods"));
        assert_eq!(r.namespace, "default");
        let r = parse(Method::GET, "/api/v1/namespaces/default/pods/web", None);
        assert_eq!((r.verb.as_str(), r.name.as_str()), ("get", "web"));
        let r = parse(
            Method::GET,
            "/apis/apps/v1/deployments",
            Some("watch=true&rv=1"),
        );
        assert_eq!((r.verb.as_str(), r.group.as_str()), ("watch", "apps"));
        let r = parse(
            Method::PATCH,
            "/apis/apps/v1/namespaces/ns/deployments/web/scale",
            None,
        );
        assert_eq!(
            (r.verb.as_str(), r.subresource.as_str()),
            ("patch", "scale")
        );
        let r = parse(Method::DELETE, "/api/v1/namespaces/ns/pods", None);
        assert_eq!(r.verb, "deletecollection");
        let r = parse(Method::GET, "/api/v1/watch/namespaces/ns/pods", None);
        assert_eq!(r.verb, "watch");
        let r = parse(Method::GET, "/api/v1/namespaces/kube-system", None);
        assert_eq!(
            (r.resource.as_str(), r.name.as_str(), r.namespace.as_str()),
            ("namespaces", "kube-system", "")
        );
    }

    #[test]
    fn non_resource_requests() {
        for path in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/apps/v1",
            "/healthz",
            "/version",
        ] {
            let r = parse(Method::GET, path, None);
            assert!(!r.is_resource_request, "{path}");
            assert_eq!(r.verb, "get");
        }
    }
}
