//! The API server's client for node agents: TLS (verifying the node's certificate
//! against a CA when one is given), a client certificate and/or a bearer token, one
//! HTTP/1.1 connection per proxied request (upgrades need their own connection).

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::target::Target;
use super::ProxyError;

/// How the API server authenticates to node agents and checks their certificates.
#[derive(Clone, Debug, Default)]
pub struct KubeletClientConfig {
    /// CA (PEM) the node agents' serving certificates are checked against; `None`
    /// accepts any certificate (as kube-apiserver without
    /// `--kubelet-certificate-authority`).
    pub ca_pem: Option<String>,
    /// Client certificate (PEM) presented to node agents.
    pub client_cert_pem: Option<String>,
    /// Its private key (PEM).
    pub client_key_pem: Option<String>,
    /// Bearer token sent to node agents.
    pub bearer_token: Option<String>,
}

/// Accepts any server certificate (used only without a CA), still checking the
/// handshake signatures.
#[derive(Debug)]
struct AnyServerCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl KubeletClientConfig {
    /// The rustls client configuration.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, ProxyError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let bad =
            |what: &str, e: &dyn std::fmt::Display| ProxyError::Config(format!("{what}: {e}"));
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?;
        let builder = match &self.ca_pem {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots
                        .add(cert.map_err(|e| bad("kubelet CA", &e))?)
                        .map_err(|e| bad("kubelet CA", &e))?;
                }
                builder.with_root_certificates(roots)
            }
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider))),
        };
        let mut config = match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("client certificate", &e))?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                    .map_err(|e| bad("client key", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad("client certificate", &e))?
            }
            _ => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// An HTTP/1.1 connection to a node agent.
pub struct NodeConnection {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl NodeConnection {
    /// Sends one request.
    pub async fn send(
        &mut self,
        request: Request<Empty<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, ProxyError> {
        Ok(self.sender.send_request(request).await?)
    }
}

/// Connects to the node agent at `host:port`.
pub async fn connect(
    config: &KubeletClientConfig,
    host: &str,
    port: u16,
) -> Result<NodeConnection, ProxyError> {
    let address = format!("{host}:{port}");
    let tls = Arc::new(config.tls_config()?);
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|e| ProxyError::Config(format!("node address {host}: {e}")))?;
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|source| ProxyError::Connect {
            address: address.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let stream = TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|source| ProxyError::Tls { address, source })?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!("node agent connection ended: {e}");
        }
    });
    Ok(NodeConnection { sender })
}

/// Headers of the client's request that an upgrade needs passed on.
const UPGRADE_HEADERS: [&str; 6] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];

/// The request to the node agent: `target`'s path, the node as Host, our bearer
/// token, and the client's upgrade headers.
pub fn request(
    config: &KubeletClientConfig,
    method: Method,
    target: &Target,
    client_headers: &HeaderMap,
) -> Result<Request<Empty<Bytes>>, ProxyError> {
    let mut request = Request::builder()
        .method(method)
        .uri(target.path_and_query.as_str())
        .body(Empty::new())
        .map_err(|e| ProxyError::Config(format!("request to the node agent: {e}")))?;
    let headers = request.headers_mut();
    for name in UPGRADE_HEADERS {
        for value in client_headers.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    if let Ok(host) = HeaderValue::from_str(&format!("{}:{}", target.host, target.port)) {
        headers.insert(header::HOST, host);
    }
    if let Some(token) = &config.bearer_token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ProxyError::Config("the bearer token is not a valid header value".into())
        })?;
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(request)
}
