//! Pod priority from PriorityClasses, as kube-apiserver's `Priority` admission plugin:
//! - [`PodPriority`]: a new pod's `priorityClassName` (or else the class marked
//!   `globalDefault`) sets its `spec.priority` and `spec.preemptionPolicy`; a class
//!   that does not exist, or a priority or policy in the pod that differs from its
//!   class's, is refused (403). An update without them keeps the stored ones.
//! - [`SingleGlobalDefault`]: at most one class is marked `globalDefault`.
//! - [`ensure_system_classes`]: the `system-node-critical` and
//!   `system-cluster-critical` classes exist.
//!
//! One deviation, for harnesses that set priorities directly (kube's own scheduler
//! integration tests disable the plugin for that): a pod that names no class while no
//! class is the global default keeps the `spec.priority` it gives (kube would refuse
//! anything but 0).
//!
//! ```
//! use skiff_api::priority_admission::PodPriority;
//! let admission = PodPriority::new("/registry/priorityclasses/".into());
//! assert!(format!("{admission:?}").contains("priorityclasses"));
//! ```

use serde_json::{json, Value};
use skiff_core::status::ApiError;
use skiff_store::{KvStore, RangeRequest};

use std::sync::{Arc, Mutex, OnceLock};

use crate::registry::{api_error, Admission, Registry, WriteOptions};
use crate::server::{ServedResource, WeakApiServer};
use crate::strategy::priority_class::{system_class, SYSTEM_CLASSES};

/// What admission reads of a class (decoded alone: every pod create reads the
/// classes when it names none).
#[derive(Clone, serde::Deserialize)]
struct ClassTerms {
    #[serde(default)]
    metadata: ClassMeta,
    #[serde(default)]
    value: i64,
    #[serde(default, rename = "globalDefault")]
    global_default: bool,
    #[serde(default = "preempt_lower", rename = "preemptionPolicy")]
    preemption_policy: String,
}

#[derive(Clone, Default, serde::Deserialize)]
struct ClassMeta {
    #[serde(default)]
    name: String,
}

fn preempt_lower() -> String {
    "PreemptLowerPriority".to_owned()
}

fn from_value(value: &Value) -> Result<ClassTerms, ApiError> {
    serde::Deserialize::deserialize(value)
        .map_err(|e| ApiError::internal(&format!("a cached PriorityClass does not decode: {e}")))
}

fn decode(bytes: &[u8]) -> Result<ClassTerms, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::internal(&format!("a stored PriorityClass does not decode: {e}")))
}

/// Every stored class.
async fn classes(store: &dyn KvStore, prefix: &str) -> Result<Vec<ClassTerms>, ApiError> {
    let resp = store
        .range(RangeRequest::prefix(prefix.to_owned()))
        .await
        .map_err(api_error)?;
    resp.kvs.iter().map(|kv| decode(&kv.value)).collect()
}

/// Resolves new pods' priority from their PriorityClass.
pub struct PodPriority {
    /// Where PriorityClasses are stored (`/registry/priorityclasses/`).
    prefix: String,
    /// The server whose PriorityClass watch cache is read first, as kube's plugin
    /// reads its informer's lister (every pod create without a class looks for the
    /// default one); the store when it has none, and for a class the cache does not
    /// have yet.
    server: Option<WeakApiServer>,
    /// The classes' served resource, once found.
    served: OnceLock<Arc<ServedResource>>,
    /// The default class as of a revision of the classes' cache.
    default_memo: Mutex<Option<(i64, Option<ClassTerms>)>>,
}

impl std::fmt::Debug for PodPriority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodPriority")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl PodPriority {
    /// Reading classes stored under `prefix` from the store.
    pub fn new(prefix: String) -> Self {
        PodPriority {
            prefix,
            server: None,
            served: OnceLock::new(),
            default_memo: Mutex::new(None),
        }
    }

    /// Reading classes from `server`'s watch cache of them first.
    pub fn with_cache_of(mut self, server: WeakApiServer) -> Self {
        self.server = Some(server);
        self
    }

    fn cache(&self) -> Option<&Arc<ServedResource>> {
        if let Some(served) = self.served.get() {
            return Some(served);
        }
        let found =
            self.server
                .as_ref()?
                .upgrade()?
                .find("scheduling.k8s.io", "v1", "priorityclasses")?;
        Some(self.served.get_or_init(|| found))
    }

    async fn class(&self, store: &dyn KvStore, name: &str) -> Result<Option<ClassTerms>, ApiError> {
        let key = format!("{}{name}", self.prefix);
        if let Some(value) = self.cache().and_then(|c| c.cache.current(&key)) {
            return from_value(&value).map(Some);
        }
        match store.get(key.as_bytes()).await.map_err(api_error)? {
            Some(kv) => decode(&kv.value).map(Some),
            None => Ok(None),
        }
    }

    /// The class marked `globalDefault`, if any.
    async fn default_class(&self, store: &dyn KvStore) -> Result<Option<ClassTerms>, ApiError> {
        let Some(served) = self.cache() else {
            let all = classes(store, &self.prefix).await?;
            return Ok(all.into_iter().find(|c| c.global_default));
        };
        // Until the cache moves on, the answer stays.
        let revision = served.cache.revision();
        let mut memo = self.default_memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, class)) = memo.as_ref() {
            if *seen == revision {
                return Ok(class.clone());
            }
        }
        let mut default = None;
        for (_, o) in &served.cache.list_snapshot(&self.prefix).entries {
            let class = from_value(&o.value)?;
            if class.global_default {
                default = Some(class);
                break;
            }
        }
        *memo = Some((revision, default.clone()));
        Ok(default)
    }
}

fn forbidden(msg: &str) -> ApiError {
    ApiError::forbidden("pods", "", msg)
}

#[async_trait::async_trait]
impl Admission for PodPriority {
    async fn admit(
        &self,
        store: &dyn KvStore,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if let Some(old) = old {
            // An update that leaves them out keeps what admission set at creation.
            for field in ["priority", "preemptionPolicy"] {
                if let (None, Some(v)) = (spec.get(field), old.pointer(&format!("/spec/{field}"))) {
                    spec.insert(field.to_owned(), v.clone());
                }
            }
            return Ok(());
        }
        let named = spec
            .get("priorityClassName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let terms = match named {
            Some(name) => match self.class(store, &name).await? {
                Some(class) => class,
                None => {
                    return Err(forbidden(&format!(
                        "no PriorityClass with name {name} was found"
                    )))
                }
            },
            None => {
                match self.default_class(store).await? {
                    Some(default) => default,
                    // No class and no default: the pod's own priority, else 0.
                    None => {
                        spec.entry("priority").or_insert(json!(0));
                        return Ok(());
                    }
                }
            }
        };
        if let Some(given) = spec.get("priority").filter(|p| !p.is_null()) {
            if given.as_i64() != Some(terms.value) {
                return Err(forbidden(&format!(
                    "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name",
                    terms.value
                )));
            }
        }
        if let Some(given) = spec.get("preemptionPolicy").filter(|p| !p.is_null()) {
            if given.as_str() != Some(terms.preemption_policy.as_str()) {
                return Err(forbidden(&format!(
                    "the string value of PreemptionPolicy ({}) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name",
                    given.as_str().unwrap_or(""),
                    terms.preemption_policy
                )));
            }
        }
        spec.insert("priorityClassName".into(), json!(terms.metadata.name));
        spec.insert("priority".into(), json!(terms.value));
        spec.insert("preemptionPolicy".into(), json!(terms.preemption_policy));
        Ok(())
    }
}

/// Refuses a second class marked `globalDefault`.
#[derive(Debug)]
pub struct SingleGlobalDefault {
    /// Where PriorityClasses are stored.
    prefix: String,
}

impl SingleGlobalDefault {
    /// Checking classes stored under `prefix`.
    pub fn new(prefix: String) -> Self {
        SingleGlobalDefault { prefix }
    }
}

#[async_trait::async_trait]
impl Admission for SingleGlobalDefault {
    async fn admit(
        &self,
        store: &dyn KvStore,
        _old: Option<&Value>,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        if new.get("globalDefault").and_then(Value::as_bool) != Some(true) {
            return Ok(());
        }
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        for class in classes(store, &self.prefix).await? {
            let other = class.metadata.name;
            if other != name && class.global_default {
                return Err(ApiError::forbidden(
                    "priorityclasses.scheduling.k8s.io",
                    name,
                    &format!(
                        "PriorityClass {other} is already marked as default. Only one default can exist"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Creates the system classes that do not exist yet.
pub async fn ensure_system_classes(classes: &Registry) -> Result<(), ApiError> {
    for (name, value, description) in SYSTEM_CLASSES {
        match classes
            .create(
                None,
                system_class(name, value, description),
                &WriteOptions::default(),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
