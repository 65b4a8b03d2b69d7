//! Where a streaming request goes: the pod's node agent (address and port from the
//! Node object) and the kubelet path for the subresource.

use serde_json::Value;
use skiff_core::status::ApiError;

use crate::handler::RequestContext;

/// The kubelet request to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The node's address.
    pub host: String,
    /// The node agent's port.
    pub port: u16,
    /// Path and query on the node agent.
    pub path_and_query: String,
}

/// Query parameters passed on, per subresource (the others, such as `container`, are
/// consumed here).
fn forwarded(sub: &str, key: &str) -> bool {
    match sub {
        "log" => matches!(
            key,
            "follow"
                | "tailLines"
                | "timestamps"
                | "previous"
                | "sinceSeconds"
                | "sinceTime"
                | "limitBytes"
        ),
        "exec" | "attach" => matches!(
            key,
            "command" | "stdin" | "stdout" | "stderr" | "tty" | "input" | "output" | "error"
        ),
        _ => key == "ports",
    }
}

/// The container a request is for: `container`, else the pod's only container, else
/// the `kubectl.kubernetes.io/default-container` annotation.
fn container_name(pod: &Value, name: &str, requested: Option<&str>) -> Result<String, ApiError> {
    let containers: Vec<&str> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
        })
        .collect();
    let main: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    if let Some(requested) = requested.filter(|c| !c.is_empty()) {
        if containers.contains(&requested) {
            return Ok(requested.to_owned());
        }
        return Err(ApiError::bad_request(format!(
            "container {requested} is not valid for pod {name}"
        )));
    }
    if main.len() == 1 {
        return Ok(main[0].to_owned());
    }
    if let Some(default) = pod
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
        .and_then(Value::as_str)
        .filter(|d| main.contains(d))
    {
        return Ok(default.to_owned());
    }
    Err(ApiError::bad_request(format!(
        "a container name must be specified for pod {name}, choose one of: [{}]",
        main.join(" ")
    )))
}

/// The node's address for the API server: InternalIP, else ExternalIP, else Hostname.
pub(crate) fn node_address(node: &Value) -> Option<String> {
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?;
    ["InternalIP", "ExternalIP", "Hostname"]
        .iter()
        .find_map(|kind| {
            addresses
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
                .and_then(|a| a.get("address").and_then(Value::as_str))
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
        })
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Resolves the pod, its container and its node.
pub async fn resolve(
    ctx: &RequestContext,
    sub: &str,
    query: Option<&str>,
) -> Result<Target, ApiError> {
    let name = ctx.object_name()?.to_owned();
    let namespace = ctx.namespace.clone().unwrap_or_default();
    let pod = ctx
        .served
        .registry
        .get(ctx.namespace.as_deref(), &name)
        .await?;
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))?
        .to_owned();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let requested = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.as_str());
    let nodes = ctx
        .server
        .find("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("nodes are not served"))?;
    let node = nodes.registry.get(None, &node_name).await.map_err(|e| {
        if e.is_not_found() {
            ApiError::service_unavailable(&format!(
                "node {node_name} of pod {name} is not registered"
            ))
        } else {
            e
        }
    })?;
    let host = node_address(&node).ok_or_else(|| {
        ApiError::service_unavailable(&format!("node {node_name} reports no address"))
    })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            ApiError::service_unavailable(&format!(
                "node {node_name} publishes no kubelet endpoint (status.daemonEndpoints.kubeletEndpoint.Port)"
            ))
        })?;
    let path = match sub {
        "portforward" => format!("/portForward/{}/{}", encode(&namespace), encode(&name)),
        _ => {
            let container = container_name(&pod, &name, requested)?;
            let base = match sub {
                "log" => "containerLogs",
                "attach" => "attach",
                _ => "exec",
            };
            format!(
                "/{base}/{}/{}/{}",
                encode(&namespace),
                encode(&name),
                encode(&container)
            )
        }
    };
    let query: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| forwarded(sub, k))
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let path_and_query = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    Ok(Target {
        host,
        port,
        path_and_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_the_container() {
        let one = json!({"spec": {"containers": [{"name": "app"}]}});
        assert_eq!(container_name(&one, "p", None).unwrap(), "app");
        assert!(container_name(&one, "p", Some("nope")).is_err());
        let two = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/default-container": "b"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "init"}]}
        });
        assert_eq!(container_name(&two, "p", None).unwrap(), "b");
        assert_eq!(container_name(&two, "p", Some("init")).unwrap(), "init");
        let plain = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let e = container_name(&plain, "p", None).unwrap_err();
        assert!(e.to_status()["message"]
            .as_str()
            .unwrap()
            .contains("choose one of: [a b]"));
    }

    #[test]
    fn node_addresses_prefer_internal_ip() {
        let node = json!({"status": {"addresses": [
            {"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "10.0.0.5"}
        ]}});
        assert_eq!(node_address(&node).as_deref(), Some("10.0.0.5"));
        assert_eq!(node_address(&json!({})), None);
    }

    #[test]
    fn forwards_only_the_subresource_parameters() {
        assert!(forwarded("log", "tailLines"));
        assert!(!forwarded("log", "container"));
        assert!(forwarded("exec", "command"));
        assert!(forwarded("portforward", "ports"));
    }
}
