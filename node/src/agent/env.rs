//! A container's environment, resolved by the agent before the runtime sees it:
//! `envFrom` (ConfigMaps and Secrets), literal values with `$(VAR)` expansion, the
//! downward API (`fieldRef`), `configMapKeyRef` and `secretKeyRef` read through the
//! client.
//!
//! ```
//! use std::collections::HashMap;
//! use skiff_node::agent::env::expand;
//! let vars = HashMap::from([("HOST".to_owned(), "db".to_owned())]);
//! assert_eq!(expand("$(HOST):5432 $$(HOST) $(NOPE)", &vars), "db:5432 $(HOST) $(NOPE)");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use skiff_core::client::{Api, Client, ClientError};

use crate::runtime::KeyValue;

/// Why a container's environment could not be resolved (the container waits with
/// reason `CreateContainerConfigError` and this message).
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A referenced ConfigMap or Secret does not exist.
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        /// `configmap` or `secret`.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A referenced key is missing.
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    KeyMissing {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
    },
    /// A `fieldRef` path the agent does not serve.
    #[error("unsupported fieldRef fieldPath {0:?}")]
    UnsupportedField(String),
    /// `resourceFieldRef` is not implemented yet.
    #[error("env {0}: resourceFieldRef is not supported by this node agent yet")]
    ResourceFieldRef(String),
    /// The API could not be read.
    #[error("reading {what}: {source}")]
    Client {
        /// What was being read.
        what: String,
        /// The failure.
        source: ClientError,
    },
}

/// What the downward API can reveal about the pod beyond its object.
#[derive(Clone, Debug, Default)]
pub struct PodRuntimeInfo {
    /// The node's IP (`status.hostIP`).
    pub host_ip: String,
    /// The pod's IP (`status.podIP`).
    pub pod_ip: String,
}

/// Expands `$(NAME)` with earlier variables; `$$` escapes; unknown names stay as
/// written (Kubernetes' rules).
pub fn expand(value: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The value of a downward API `fieldPath`.
pub fn field_value(pod: &Pod, info: &PodRuntimeInfo, path: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let map_key = |prefix: &str, map: &Option<BTreeMap<String, String>>| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(|key| {
                map.as_ref()
                    .and_then(|m| m.get(key))
                    .cloned()
                    .unwrap_or_default()
            })
    };
    if let Some(v) = map_key("metadata.labels['", &meta.labels) {
        return Ok(v);
    }
    if let Some(v) = map_key("metadata.annotations['", &meta.annotations) {
        return Ok(v);
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => info.host_ip.clone(),
        "status.podIP" | "status.podIPs" => info.pod_ip.clone(),
        other => return Err(EnvError::UnsupportedField(other.to_owned())),
    })
}

/// Reads ConfigMaps and Secrets of one namespace, each once per resolution.
struct Sources {
    client: Arc<dyn Client>,
    namespace: String,
    config_maps: HashMap<String, Option<BTreeMap<String, String>>>,
    secrets: HashMap<String, Option<BTreeMap<String, String>>>,
}

impl Sources {
    async fn config_map(
        &mut self,
        name: &str,
    ) -> Result<Option<&BTreeMap<String, String>>, EnvError> {
        if !self.config_maps.contains_key(name) {
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
            let cm = api.get_opt(name).await.map_err(|source| EnvError::Client {
                what: format!("configmap {}/{name}", self.namespace),
                source,
            })?;
            let data = cm.map(|cm| cm.data.unwrap_or_default());
            self.config_maps.insert(name.to_owned(), data);
        }
        Ok(self.config_maps.get(name).and_then(Option::as_ref))
    }

    async fn secret(&mut self, name: &str) -> Result<Option<&BTreeMap<String, String>>, EnvError> {
        if !self.secrets.contains_key(name) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
            let secret = api.get_opt(name).await.map_err(|source| EnvError::Client {
                what: format!("secret {}/{name}", self.namespace),
                source,
            })?;
            let data = secret.map(|s| {
                let mut out: BTreeMap<String, String> = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect();
                out.extend(s.string_data.unwrap_or_default());
                out
            });
            self.secrets.insert(name.to_owned(), data);
        }
        Ok(self.secrets.get(name).and_then(Option::as_ref))
    }
}

fn missing(kind: &'static str, namespace: &str, name: &str) -> EnvError {
    EnvError::NotFound {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// Resolves `container`'s environment for `pod`.
pub async fn resolve(
    client: Arc<dyn Client>,
    pod: &Pod,
    container: &Container,
    info: &PodRuntimeInfo,
) -> Result<Vec<KeyValue>, EnvError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut sources = Sources {
        client,
        namespace: namespace.clone(),
        config_maps: HashMap::new(),
        secrets: HashMap::new(),
    };
    let mut order: Vec<String> = Vec::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    let set = |order: &mut Vec<String>, vars: &mut HashMap<String, String>, k: String, v| {
        if vars.insert(k.clone(), v).is_none() {
            order.push(k);
        }
    };
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match sources.config_map(&r.name).await? {
                Some(data) => {
                    for (k, v) in data.clone() {
                        set(&mut order, &mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(missing("configmap", &namespace, &r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.secret(&r.name).await? {
                Some(data) => {
                    for (k, v) in data.clone() {
                        set(&mut order, &mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(missing("secret", &namespace, &r.name)),
            }
        }
    }
    for env in container.env.iter().flatten() {
        let value = match &env.value_from {
            None => Some(expand(env.value.as_deref().unwrap_or(""), &vars)),
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    Some(field_value(pod, info, &f.field_path)?)
                } else if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.config_map(&r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => Some(v.clone()),
                            None if optional => None,
                            None => {
                                return Err(EnvError::KeyMissing {
                                    kind: "ConfigMap",
                                    namespace: namespace.clone(),
                                    name: r.name.clone(),
                                    key: r.key.clone(),
                                })
                            }
                        },
                        None if optional => None,
                        None => return Err(missing("configmap", &namespace, &r.name)),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional == Some(true);
                    match sources.secret(&r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => Some(v.clone()),
                            None if optional => None,
                            None => {
                                return Err(EnvError::KeyMissing {
                                    kind: "Secret",
                                    namespace: namespace.clone(),
                                    name: r.name.clone(),
                                    key: r.key.clone(),
                                })
                            }
                        },
                        None if optional => None,
                        None => return Err(missing("secret", &namespace, &r.name)),
                    }
                } else if from.resource_field_ref.is_some() {
                    return Err(EnvError::ResourceFieldRef(env.name.clone()));
                } else {
                    Some(String::new())
                }
            }
        };
        if let Some(v) = value {
            set(&mut order, &mut vars, env.name.clone(), v);
        }
    }
    Ok(order
        .into_iter()
        .map(|key| {
            let value = vars.remove(&key).unwrap_or_default();
            KeyValue { key, value }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_rules() {
        let vars = HashMap::from([("A".to_owned(), "1".to_owned())]);
        assert_eq!(expand("x$(A)y", &vars), "x1y");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("$(B)", &vars), "$(B)");
        assert_eq!(expand("$(A", &vars), "$(A");
        assert_eq!(expand("cost $5", &vars), "cost $5");
        assert_eq!(expand("end$", &vars), "end$");
    }

    #[test]
    fn downward_api_fields() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                         "labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": {"nodeName": "n1", "containers": []}
        }))
        .unwrap();
        let info = PodRuntimeInfo {
            host_ip: "10.0.0.1".into(),
            pod_ip: "10.244.0.2".into(),
        };
        let f = |p: &str| field_value(&pod, &info, p).unwrap();
        assert_eq!(f("metadata.name"), "p");
        assert_eq!(f("metadata.namespace"), "ns");
        assert_eq!(f("metadata.uid"), "u1");
        assert_eq!(f("metadata.labels['app']"), "web");
        assert_eq!(f("metadata.labels['none']"), "");
        assert_eq!(f("metadata.annotations['a']"), "b");
        assert_eq!(f("spec.nodeName"), "n1");
        assert_eq!(f("status.podIP"), "10.244.0.2");
        assert_eq!(f("status.hostIP"), "10.0.0.1");
        assert!(field_value(&pod, &info, "spec.bogus").is_err());
    }
}
