//! [`Registry`]: plugin name → factory. A profile names plugins; the registry builds
//! them with their arguments and the [`Handle`] to the cluster.
//!
//! ```
//! use std::sync::Arc;
//! use skiff_sched::framework::{Plugin, Registry};
//!
//! struct Noop;
//! impl Plugin for Noop { fn name(&self) -> &str { "Noop" } }
//!
//! let mut registry = Registry::new();
//! registry.register("Noop", |_args, _handle| Ok(Arc::new(Noop))).unwrap();
//! assert!(registry.register("Noop", |_, _| Ok(Arc::new(Noop))).is_err());
//! assert!(registry.contains("Noop"));
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use skiff_core::client::Client;

use super::{Plugin, WaitingPods};

/// What a factory gets besides its arguments: the cluster client and the framework's
/// shared parts.
#[derive(Clone)]
pub struct Handle {
    /// The client every call to the cluster goes through.
    pub client: Arc<dyn Client>,
    /// Pods waiting on Permit plugins; a plugin allows or rejects them here.
    pub waiting_pods: WaitingPods,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// Builds a plugin from its arguments (`Value::Null` when the profile gives none).
pub type PluginFactory =
    Arc<dyn Fn(&Value, &Handle) -> Result<Arc<dyn Plugin>, RegistryError> + Send + Sync>;

/// The errors of registering and building plugins.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// Two factories under one name.
    #[error("a plugin named {0:?} is already registered")]
    Duplicate(String),
    /// A profile names a plugin nobody registered.
    #[error("no plugin named {0:?} is registered")]
    Unknown(String),
    /// A factory refused its arguments.
    #[error("invalid arguments for plugin {plugin:?}: {message}")]
    InvalidArgs {
        /// The plugin.
        plugin: String,
        /// What was wrong.
        message: String,
    },
    /// A profile is inconsistent (no bind plugin, two queue sorts, a bad weight...).
    #[error("profile {profile:?}: {message}")]
    InvalidProfile {
        /// The profile's scheduler name.
        profile: String,
        /// What was wrong.
        message: String,
    },
}

/// Plugin factories by name.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, PluginFactory>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a factory; refuses a name already taken.
    pub fn register<F>(&mut self, name: &str, factory: F) -> Result<(), RegistryError>
    where
        F: Fn(&Value, &Handle) -> Result<Arc<dyn Plugin>, RegistryError> + Send + Sync + 'static,
    {
        if self.factories.contains_key(name) {
            return Err(RegistryError::Duplicate(name.to_owned()));
        }
        self.factories.insert(name.to_owned(), Arc::new(factory));
        Ok(())
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(name)
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Builds the plugin `name`.
    pub fn build(
        &self,
        name: &str,
        args: &Value,
        handle: &Handle,
    ) -> Result<Arc<dyn Plugin>, RegistryError> {
        let factory = self
            .factories
            .get(name)
            .ok_or_else(|| RegistryError::Unknown(name.to_owned()))?;
        factory(args, handle)
    }
}
