//! [`Controller`]: runs a reconcile function for every object of a kind whenever it, or
//! something related to it, changes.
//!
//! The controller watches its main kind (keeping a cache, [`Controller::store`]),
//! optionally the kinds it [`owns`](Controller::owns) (mapped to their controlling
//! owner through `ownerReferences` with `controller: true`) and any other kind it
//! [`watches`](Controller::watches) with a mapper. Every change queues the key of the
//! object to reconcile in a [`WorkQueue`]: keys are deduplicated, one key is never
//! reconciled twice at once, and at most [`Controller::concurrency`] reconciles run.
//!
//! ```no_run
//! # async fn run(client: std::sync::Arc<dyn skiff_core::client::Client>) {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use futures::StreamExt;
//! use k8s_openapi::api::apps::v1::ReplicaSet;
//! use k8s_openapi::api::core::v1::Pod;
//! use skiff_core::runtime::{controller::Action, watcher, Controller};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("failed")]
//! struct Failed;
//!
//! async fn reconcile(rs: Arc<ReplicaSet>, _ctx: Arc<()>) -> Result<Action, Failed> {
//!     println!("reconciling {:?}", rs.metadata.name);
//!     Ok(Action::requeue(Duration::from_secs(300)))
//! }
//!
//! Controller::<ReplicaSet>::new(client.clone(), None, watcher::Config::default())
//!     .owns::<Pod>(None, watcher::Config::default())
//!     .run(reconcile, |_, _: &Failed, _| Action::requeue_rate_limited(), Arc::new(()))
//!     .for_each(|result| async move { println!("{result:?}") })
//!     .await;
//! # }
//! ```
//!
//! # Requeues
//! A reconcile returns an [`Action`]: wait for the next change, requeue after a delay,
//! or requeue with the key's exponential rate limit. On an error, `error_policy`
//! chooses the action. A success resets the key's rate limit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::object::{Object, ObjectRef};
use super::reflector::{self, Store, Writer};
use super::watcher::{self, Event};
use super::{Backoff, WorkQueue};
use crate::client::{Client, ObjectTarget, ResourceRef};

/// What to do with a key after its reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    requeue: Requeue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Requeue {
    Never,
    After(Duration),
    RateLimited,
}

impl Action {
    /// Reconcile again after `delay` even if nothing changes.
    pub fn requeue(delay: Duration) -> Self {
        Action {
            requeue: Requeue::After(delay),
        }
    }

    /// Reconcile again only when something changes.
    pub fn await_change() -> Self {
        Action {
            requeue: Requeue::Never,
        }
    }

    /// Reconcile again after the key's rate-limit delay (doubling with each
    /// consecutive failure).
    pub fn requeue_rate_limited() -> Self {
        Action {
            requeue: Requeue::RateLimited,
        }
    }

    /// The fixed delay, if this action requeues after one.
    pub fn requeue_after(&self) -> Option<Duration> {
        match self.requeue {
            Requeue::After(d) => Some(d),
            _ => None,
        }
    }
}

/// A reconcile that failed, as the result stream reports it.
#[derive(Debug, thiserror::Error)]
pub enum Error<E: std::error::Error + 'static> {
    /// The reconcile function returned an error.
    #[error("reconciling {0} failed: {1}")]
    ReconcilerFailed(ObjectRef, #[source] E),
}

/// The type of a source that turns events into keys to reconcile.
type Trigger = BoxStream<'static, Vec<ObjectRef>>;

/// A controller of kind `K`, built with `new`, `owns`, `watches`, then `run`.
pub struct Controller<K: Object> {
    writer: Writer<K>,
    store: Store<K>,
    main: BoxStream<'static, Result<Event<K>, watcher::Error>>,
    triggers: Vec<Trigger>,
    client: Arc<dyn Client>,
    kind: String,
    group: String,
    concurrency: usize,
    queue_backoff: Backoff,
}

impl<K> Controller<K>
where
    K: Object + k8s_openapi::Resource,
    K::Scope: 'static,
{
    /// A controller of every `K` in `namespace` (or all namespaces) that `config`
    /// selects.
    pub fn new(client: Arc<dyn Client>, namespace: Option<&str>, config: watcher::Config) -> Self {
        let target = ObjectTarget::collection(&ResourceRef::of::<K>(), namespace);
        Controller::for_target(client, target, K::KIND, K::GROUP, config)
    }

    /// Reconciles the controlling owner (a `K`) of every `C` that changes.
    #[must_use]
    pub fn owns<C>(self, namespace: Option<&str>, config: watcher::Config) -> Self
    where
        C: Object + k8s_openapi::Resource,
        C::Scope: 'static,
    {
        let target = ObjectTarget::collection(&ResourceRef::of::<C>(), namespace);
        let stream = watcher::watcher::<C>(self.client.clone(), target, config);
        self.owns_stream(stream)
    }

    /// Reconciles the objects `mapper` names for every `C` that changes.
    #[must_use]
    pub fn watches<C>(
        self,
        namespace: Option<&str>,
        config: watcher::Config,
        mapper: impl Fn(&C) -> Vec<ObjectRef> + Send + Sync + 'static,
    ) -> Self
    where
        C: Object + k8s_openapi::Resource,
        C::Scope: 'static,
    {
        let target = ObjectTarget::collection(&ResourceRef::of::<C>(), namespace);
        let stream = watcher::watcher::<C>(self.client.clone(), target, config);
        self.watches_stream(stream, mapper)
    }
}

impl<K: Object> Controller<K> {
    /// A controller of the objects of `target` (a collection), whose kind is `kind` in
    /// API group `group`: the "dynamic" constructor under [`Controller::new`].
    pub fn for_target(
        client: Arc<dyn Client>,
        target: ObjectTarget,
        kind: &str,
        group: &str,
        config: watcher::Config,
    ) -> Self {
        let writer = Writer::default();
        Controller::for_stream(
            client.clone(),
            writer,
            watcher::watcher::<K>(client, target, config),
            kind,
            group,
        )
    }

    /// A controller fed by an existing watcher stream and a cache writer with the
    /// indexes the caller wants.
    pub fn for_stream(
        client: Arc<dyn Client>,
        writer: Writer<K>,
        stream: BoxStream<'static, Result<Event<K>, watcher::Error>>,
        kind: &str,
        group: &str,
    ) -> Self {
        let store = writer.as_reader();
        Controller {
            writer,
            store,
            main: stream,
            triggers: Vec::new(),
            client,
            kind: kind.to_owned(),
            group: group.to_owned(),
            concurrency: 4,
            queue_backoff: Backoff::new(Duration::from_millis(5), Duration::from_secs(300)),
        }
    }

    /// The cache of the main kind.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// At most `n` reconciles at once (at least one).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The rate limit of [`Action::requeue_rate_limited`].
    #[must_use]
    pub fn rate_limit(mut self, backoff: Backoff) -> Self {
        self.queue_backoff = backoff;
        self
    }

    /// Reconciles the controlling owner of each object of `stream` (a watcher stream,
    /// possibly already feeding a reflector of the caller's).
    #[must_use]
    pub fn owns_stream<C: Object>(
        mut self,
        stream: BoxStream<'static, Result<Event<C>, watcher::Error>>,
    ) -> Self {
        let kind = self.kind.clone();
        let group = self.group.clone();
        self.triggers.push(
            watcher::ignore_errors(stream)
                .map(move |event| {
                    let Some(child) = event.object() else {
                        return Vec::new();
                    };
                    owner_key(child, &kind, &group).into_iter().collect()
                })
                .boxed(),
        );
        self
    }

    /// Reconciles what `mapper` names for each object of `stream`.
    #[must_use]
    pub fn watches_stream<C: Object>(
        mut self,
        stream: BoxStream<'static, Result<Event<C>, watcher::Error>>,
        mapper: impl Fn(&C) -> Vec<ObjectRef> + Send + Sync + 'static,
    ) -> Self {
        self.triggers.push(
            watcher::ignore_errors(stream)
                .map(move |event| event.object().map(&mapper).unwrap_or_default())
                .boxed(),
        );
        self
    }

    /// Reconciles the keys `stream` yields (a periodic resync, an external trigger).
    #[must_use]
    pub fn reconcile_on(mut self, stream: BoxStream<'static, ObjectRef>) -> Self {
        self.triggers.push(stream.map(|k| vec![k]).boxed());
        self
    }

    /// Runs the controller. The returned stream yields the outcome of every reconcile;
    /// dropping it stops the controller (its watches and running reconciles).
    pub fn run<Ctx, E, R, Fut, P>(
        self,
        reconcile: R,
        error_policy: P,
        ctx: Arc<Ctx>,
    ) -> BoxStream<'static, Result<(ObjectRef, Action), Error<E>>>
    where
        Ctx: Send + Sync + 'static,
        E: std::error::Error + Send + 'static,
        R: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> Action + Send + Sync + 'static,
    {
        let queue = Arc::new(WorkQueue::<ObjectRef>::new(self.queue_backoff));
        let mut tasks = JoinSet::new();

        // The main kind: cache it and queue every changed object.
        let main = reflector::reflector(self.writer, self.main);
        let q = queue.clone();
        tasks.spawn(async move {
            let mut events = watcher::ignore_errors(main);
            while let Some(event) = events.next().await {
                if let Event::Apply(obj) | Event::InitApply(obj) = &event {
                    q.add(ObjectRef::from_obj(obj));
                }
            }
        });
        for mut trigger in self.triggers {
            let q = queue.clone();
            tasks.spawn(async move {
                while let Some(keys) = trigger.next().await {
                    for k in keys {
                        q.add(k);
                    }
                }
            });
        }

        let (tx, rx) = mpsc::channel(256);
        let reconcile = Arc::new(reconcile);
        let error_policy = Arc::new(error_policy);
        for _ in 0..self.concurrency {
            let (q, store, ctx, tx) = (queue.clone(), self.store.clone(), ctx.clone(), tx.clone());
            let (reconcile, error_policy) = (reconcile.clone(), error_policy.clone());
            tasks.spawn(async move {
                if store.wait_until_ready().await.is_err() {
                    return;
                }
                while let Some(key) = q.next().await {
                    let Some(obj) = store.get(&key) else {
                        // Deleted since it was queued: nothing to reconcile.
                        q.forget(&key);
                        q.done(&key);
                        continue;
                    };
                    let span = tracing::debug_span!("reconcile", object = %key);
                    let result = reconcile(obj.clone(), ctx.clone()).instrument(span).await;
                    let (action, outcome) = match result {
                        Ok(action) => {
                            q.forget(&key);
                            (action, Ok((key.clone(), action)))
                        }
                        Err(e) => {
                            let action = error_policy(obj, &e, ctx.clone());
                            tracing::debug!(object = %key, error = %e, "reconcile failed");
                            (action, Err(Error::ReconcilerFailed(key.clone(), e)))
                        }
                    };
                    q.done(&key);
                    match action.requeue {
                        Requeue::Never => {}
                        Requeue::After(d) => q.add_after(key, d),
                        Requeue::RateLimited => q.add_rate_limited(key),
                    }
                    // A dropped receiver means the controller is being stopped.
                    let _ = tx.send(outcome).await;
                }
            });
        }
        drop(tx);
        let guard = RunGuard { tasks, queue };
        futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            let item = rx.recv().await?;
            Some((item, (rx, guard)))
        })
        .boxed()
    }
}

/// Owns the controller's tasks: dropping it aborts them and stops the queue.
struct RunGuard {
    tasks: JoinSet<()>,
    queue: Arc<WorkQueue<ObjectRef>>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.queue.shut_down();
        self.tasks.abort_all();
    }
}

/// The key of `child`'s controlling owner when that owner is of `kind` in `group`.
pub fn owner_key<C: Object>(child: &C, kind: &str, group: &str) -> Option<ObjectRef> {
    let owner = super::object::controller_of(child.meta())?;
    let owner_group = owner.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if owner.kind != kind || owner_group != group {
        return None;
    }
    let mut key = ObjectRef::new(&owner.name);
    key.namespace = child.meta().namespace.clone().filter(|n| !n.is_empty());
    Some(key)
}
