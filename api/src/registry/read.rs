//! Get and list, with Kubernetes' resourceVersion semantics and consistent pagination.

use serde_json::{json, Map, Value};
use skiff_core::status::ApiError;
use skiff_store::{prefix_end, KeyRange, RangeRequest, StoreError};

use super::{api_error, parse_resource_version, ContinueToken, ObjectFilter, Registry};

/// The query options of a list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `labelSelector` and `fieldSelector`, parsed.
    pub filter: ObjectFilter,
    /// `limit`; 0 = no limit.
    pub limit: i64,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch` (`Exact`, `NotOlderThan`).
    pub resource_version_match: Option<String>,
}

/// How many keys a filtered list reads from the store at a time.
const FILTERED_CHUNK: i64 = 500;

impl Registry {
    /// Reads one object; 404 with the resource's name when absent.
    pub async fn get(&self, namespace: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.try_get(namespace, name)
            .await?
            .ok_or_else(|| ApiError::not_found(&self.qualified(), name))
    }

    /// Reads one object, `None` when absent.
    pub async fn try_get(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, ApiError> {
        let key = self.object_key(namespace, name);
        match self.store.get(key.as_bytes()).await.map_err(api_error)? {
            Some(kv) => Ok(Some(self.decode(&kv)?)),
            None => Ok(None),
        }
    }

    /// The kind of the list object (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.resource.kind)
    }

    /// Lists objects from the store: one namespace or all, filtered, paginated.
    pub async fn list(
        &self,
        namespace: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Value, ApiError> {
        let list_prefix = self.list_prefix(namespace);
        let range_end = prefix_end(list_prefix.as_bytes());
        let rv_match = opts
            .resource_version_match
            .as_deref()
            .filter(|m| !m.is_empty());
        let rv = opts.resource_version.as_deref().filter(|v| !v.is_empty());
        if rv_match.is_some() && rv.is_none() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if let Some(m) = rv_match {
            if !matches!(m, "Exact" | "NotOlderThan") {
                return Err(ApiError::bad_request(format!(
                    "resourceVersionMatch: Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\""
                )));
            }
        }
        // The revision to read at (0 = the current one) and the first key.
        let (mut revision, mut start) =
            match opts.continue_token.as_deref().filter(|c| !c.is_empty()) {
                Some(token) => {
                    if rv.is_some_and(|v| v != "0") {
                        return Err(ApiError::bad_request(
                            "specifying resource version is not allowed when using continue",
                        ));
                    }
                    let token = ContinueToken::decode(token)?;
                    let key = format!("{}{}", self.prefix, token.start);
                    if !key.starts_with(&list_prefix) {
                        return Err(ApiError::bad_request(
                            "continue key is not valid: not in this list",
                        ));
                    }
                    (token.rv, key.into_bytes())
                }
                None => {
                    let at = match (rv, rv_match) {
                        (Some(v), Some("Exact")) => parse_resource_version(v)?,
                        (Some(v), _) => {
                            let wanted = parse_resource_version(v)?;
                            self.wait_for_revision(wanted).await?;
                            0
                        }
                        (None, _) => 0,
                    };
                    (at, list_prefix.clone().into_bytes())
                }
            };
        let continuing = opts
            .continue_token
            .as_deref()
            .is_some_and(|c| !c.is_empty());
        let filtered = !opts.filter.is_empty();
        let mut items = Vec::new();
        let mut next: Option<Vec<u8>> = None;
        let mut remaining = None;
        loop {
            let want = if opts.limit > 0 {
                if filtered {
                    FILTERED_CHUNK.max(opts.limit)
                } else {
                    opts.limit - items.len() as i64
                }
            } else {
                0
            };
            let req = RangeRequest {
                range: KeyRange::range(start.clone(), range_end.clone()),
                revision,
                limit: want,
                ..Default::default()
            };
            let resp = self.store.range(req).await.map_err(|e| match e {
                StoreError::Compacted { .. } if continuing => ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                other => api_error(other),
            })?;
            if revision == 0 {
                revision = resp.header.revision;
            }
            let count = resp.kvs.len();
            for (i, kv) in resp.kvs.iter().enumerate() {
                let obj = self.decode(kv)?;
                if filtered && !opts.filter.matches(&obj, self.strategy.as_ref()) {
                    continue;
                }
                items.push(obj);
                if opts.limit > 0 && items.len() as i64 >= opts.limit {
                    let more_here = i + 1 < count;
                    if more_here || resp.more {
                        let mut after = kv.key.to_vec();
                        after.push(0);
                        next = Some(after);
                        if !filtered {
                            remaining = Some(resp.count - (i as i64 + 1));
                        }
                    }
                    break;
                }
            }
            if next.is_some() || !resp.more || (opts.limit > 0 && items.len() as i64 >= opts.limit)
            {
                break;
            }
            let Some(last) = resp.kvs.last() else { break };
            let mut after = last.key.to_vec();
            after.push(0);
            start = after;
        }
        let mut list_meta = Map::new();
        list_meta.insert("resourceVersion".into(), json!(revision.to_string()));
        if let Some(key) = next {
            let relative = String::from_utf8_lossy(&key[self.prefix.len()..]).into_owned();
            list_meta.insert(
                "continue".into(),
                json!(ContinueToken::new(revision, relative).encode()),
            );
            if let Some(r) = remaining.filter(|r| *r > 0) {
                list_meta.insert("remainingItemCount".into(), json!(r));
            }
        }
        Ok(self.list_object(Value::Object(list_meta), items))
    }

    /// A list object of this resource around `items`, moved in (`json!` would copy
    /// each item through serde's serializer).
    pub fn list_object(&self, metadata: Value, items: Vec<Value>) -> Value {
        let mut list = Map::new();
        list.insert("kind".into(), Value::String(self.list_kind()));
        list.insert(
            "apiVersion".into(),
            Value::String(self.resource.api_version()),
        );
        list.insert("metadata".into(), metadata);
        list.insert("items".into(), Value::Array(items));
        Value::Object(list)
    }

    /// Waits (up to 3 s, as Kubernetes does) until the store reaches `revision`;
    /// 504 `Timeout` ("Too large resource version") if it does not.
    async fn wait_for_revision(&self, revision: i64) -> Result<(), ApiError> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let current = self
                .store
                .status()
                .await
                .map_err(api_error)?
                .header
                .revision;
            if current >= revision {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let mut err = ApiError::timeout(&format!(
                    "Too large resource version: {revision}, current: {current}"
                ));
                err.details = Some(Box::new(skiff_core::status::StatusDetails {
                    causes: vec![skiff_core::status::StatusCause::new(
                        "ResourceVersionTooLarge",
                        "Too large resource version",
                        "",
                    )],
                    retry_after_seconds: Some(1),
                    ..Default::default()
                }));
                return Err(err);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
