//! Store servers run as child processes for a benchmark: the real etcd and `skiff
//! store`, each on loopback with a free port and a temporary data directory, killed when
//! dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use skiff_store::{KvStore, RemoteOptions, RemoteStore};

/// A running store server.
pub struct ServerProcess {
    /// A short name for tables ("etcd", "skiff").
    pub name: &'static str,
    /// The client URL.
    pub client_url: String,
    child: Child,
    data_dir: tempfile::TempDir,
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl ServerProcess {
    /// Start etcd from `bin` with a data directory under `data_root`, with etcd's
    /// default durability (an fsync per commit).
    pub fn etcd(bin: &Path, data_root: &Path) -> Result<ServerProcess, String> {
        let data_dir = temp_dir(data_root, "etcd")?;
        let (client, peer) = (free_port().map_err(text)?, free_port().map_err(text)?);
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new(bin);
        cmd.arg("--name=bench")
            .arg(format!(
                "--data-dir={}",
                data_dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=bench={peer_url}"))
            .args(["--logger=zap", "--log-level=error"]);
        Self::spawn("etcd", cmd, client_url, data_dir)
    }

    /// Start `skiff store` from `bin` with a data directory under `data_root`.
    pub fn skiff_store(bin: &Path, data_root: &Path) -> Result<ServerProcess, String> {
        let data_dir = temp_dir(data_root, "skiff")?;
        let client_url = format!("http://127.0.0.1:{}", free_port().map_err(text)?);
        let mut cmd = Command::new(bin);
        cmd.arg("store")
            .arg(format!(
                "--data-dir={}",
                data_dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client_url}"));
        Self::spawn("skiff", cmd, client_url, data_dir)
    }

    fn spawn(
        name: &'static str,
        mut cmd: Command,
        client_url: String,
        data_dir: tempfile::TempDir,
    ) -> Result<ServerProcess, String> {
        let log = std::fs::File::create(data_dir.path().join("server.log")).map_err(text)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {name}: {e}"))?;
        Ok(ServerProcess {
            name,
            client_url,
            child,
            data_dir,
        })
    }

    /// Connect a client once the server answers a status request, within `timeout`.
    pub async fn ready(&mut self, timeout: Duration) -> Result<RemoteStore, String> {
        let deadline = Instant::now() + timeout;
        let options = RemoteOptions {
            dial_timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status}: {}",
                    self.name,
                    self.log()
                ));
            }
            match RemoteStore::connect(vec![self.client_url.clone()], options.clone()).await {
                Ok(store) => match store.status().await {
                    Ok(_) => return Ok(store),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "{} not ready within {timeout:?}: {last}\n{}",
            self.name,
            self.log()
        ))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("server.log")).unwrap_or_default()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(root: &Path, name: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(&format!("store-bench-{name}-"))
        .tempdir_in(root)
        .map_err(text)
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}
