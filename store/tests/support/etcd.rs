//! A real etcd (`/usr/bin/etcd`) on loopback with free ports and a temporary data
//! directory, killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs etcd.
pub const ETCD_BIN: &str = "/usr/bin/etcd";

/// A running single-member etcd.
pub struct EtcdProcess {
    child: Child,
    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub client_url: String,
    client_port: u16,
    peer_port: u16,
    /// The data directory (removed on drop).
    pub data_dir: tempfile::TempDir,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port")
}

impl EtcdProcess {
    /// Start etcd and wait until it accepts connections. Returns `None` (after printing
    /// why) when etcd is not installed.
    pub fn start() -> Option<EtcdProcess> {
        if !Path::new(ETCD_BIN).exists() {
            eprintln!("skipping: {ETCD_BIN} is not installed (apt-get install etcd-server)");
            return None;
        }
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::try_start() {
                Ok(p) => return Some(p),
                Err(e) => last_err = e,
            }
        }
        panic!("etcd did not start: {last_err}");
    }

    fn try_start() -> Result<EtcdProcess, String> {
        let data_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (client, peer) = (free_port(), free_port());
        let child = Self::spawn(data_dir.path(), client, peer)?;
        let mut p = EtcdProcess {
            child,
            client_url: format!("http://127.0.0.1:{client}"),
            client_port: client,
            peer_port: peer,
            data_dir,
        };
        p.wait_listening()?;
        Ok(p)
    }

    /// Kill etcd (as a crash would) and start it again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(self.data_dir.path(), self.client_port, self.peer_port)
            .expect("respawn etcd");
        self.wait_listening().expect("restarted etcd listens");
    }

    /// Kill etcd now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn spawn(dir: &Path, client: u16, peer: u16) -> Result<Child, String> {
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("etcd.log"))
            .map_err(|e| e.to_string())?;
        Command::new(ETCD_BIN)
            .arg("--name=conformance")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=conformance={peer_url}"))
            .args(["--logger=zap", "--log-level=error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {ETCD_BIN}: {e}"))
    }

    fn wait_listening(&mut self) -> Result<(), String> {
        let addr = format!("127.0.0.1:{}", self.client_port);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("etcd exited with {status}: {}", self.log()));
            }
            if TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "etcd did not listen on {addr} within 20s: {}",
            self.log()
        ))
    }

    /// etcd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
