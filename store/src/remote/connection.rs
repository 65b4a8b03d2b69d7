//! The connection to one of a list of etcd endpoints, with failover to the next endpoint
//! when the current one cannot be reached.

use std::time::Duration;

use tokio::sync::Mutex;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Result, StoreError};
use crate::remote::RemoteOptions;

/// An open channel to one endpoint. `generation` tells connections apart, so that a
/// failure reported on an old connection does not tear down a newer one.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    /// The channel; tonic clients are built on clones of it.
    pub channel: Channel,
    /// Which connection this is, counting from 1.
    pub generation: u64,
    /// The endpoint's index in the list.
    pub index: usize,
}

#[derive(Debug, Default)]
struct State {
    current: Option<Conn>,
    /// The endpoint to try first on the next connect.
    next_index: usize,
    generation: u64,
}

/// The endpoint list and the current connection.
#[derive(Debug)]
pub(crate) struct Connections {
    endpoints: Vec<Endpoint>,
    urls: Vec<String>,
    /// Guards the current connection; held while connecting, so concurrent callers that
    /// find no connection wait for one connect instead of racing.
    state: Mutex<State>,
}

/// `url` with `http://` added when it names no scheme (etcdctl accepts `host:port`).
fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

impl Connections {
    /// Parse the endpoint URLs; nothing is dialled yet.
    pub fn new(urls: Vec<String>, options: &RemoteOptions) -> Result<Connections> {
        if urls.is_empty() {
            return Err(StoreError::Remote("no endpoints given".into()));
        }
        let mut endpoints = Vec::with_capacity(urls.len());
        let mut full = Vec::with_capacity(urls.len());
        for url in urls {
            let url = with_scheme(url.trim());
            if url.starts_with("https://") {
                return Err(StoreError::Remote(format!(
                    "{url}: TLS endpoints are not supported yet"
                )));
            }
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| StoreError::Remote(format!("bad endpoint {url}: {e}")))?
                .connect_timeout(options.dial_timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(options.keep_alive_interval)
                .keep_alive_timeout(options.keep_alive_timeout)
                .keep_alive_while_idle(true);
            endpoints.push(endpoint);
            full.push(url);
        }
        Ok(Connections {
            endpoints,
            urls: full,
            state: Mutex::new(State::default()),
        })
    }

    /// The current connection, connecting first if there is none: each endpoint is tried
    /// once, starting after the one that failed last.
    pub async fn get(&self) -> Result<Conn> {
        let mut state = self.state.lock().await;
        if let Some(conn) = &state.current {
            return Ok(conn.clone());
        }
        let n = self.endpoints.len();
        let mut errors = Vec::new();
        for attempt in 0..n {
            let index = (state.next_index + attempt) % n;
            match self.endpoints[index].connect().await {
                Ok(channel) => {
                    state.generation += 1;
                    let conn = Conn {
                        channel,
                        generation: state.generation,
                        index,
                    };
                    state.current = Some(conn.clone());
                    state.next_index = index;
                    tracing::debug!(endpoint = %self.urls[index], "connected to etcd endpoint");
                    return Ok(conn);
                }
                Err(e) => errors.push(format!("{}: {}", self.urls[index], source_chain(&e))),
            }
        }
        Err(StoreError::Remote(format!(
            "no endpoint reachable: {}",
            errors.join("; ")
        )))
    }

    /// Report that `conn` failed at the transport level: the next [`get`](Self::get)
    /// connects anew, starting with the endpoint after it.
    pub async fn failed(&self, conn: &Conn) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.generation == conn.generation)
        {
            tracing::debug!(endpoint = %self.urls[conn.index], "etcd endpoint failed; failing over");
            state.current = None;
            state.next_index = (conn.index + 1) % self.endpoints.len();
        }
    }

    /// How many endpoints there are.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }
}

/// An error and its sources, joined with ": ".
pub(crate) fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// A pause before retrying, growing with the attempt number up to one second.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((50u64 << attempt.min(5)).min(1000))
}
