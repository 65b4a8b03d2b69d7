//! A fake [`Client`] for the runtime's tests: objects in a map, a history of changes
//! that watches replay and follow, and knobs to break things (drop every watch,
//! compact history so resuming gets 410, fail lists).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::client::{
    ByteStream, Client, ClientError, DeleteParams, ListParams, LogParams, ObjectTarget, Patch,
    PatchParams, PostParams, WatchEvent, WatchStream,
};
use crate::selector::LabelSelector;
use crate::status::ApiError;

type Key = (String, String, String);

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: Vec<(u64, String, WatchEvent)>,
    /// Watches from before this version get 410.
    compacted: u64,
    fail_lists: u32,
    pub list_calls: u32,
    pub watch_calls: u32,
}

pub struct FakeClient {
    state: Mutex<State>,
    events: broadcast::Sender<(u64, String, WatchEvent)>,
    /// Bumped to end every open watch.
    generation: watch::Sender<u64>,
}

fn key(target: &ObjectTarget, name: &str) -> Key {
    (
        target.resource.plural.clone(),
        target.namespace.clone().unwrap_or_default(),
        name.to_owned(),
    )
}

fn gone(msg: &str) -> ClientError {
    ClientError::Api(ApiError::expired(msg))
}

fn matches(target: &ObjectTarget, params: &ListParams, plural: &str, obj: &Value) -> bool {
    if plural != target.resource.plural {
        return false;
    }
    if let Some(ns) = &target.namespace {
        if obj.pointer("/metadata/namespace").and_then(Value::as_str) != Some(ns) {
            return false;
        }
    }
    match params.label_selector.as_deref().map(LabelSelector::parse) {
        Some(Ok(sel)) => sel.matches_object(obj),
        Some(Err(_)) => false,
        None => true,
    }
}

impl FakeClient {
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(FakeClient {
            state: Mutex::new(State::default()),
            events: broadcast::channel(1024).0,
            generation: watch::channel(0).0,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Ends every open watch stream (as a dropped connection would).
    pub fn drop_watches(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Forgets history: resuming a watch from before now answers 410.
    pub fn compact(&self) {
        let mut s = self.lock();
        s.compacted = s.rv + 1;
        s.history.clear();
    }

    pub fn fail_next_lists(&self, n: u32) {
        self.lock().fail_lists = n;
    }

    pub fn list_calls(&self) -> u32 {
        self.lock().list_calls
    }

    pub fn watch_calls(&self) -> u32 {
        self.lock().watch_calls
    }

    fn record(&self, s: &mut State, plural: &str, event: WatchEvent) {
        s.history.push((s.rv, plural.to_owned(), event.clone()));
        let _ = self.events.send((s.rv, plural.to_owned(), event));
    }

    fn write(
        &self,
        target: &ObjectTarget,
        mut obj: Value,
        create: bool,
    ) -> Result<Value, ClientError> {
        let name = match target.name.clone() {
            Some(n) => n,
            None => obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .ok_or_else(|| ClientError::InvalidRequest("no name".into()))?
                .to_owned(),
        };
        let k = key(target, &name);
        let mut s = self.lock();
        let existing = s.objects.get(&k).cloned();
        match (&existing, create) {
            (Some(_), true) => {
                return Err(ApiError::already_exists(&target.resource.plural, &name).into())
            }
            (None, false) => return Err(ApiError::not_found(&target.resource.plural, &name).into()),
            (Some(old), false) => {
                let want = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str);
                let have = old
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str);
                if want.is_some() && want != have {
                    return Err(ApiError::conflict(
                        &target.resource.plural,
                        &name,
                        ApiError::OPTIMISTIC_LOCK_MESSAGE,
                    )
                    .into());
                }
            }
            (None, true) => {}
        }
        s.rv += 1;
        obj["metadata"]["name"] = json!(name);
        if let Some(ns) = &target.namespace {
            obj["metadata"]["namespace"] = json!(ns);
        }
        obj["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        if obj.pointer("/metadata/uid").is_none() {
            obj["metadata"]["uid"] = json!(format!("uid-{}", s.rv));
        }
        s.objects.insert(k, obj.clone());
        let event = if create {
            WatchEvent::Added(obj.clone())
        } else {
            WatchEvent::Modified(obj.clone())
        };
        self.record(&mut s, &target.resource.plural, event);
        Ok(obj)
    }
}

#[async_trait]
impl Client for FakeClient {
    async fn get(&self, target: &ObjectTarget) -> Result<Value, ClientError> {
        let name = target.require_name("get")?;
        self.lock()
            .objects
            .get(&key(target, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&target.resource.plural, name).into())
    }

    async fn list(&self, target: &ObjectTarget, params: &ListParams) -> Result<Value, ClientError> {
        let mut s = self.lock();
        s.list_calls += 1;
        if s.fail_lists > 0 {
            s.fail_lists -= 1;
            return Err(ClientError::Transport("injected list failure".into()));
        }
        let all: Vec<Value> = s
            .objects
            .iter()
            .filter(|((p, _, _), o)| matches(target, params, p, o))
            .map(|(_, o)| o.clone())
            .collect();
        // Pages: `continue` is the index of the next item.
        let start: usize = params
            .continue_token
            .as_deref()
            .map_or(0, |c| c.parse().unwrap_or(0));
        let limit = if params.limit == 0 {
            usize::MAX
        } else {
            params.limit as usize
        };
        let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
        let next = start + page.len();
        let cont = if next < all.len() {
            next.to_string()
        } else {
            String::new()
        };
        Ok(json!({"kind": "List", "apiVersion": "v1",
            "metadata": {"resourceVersion": s.rv.to_string(), "continue": cont},
            "items": page}))
    }

    async fn watch(
        &self,
        target: &ObjectTarget,
        params: &ListParams,
    ) -> Result<WatchStream, ClientError> {
        let mut s = self.lock();
        s.watch_calls += 1;
        let from: u64 = params
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(s.rv);
        if from + 1 < s.compacted {
            return Err(gone("too old resource version"));
        }
        let replay: Vec<Result<WatchEvent, ClientError>> = s
            .history
            .iter()
            .filter(|(rv, p, e)| {
                *rv > from && e.object().is_some_and(|o| matches(target, params, p, o))
            })
            .map(|(_, _, e)| Ok(e.clone()))
            .collect();
        let rx = self.events.subscribe();
        let mut generation = self.generation.subscribe();
        generation.mark_unchanged();
        drop(s);
        let (target, params) = (target.clone(), params.clone());
        let live = futures::stream::unfold(rx, move |mut rx| {
            let (target, params) = (target.clone(), params.clone());
            async move {
                loop {
                    match rx.recv().await {
                        Ok((rv, p, e))
                            if rv > from
                                && e.object().is_some_and(|o| matches(&target, &params, &p, o)) =>
                        {
                            return Some((Ok(e), rx))
                        }
                        Ok(_) => {}
                        Err(_) => return None,
                    }
                }
            }
        });
        let ended = async move {
            let _ = generation.changed().await;
        };
        Ok(futures::stream::iter(replay)
            .chain(live)
            .take_until(ended)
            .boxed())
    }

    async fn create(
        &self,
        target: &ObjectTarget,
        object: Value,
        _: &PostParams,
    ) -> Result<Value, ClientError> {
        self.write(target, object, true)
    }

    async fn replace(
        &self,
        target: &ObjectTarget,
        object: Value,
        _: &PostParams,
    ) -> Result<Value, ClientError> {
        self.write(target, object, false)
    }

    async fn patch(
        &self,
        target: &ObjectTarget,
        patch: &Patch,
        _: &PatchParams,
    ) -> Result<Value, ClientError> {
        let mut current = self.get(target).await?;
        let Patch::Merge(p) = patch else {
            return Err(ClientError::InvalidRequest(
                "the fake client only merge-patches".into(),
            ));
        };
        json_patch::merge(&mut current, p);
        if let Some(m) = current.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        self.write(target, current, false)
    }

    async fn delete(&self, target: &ObjectTarget, _: &DeleteParams) -> Result<Value, ClientError> {
        let name = target.require_name("delete")?;
        let mut s = self.lock();
        let Some(mut obj) = s.objects.remove(&key(target, name)) else {
            return Err(ApiError::not_found(&target.resource.plural, name).into());
        };
        s.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        self.record(&mut s, &target.resource.plural, WatchEvent::Deleted(obj));
        Ok(json!({"kind": "Status", "status": "Success"}))
    }

    async fn delete_collection(
        &self,
        _: &ObjectTarget,
        _: &ListParams,
        _: &DeleteParams,
    ) -> Result<Value, ClientError> {
        Err(ClientError::InvalidRequest("not in the fake".into()))
    }

    async fn logs(&self, _: &ObjectTarget, _: &LogParams) -> Result<ByteStream, ClientError> {
        Err(ClientError::InvalidRequest("not in the fake".into()))
    }
}
