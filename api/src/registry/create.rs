//! Create: metadata the server owns, generateName, namespace checks, the write.

use rand::Rng;
use serde_json::{json, Value};
use skiff_core::status::{ApiError, StatusCause};
use skiff_store::{
    Compare, CompareResult, CompareTarget, KeyRange, PutRequest, RequestOp, TxnRequest,
};

use super::{api_error, encode_object, meta, Registry, WriteOptions};

/// Characters of generated name suffixes (Kubernetes' alphabet: no vowels, no
/// look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// How many names a generateName create tries before giving up with 409.
const GENERATE_ATTEMPTS: usize = 8;

/// `generateName` + 5 random characters.
pub fn generate_name(base: &str) -> String {
    let mut rng = rand::rng();
    let base = &base[..base.len().min(58)];
    let suffix: String = (0..5)
        .map(|_| SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

impl Registry {
    /// Checks and fills the type fields (`apiVersion`, `kind`) of a body; 400 when the
    /// body names another type.
    pub(crate) fn check_type(&self, obj: &mut Value) -> Result<(), ApiError> {
        let Some(map) = obj.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        };
        let api_version = self.resource.api_version();
        match map.get("apiVersion").and_then(Value::as_str) {
            Some(v) if !v.is_empty() && v != api_version => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )))
            }
            _ => {}
        }
        match map.get("kind").and_then(Value::as_str) {
            Some(k) if !k.is_empty() && k != self.resource.kind => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    self.resource.kind
                )))
            }
            _ => {}
        }
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!(self.resource.kind));
        Ok(())
    }

    /// Checks and fills the namespace of a body against the request's.
    pub(crate) fn check_namespace(
        &self,
        obj: &mut Value,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if !self.resource.namespaced {
            meta::remove_meta(obj, "namespace");
            return Ok(());
        }
        let Some(ns) = namespace else {
            return Err(ApiError::bad_request(
                "a namespace is required for this resource",
            ));
        };
        let given = meta::namespace(obj);
        if !given.is_empty() && given != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::set_meta_str(obj, "namespace", ns);
        Ok(())
    }

    /// The namespace must exist and not be terminating for new namespaced objects.
    pub(crate) async fn check_namespace_open(&self, namespace: &str) -> Result<(), ApiError> {
        let key = format!("/registry/namespaces/{namespace}");
        let kv = self.store.get(key.as_bytes()).await.map_err(api_error)?;
        let Some(kv) = kv else {
            return Err(ApiError::not_found("namespaces", namespace));
        };
        // Only whether it is terminating matters: decode that field alone.
        #[derive(serde::Deserialize)]
        struct Namespace {
            #[serde(default)]
            metadata: NamespaceMeta,
        }
        #[derive(Default, serde::Deserialize)]
        struct NamespaceMeta {
            #[serde(rename = "deletionTimestamp", default)]
            deletion_timestamp: Option<serde::de::IgnoredAny>,
        }
        let ns: Namespace = serde_json::from_slice(&kv.value).map_err(|e| {
            ApiError::internal(&format!(
                "the stored namespace {namespace} does not decode: {e}"
            ))
        })?;
        if ns.metadata.deletion_timestamp.is_some() {
            return Err(ApiError::forbidden(
                &self.qualified(),
                "",
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            ));
        }
        Ok(())
    }

    /// Creates an object. `namespace` is the request's (ignored for cluster-scoped
    /// resources). Returns the stored object with its resourceVersion.
    pub async fn create(
        &self,
        namespace: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.check_type(&mut obj)?;
        self.check_namespace(&mut obj, namespace)?;
        let meta_map = meta::metadata_mut(&mut obj);
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta_map.remove(field);
        }
        meta_map.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta_map.insert("creationTimestamp".into(), json!(meta::now_timestamp()));
        meta_map.insert("generation".into(), json!(1));
        let generate = meta::name(&obj).is_empty();
        let generate_base = meta::meta_str(&obj, "generateName").to_owned();
        if generate {
            if generate_base.is_empty() {
                return Err(ApiError::invalid(
                    &self.resource.qualified_kind(),
                    "",
                    vec![StatusCause::new(
                        "FieldValueRequired",
                        "Required value: name or generateName is required",
                        "metadata.name",
                    )],
                ));
            }
            meta::set_meta_str(&mut obj, "name", &generate_name(&generate_base));
        }
        self.strategy.prepare_for_create(&mut obj);
        self.strategy.default(&mut obj);
        self.admit(None, &mut obj).await?;
        self.track_fields(&Value::Null, &mut obj, super::UpdateTarget::Main, opts);
        if opts.shape_known {
            self.strategy.validate_known_shape(&obj)?;
        } else {
            self.strategy.validate(&obj)?;
        }
        if self.resource.namespaced {
            let ns = meta::namespace(&obj).to_owned();
            self.check_namespace_open(&ns).await?;
        }
        // Reservations (a Service's cluster IP) are taken in the create's own
        // transaction; when another writer took one first, they are made again from
        // the object as it was before.
        // A create of a name that exists answers AlreadyExists, not a complaint
        // about the reserved values it repeats.
        if self.reservations.is_some() && !generate {
            let key = self.object_key(namespace, meta::name(&obj));
            if self
                .store
                .get(key.as_bytes())
                .await
                .map_err(api_error)?
                .is_some()
            {
                return Err(ApiError::already_exists(
                    &self.qualified(),
                    meta::name(&obj),
                ));
            }
        }
        // Reserved values are made again from the object as it was before, should
        // another writer take one first.
        let unreserved = self.reservations.as_ref().map(|_| obj.clone());
        let mut reserved = self.reserve(None, &mut obj).await?;
        if opts.dry_run {
            return Ok(self.served_version(obj));
        }
        for _ in 0..GENERATE_ATTEMPTS {
            let name = meta::name(&obj).to_owned();
            let key = self.object_key(namespace, &name);
            let mut compare = vec![Compare {
                range: KeyRange::key(key.clone()),
                result: CompareResult::Equal,
                target: CompareTarget::Create(0),
            }];
            compare.extend(reserved.compare.iter().cloned());
            let bytes = encode_object(&obj);
            let mut success = vec![RequestOp::Put(PutRequest::new(key.clone(), bytes.clone()))];
            success.extend(reserved.success.iter().cloned());
            let txn = TxnRequest {
                compare,
                success,
                failure: vec![],
            };
            // The watch cache takes a copy rather than decoding the stored bytes.
            let (resp, _) = self
                .txn_offering(txn, Some((&key, &bytes)), || obj.clone())
                .await?;
            if resp.succeeded {
                meta::set_meta_str(
                    &mut obj,
                    "resourceVersion",
                    &resp.header.revision.to_string(),
                );
                return Ok(self.served_version(obj));
            }
            let name_taken = reserved.is_empty()
                || self
                    .store
                    .get(key.as_bytes())
                    .await
                    .map_err(api_error)?
                    .is_some();
            if name_taken && !generate {
                return Err(ApiError::already_exists(&self.qualified(), &name));
            }
            if let (false, Some(unreserved)) = (name_taken, &unreserved) {
                obj = unreserved.clone();
                meta::set_meta_str(&mut obj, "name", &name);
                reserved = self.reserve(None, &mut obj).await?;
            } else {
                meta::set_meta_str(&mut obj, "name", &generate_name(&generate_base));
            }
        }
        Err(ApiError::already_exists(
            &self.qualified(),
            meta::name(&obj),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_have_five_suffix_characters() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].bytes().all(|b| SUFFIX_ALPHABET.contains(&b)));
    }
}
