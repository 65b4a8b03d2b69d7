//! [`HttpsClient`]: a [`Client`](crate::client::Client) that reaches a remote API
//! server (Skiff's or any Kubernetes cluster's) over HTTPS, configured from a
//! kubeconfig.
//!
//! It is a [`ServiceClient`] over hyper-util's pooled client with an
//! [`HttpsConnector`]: rustls trusting only the cluster's CA, the user's client
//! certificate or bearer token, HTTP/2 or HTTP/1.1 as ALPN negotiates. Needs a tokio
//! runtime to send requests.
//!
//! ```no_run
//! # async fn run() -> Result<(), skiff_core::client::ClientError> {
//! use std::sync::Arc;
//! use k8s_openapi::api::core::v1::Namespace;
//! use skiff_core::client::https::HttpsClient;
//! use skiff_core::client::{Api, Client, ListParams};
//!
//! let client: Arc<dyn Client> =
//!     Arc::new(HttpsClient::from_kubeconfig(".skiff/apiserver/admin.kubeconfig".as_ref())?);
//! let namespaces = Api::<Namespace>::all(client).list(&ListParams::default()).await?;
//! println!("{} namespaces", namespaces.items.len());
//! # Ok(()) }
//! ```
//!
//! # Organization
//! - [`ClusterAccess`]: server, CA and credentials read from a kubeconfig.
//! - [`client_config`]: the rustls configuration of a [`ClusterAccess`].
//! - [`HttpsConnector`]: TCP + TLS for hyper's client.

mod connector;
mod kubeconfig;
mod tls;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

pub use connector::{HttpsConnector, HttpsStream};
pub use kubeconfig::{ClusterAccess, Credentials, KubeconfigError};
pub use tls::{client_config, TlsConfigError};

use super::{ClientError, ServiceClient};

/// hyper-util's pooled client over [`HttpsConnector`].
pub type HttpsService = HyperClient<HttpsConnector, Full<Bytes>>;

/// A [`ServiceClient`] over HTTPS.
pub type HttpsClient = ServiceClient<HttpsService>;

impl ServiceClient<HttpsService> {
    /// A client for the current context of the kubeconfig at `path`.
    pub fn from_kubeconfig(path: &Path) -> Result<HttpsClient, ClientError> {
        Self::from_access(&ClusterAccess::from_kubeconfig(path)?)
    }

    /// A client for the current context of kubeconfig YAML; relative file paths in it
    /// are resolved against `base_dir`.
    pub fn from_kubeconfig_str(
        yaml: &str,
        base_dir: Option<&Path>,
    ) -> Result<HttpsClient, ClientError> {
        Self::from_access(&ClusterAccess::from_kubeconfig_str(yaml, base_dir)?)
    }

    /// A client for `access`.
    pub fn from_access(access: &ClusterAccess) -> Result<HttpsClient, ClientError> {
        let tls = Arc::new(client_config(access)?);
        let server_name = match &access.tls_server_name {
            Some(name) => Some(
                rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|e| ClientError::Config(format!("tls-server-name {name:?}: {e}")))?,
            ),
            None => None,
        };
        let service =
            HyperClient::builder(TokioExecutor::new()).build(HttpsConnector::new(tls, server_name));
        let mut client = ServiceClient::new(service).with_base_uri(&access.server);
        if let Credentials::Token(token) = &access.credentials {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ClientError::Config("the token is not a valid header value".into()))?;
            client = client.with_header(http::header::AUTHORIZATION, value);
        }
        Ok(client)
    }
}
