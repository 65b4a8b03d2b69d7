//! The reflector: a cache of a collection fed by a [`super::watcher`], split into an
//! exclusive [`Writer`] and cheap-to-clone [`Store`] readers with secondary indexes.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_core::runtime::reflector::{self, index};
//! use skiff_core::runtime::watcher::Event;
//! use skiff_core::runtime::ObjectRef;
//!
//! let mut writer = reflector::Writer::<Pod>::default().with_index(index::NAMESPACE, index::namespace);
//! let store = writer.as_reader();
//! let mut pod = Pod::default();
//! pod.metadata.name = Some("web".into());
//! pod.metadata.namespace = Some("default".into());
//! writer.apply_watcher_event(&Event::Init);
//! writer.apply_watcher_event(&Event::InitApply(pod));
//! writer.apply_watcher_event(&Event::InitDone);
//! assert!(store.is_ready());
//! assert!(store.get(&ObjectRef::new("web").within("default")).is_some());
//! assert_eq!(store.by_index(index::NAMESPACE, "default").len(), 1);
//! ```
//!
//! What a [`Store`] answers may be stale: it is as fresh as the last event the writer
//! applied. Controllers act on it and let optimistic concurrency (409) catch the rest.

pub mod index;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::watch;

use super::object::{Object, ObjectRef};
use super::watcher::{Error as WatcherError, Event};
use crate::client::{Client, ObjectTarget, ResourceRef};

/// A function that names the index keys of an object (none, one or several).
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// The cache's contents. Guarded by the `RwLock` in [`Shared`].
struct Contents<K> {
    objects: HashMap<ObjectRef, Arc<K>>,
    /// index name -> key -> objects.
    indexes: HashMap<String, BTreeMap<String, BTreeSet<ObjectRef>>>,
}

impl<K> Default for Contents<K> {
    fn default() -> Self {
        Contents {
            objects: HashMap::new(),
            indexes: HashMap::new(),
        }
    }
}

struct Shared<K> {
    contents: RwLock<Contents<K>>,
    index_fns: Vec<(String, IndexFn<K>)>,
}

impl<K: Object> Shared<K> {
    fn insert(&self, contents: &mut Contents<K>, obj: Arc<K>) {
        let key = ObjectRef::from_obj(obj.as_ref());
        self.remove(contents, &key);
        for (name, f) in &self.index_fns {
            let index = contents.indexes.entry(name.clone()).or_default();
            for value in f(obj.as_ref()) {
                index.entry(value).or_default().insert(key.clone());
            }
        }
        contents.objects.insert(key, obj);
    }

    fn remove(&self, contents: &mut Contents<K>, key: &ObjectRef) {
        let Some(old) = contents.objects.remove(key) else {
            return;
        };
        for (name, f) in &self.index_fns {
            if let Some(index) = contents.indexes.get_mut(name) {
                for value in f(old.as_ref()) {
                    if let Some(set) = index.get_mut(&value) {
                        set.remove(key);
                        if set.is_empty() {
                            index.remove(&value);
                        }
                    }
                }
            }
        }
    }
}

/// The exclusive writing side of a cache.
pub struct Writer<K> {
    shared: Arc<Shared<K>>,
    /// Objects of a re-list in progress (swapped in at `InitDone`).
    buffer: Option<Vec<Arc<K>>>,
    ready_tx: watch::Sender<bool>,
}

impl<K: Object> Default for Writer<K> {
    fn default() -> Self {
        Writer {
            shared: Arc::new(Shared {
                contents: RwLock::new(Contents::default()),
                index_fns: Vec::new(),
            }),
            buffer: None,
            ready_tx: watch::channel(false).0,
        }
    }
}

impl<K: Object> Writer<K> {
    /// A writer with the [`index::NAMESPACE`] index, which most namespaced caches want.
    pub fn by_namespace() -> Self {
        Writer::default().with_index(index::NAMESPACE, index::namespace)
    }

    /// Adds a secondary index named `name`. Call before the first event.
    #[must_use]
    pub fn with_index(
        mut self,
        name: &str,
        f: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.index_fns.push((name.to_owned(), Arc::new(f))),
            None => tracing::error!(index = name, "index added after readers were made; ignored"),
        }
        self
    }

    /// A reader of this cache.
    pub fn as_reader(&self) -> Store<K> {
        Store {
            shared: self.shared.clone(),
            ready: self.ready_tx.subscribe(),
        }
    }

    /// Applies one watcher event (synchronously; no I/O).
    pub fn apply_watcher_event(&mut self, event: &Event<K>) {
        match event {
            Event::Init => self.buffer = Some(Vec::new()),
            Event::InitApply(obj) => match &mut self.buffer {
                Some(buffer) => buffer.push(Arc::new(obj.clone())),
                None => self.apply_one(obj),
            },
            Event::InitDone => {
                let objects = self.buffer.take().unwrap_or_default();
                let mut contents = self.write();
                *contents = Contents::default();
                for obj in objects {
                    self.shared.insert(&mut contents, obj);
                }
                drop(contents);
                self.ready_tx.send_replace(true);
            }
            Event::Apply(obj) => self.apply_one(obj),
            Event::Delete(obj) => {
                let key = ObjectRef::from_obj(obj);
                let mut contents = self.write();
                self.shared.remove(&mut contents, &key);
            }
        }
    }

    fn apply_one(&self, obj: &K) {
        let mut contents = self.write();
        self.shared.insert(&mut contents, Arc::new(obj.clone()));
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Contents<K>> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the cache, so recover from poisoning.
        self.shared
            .contents
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// A read handle of a cache; clone freely and share between controllers.
pub struct Store<K> {
    shared: Arc<Shared<K>>,
    ready: watch::Receiver<bool>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Store {
            shared: self.shared.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<K: Object> Store<K> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Contents<K>> {
        self.shared
            .contents
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The cached object, if any. It may be stale.
    pub fn get(&self, key: &ObjectRef) -> Option<Arc<K>> {
        self.read().objects.get(key).cloned()
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().objects.values().cloned().collect()
    }

    /// The cached objects whose index `index` has the key `value`.
    pub fn by_index(&self, index: &str, value: &str) -> Vec<Arc<K>> {
        let contents = self.read();
        let Some(refs) = contents.indexes.get(index).and_then(|i| i.get(value)) else {
            return Vec::new();
        };
        refs.iter()
            .filter_map(|r| contents.objects.get(r).cloned())
            .collect()
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the first list has been applied.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until the first list has been applied. Errs when the writer is gone
    /// before that.
    pub async fn wait_until_ready(&self) -> Result<(), WriterDropped> {
        let mut ready = self.ready.clone();
        ready
            .wait_for(|r| *r)
            .await
            .map(|_| ())
            .map_err(|_| WriterDropped)
    }
}

/// The writer of a cache was dropped before the cache became ready.
#[derive(Debug, thiserror::Error)]
#[error("the cache's writer was dropped before the cache became ready")]
pub struct WriterDropped;

/// Applies each event of `stream` to `writer` and passes it on.
pub fn reflector<K: Object>(
    mut writer: Writer<K>,
    stream: BoxStream<'static, Result<Event<K>, WatcherError>>,
) -> BoxStream<'static, Result<Event<K>, WatcherError>> {
    stream
        .map(move |event| {
            if let Ok(e) = &event {
                writer.apply_watcher_event(e);
            }
            event
        })
        .boxed()
}

/// Caches every object of kind `K` (in all namespaces) into `writer`: a watcher with
/// the default [`watcher::Config`](super::watcher::Config) fed through [`reflector`],
/// the shared-informer setup most controllers start with. Poll the returned stream (or
/// hand it to a [`Controller`](super::Controller)) to keep the cache filled.
///
/// ```no_run
/// # fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
/// use k8s_openapi::api::core::v1::Pod;
/// use skiff_core::runtime::reflector::{self, Writer};
/// let writer = Writer::<Pod>::by_namespace();
/// let pods = writer.as_reader();
/// let events = reflector::watch_all(client, writer);
/// # }
/// ```
pub fn watch_all<K>(
    client: Arc<dyn Client>,
    writer: Writer<K>,
) -> BoxStream<'static, Result<Event<K>, WatcherError>>
where
    K: Object + k8s_openapi::Resource,
    K::Scope: 'static,
{
    watch_namespace(client, writer, None)
}

/// [`watch_all`] limited to `namespace` (all namespaces when `None`).
pub fn watch_namespace<K>(
    client: Arc<dyn Client>,
    writer: Writer<K>,
    namespace: Option<&str>,
) -> BoxStream<'static, Result<Event<K>, WatcherError>>
where
    K: Object + k8s_openapi::Resource,
    K::Scope: 'static,
{
    let target = ObjectTarget::collection(&ResourceRef::of::<K>(), namespace);
    reflector(
        writer,
        super::watcher::watcher::<K>(client, target, super::watcher::Config::default()),
    )
}

#[cfg(test)]
mod tests;
