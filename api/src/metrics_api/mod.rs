//! The resource metrics API, `metrics.k8s.io/v1beta1`, that `kubectl top node` and
//! `kubectl top pod` read: `NodeMetrics` (`nodes`, cluster-scoped) and `PodMetrics`
//! (`pods`, namespaced), get and list, with label and field selectors.
//!
//! The API server serves it itself, as metrics-server would behind the aggregation
//! layer: on each request it fetches the usage summaries of the nodes concerned
//! from their node agents (`/stats/summary`, through the same authenticated kubelet
//! client as logs and exec: [`crate::node_proxy::KubeletClientConfig`]) and turns
//! them into metrics objects ([`convert`]). Nothing is stored. The group is in
//! discovery only when the server has a kubelet client
//! (`ApiServerConfig::kubelet_client`).
//!
//! ```
//! use skiff_api::metrics_api::{resources, GROUP};
//! let r = resources();
//! assert!(r.iter().all(|r| r.group == GROUP && r.verbs == ["get", "list"]));
//! assert_eq!(r.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(), ["NodeMetrics", "PodMetrics"]);
//! ```

pub mod convert;
mod scrape;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue, Method};
use serde_json::{json, Value};
use skiff_core::resource::ApiResource;
use skiff_core::selector::{FieldSelector, LabelSelector};
use skiff_core::status::ApiError;

use crate::registry::ListOptions;
use crate::ApiServer;

/// The API group.
pub const GROUP: &str = "metrics.k8s.io";
/// The version served.
pub const VERSION: &str = "v1beta1";

/// The resources of the group, for discovery.
pub fn resources() -> Vec<ApiResource> {
    let resource = |kind: &str, plural: &str, namespaced: bool| ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: String::new(),
        namespaced,
        short_names: Vec::new(),
        categories: Vec::new(),
        verbs: vec!["get".into(), "list".into()],
        subresources: Vec::new(),
    };
    vec![
        resource("NodeMetrics", "nodes", false),
        resource("PodMetrics", "pods", true),
    ]
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Query {
    Nodes(Option<String>),
    Pods {
        namespace: Option<String>,
        name: Option<String>,
    },
}

/// Reads `nodes[/{name}]`, `pods`, `namespaces/{ns}/pods[/{name}]`.
fn parse_path(rest: &str) -> Result<Query, ApiError> {
    let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let name = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    match segments.as_slice() {
        ["nodes"] => Ok(Query::Nodes(None)),
        ["nodes", n] if !n.is_empty() => Ok(Query::Nodes(name(n))),
        ["pods"] => Ok(Query::Pods {
            namespace: None,
            name: None,
        }),
        ["namespaces", ns, "pods"] if !ns.is_empty() => Ok(Query::Pods {
            namespace: name(ns),
            name: None,
        }),
        ["namespaces", ns, "pods", n] if !ns.is_empty() && !n.is_empty() => Ok(Query::Pods {
            namespace: name(ns),
            name: name(n),
        }),
        _ => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

/// The label and field selectors of a query string.
fn selectors(query: Option<&str>) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let mut labels = LabelSelector::everything();
    let mut fields = FieldSelector::parse("")?;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "labelSelector" => labels = LabelSelector::parse(&value)?,
            "fieldSelector" => fields = FieldSelector::parse(&value)?,
            _ => {}
        }
    }
    Ok((labels, fields))
}

fn json_response(value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn objects(
    server: &ApiServer,
    plural: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let served = server
        .find("", "v1", plural)
        .ok_or_else(|| ApiError::internal(&format!("{plural} are not served")))?;
    if let Some(name) = name {
        return Ok(served
            .registry
            .try_get(namespace, name)
            .await?
            .into_iter()
            .collect());
    }
    let list = served
        .registry
        .list(namespace, &ListOptions::default())
        .await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

fn not_found(kind: &str, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{kind}.{GROUP} \"{name}\" not found"),
    )
}

/// Serves a request under `/apis/metrics.k8s.io/{version}/`.
pub async fn handle(
    server: &ApiServer,
    version: &str,
    rest: &str,
    method: &Method,
    query_string: Option<&str>,
) -> Result<Response, ApiError> {
    if version != VERSION {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let query = parse_path(rest)?;
    if method != Method::GET {
        return Err(ApiError::method_not_supported(
            &format!(
                "{}.{GROUP}",
                if matches!(query, Query::Nodes(_)) {
                    "nodes"
                } else {
                    "pods"
                }
            ),
            &method.as_str().to_ascii_lowercase(),
        ));
    }
    let Some(kubelet) = server.config().kubelet_client.clone() else {
        return Err(ApiError::service_unavailable(
            "the resource metrics API needs credentials for node agents (ApiServerConfig::kubelet_client)",
        ));
    };
    let (labels, fields) = selectors(query_string)?;
    let selected = |o: &Value| labels.matches_object(o) && fields.matches_object(o);
    let now = now();
    let api_version = format!("{GROUP}/{VERSION}");
    match query {
        Query::Nodes(name) => {
            let nodes: Vec<Value> = objects(server, "nodes", None, name.as_deref())
                .await?
                .into_iter()
                .filter(|n| name.is_some() || selected(n))
                .collect();
            let items: Vec<Value> = scrape::summaries(&kubelet, &nodes)
                .await
                .into_iter()
                .filter_map(|(node, summary)| convert::node_metrics(node, &summary, &now))
                .collect();
            match name {
                Some(name) => items
                    .into_iter()
                    .next()
                    .map(|m| json_response(&m))
                    .ok_or_else(|| not_found("nodemetrics", &name)),
                None => Ok(json_response(&json!({
                    "kind": "NodeMetricsList",
                    "apiVersion": api_version,
                    "metadata": {},
                    "items": items,
                }))),
            }
        }
        Query::Pods { namespace, name } => {
            let pods: Vec<Value> = objects(server, "pods", namespace.as_deref(), name.as_deref())
                .await?
                .into_iter()
                .filter(|p| name.is_some() || selected(p))
                .collect();
            let wanted: BTreeSet<&str> = pods
                .iter()
                .filter_map(|p| p.pointer("/spec/nodeName").and_then(Value::as_str))
                .filter(|n| !n.is_empty())
                .collect();
            let mut nodes = Vec::new();
            for node in wanted {
                nodes.extend(objects(server, "nodes", None, Some(node)).await?);
            }
            let summaries = scrape::summaries(&kubelet, &nodes).await;
            let items: Vec<Value> = pods
                .iter()
                .filter_map(|pod| {
                    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str)?;
                    let (_, summary) = summaries.iter().find(|(n, _)| {
                        n.pointer("/metadata/name").and_then(Value::as_str) == Some(node)
                    })?;
                    convert::pod_metrics(pod, convert::find_pod(summary, pod)?, &now)
                })
                .collect();
            match name {
                Some(name) => items
                    .into_iter()
                    .next()
                    .map(|m| json_response(&m))
                    .ok_or_else(|| not_found("podmetrics", &name)),
                None => Ok(json_response(&json!({
                    "kind": "PodMetricsList",
                    "apiVersion": api_version,
                    "metadata": {},
                    "items": items,
                }))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metrics_paths() {
        assert_eq!(parse_path("nodes").unwrap(), Query::Nodes(None));
        assert_eq!(
            parse_path("nodes/n1").unwrap(),
            Query::Nodes(Some("n1".into()))
        );
        assert_eq!(
            parse_path("namespaces/default/pods/web").unwrap(),
            Query::Pods {
                namespace: Some("default".into()),
                name: Some("web".into())
            }
        );
        assert_eq!(
            parse_path("pods").unwrap(),
            Query::Pods {
                namespace: None,
                name: None
            }
        );
        assert!(parse_path("namespaces/default/nodes").is_err());
        assert!(parse_path("nodes/n1/status").is_err());
        assert!(parse_path("namespaces//pods").is_err());
    }

    #[test]
    fn reads_selectors() {
        let (labels, _) = selectors(Some("labelSelector=app%3Dweb")).unwrap();
        assert!(labels.matches_object(&json!({"metadata": {"labels": {"app": "web"}}})));
        assert!(!labels.matches_object(&json!({"metadata": {"labels": {"app": "db"}}})));
        assert!(selectors(Some("labelSelector=%3D%3D%3D")).is_err());
    }
}
