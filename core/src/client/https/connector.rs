//! [`HttpsConnector`]: the connector hyper's client dials with: TCP through hyper-util's
//! `HttpConnector`, then a TLS handshake with tokio-rustls, reporting to hyper whether
//! ALPN chose HTTP/2.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower::Service;

use crate::client::BoxError;

/// Dials `https://` URIs: TCP, then TLS with one fixed rustls configuration.
#[derive(Clone)]
pub struct HttpsConnector {
    http: HttpConnector,
    tls: TlsConnector,
    /// The name checked in the server's certificate instead of the URI's host.
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for HttpsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl HttpsConnector {
    /// A connector with `tls` (whose ALPN list decides the HTTP versions offered);
    /// `server_name` overrides the name verified in the server's certificate.
    pub fn new(tls: Arc<rustls::ClientConfig>, server_name: Option<ServerName<'static>>) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(30)));
        HttpsConnector {
            http,
            tls: TlsConnector::from(tls),
            server_name,
        }
    }
}

/// The name of `host` as a URI writes it (`[::1]` for IPv6 addresses).
fn server_name(host: &str) -> Result<ServerName<'static>, BoxError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(ServerName::try_from(bare.to_owned())?)
}

impl Service<http::Uri> for HttpsConnector {
    type Response = HttpsStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpsStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = self.tls.clone();
        let fixed_name = self.server_name.clone();
        let connecting = self.http.call(uri.clone());
        Box::pin(async move {
            if uri.scheme_str() != Some("https") {
                return Err(format!("refusing to send credentials over {uri}: not https").into());
            }
            let name = match fixed_name {
                Some(n) => n,
                None => server_name(uri.host().ok_or("URI without a host")?)?,
            };
            let tcp: TcpStream = connecting.await?.into_inner();
            let stream = tls.connect(name, tcp).await?;
            Ok(HttpsStream(TokioIo::new(stream)))
        })
    }
}

/// A TLS connection to the API server.
#[derive(Debug)]
pub struct HttpsStream(TokioIo<TlsStream<TcpStream>>);

impl Connection for HttpsStream {
    fn connected(&self) -> Connected {
        let (_, session) = self.0.inner().get_ref();
        let connected = Connected::new();
        if session.alpn_protocol() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for HttpsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl Write for HttpsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_uri_hosts() {
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("localhost").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(server_name("bad name!").is_err());
    }
}
