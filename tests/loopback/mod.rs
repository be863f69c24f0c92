//! Loopback addresses and `idemsim serve` processes for the tests that run real nodes
//! (`tests/net.rs`, `tests/net_crash.rs`): each test binary includes it with `mod loopback;`
//! and uses its own part of it.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_idemsim");

/// Fast elections so failover takes well under a second.
pub const TIMING: [&str; 4] = ["--election-timeout-ms", "150", "--heartbeat-ms", "30"];

/// One `idemsim serve` process; killed when dropped (and it exits by itself if the test
/// process dies, since its stdin is a pipe from us).
pub struct Server {
    pub id: u8,
    pub port: u16,
    pub args: Vec<String>,
    pub log: PathBuf,
    pub child: Option<Child>,
}

impl Server {
    /// Node `id` of `n`, on port `base + id - 1`, with [`TIMING`] and `extra` arguments.
    pub fn start(id: u8, base: u16, n: u8, dir: &Path, extra: &[&str]) -> Server {
        let peers: Vec<String> = (1..=n)
            .filter(|&p| p != id)
            .map(|p| format!("{p}={}", addr(base + u16::from(p) - 1)))
            .collect();
        let port = base + u16::from(id) - 1;
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--id".into(),
            id.to_string(),
            "--listen".into(),
            addr(port).to_string(),
            "--data-dir".into(),
            dir.join(format!("n{id}")).display().to_string(),
            "--exit-with-stdin".into(),
        ];
        if !peers.is_empty() {
            args.push("--peers".into());
            args.push(peers.join(","));
        }
        args.extend(TIMING.iter().chain(extra).map(|s| s.to_string()));
        let mut server = Server {
            id,
            port,
            args,
            log: dir.join(format!("n{id}.log")),
            child: None,
        };
        server.restart();
        server
    }

    /// Start (again) with the same arguments and data directory, appending to the same log.
    /// The previous process must have been killed or have exited by itself (`--crash-at`).
    pub fn restart(&mut self) {
        if let Some(mut previous) = self.child.take() {
            // Give one that is on its way out (a `--crash-at` stop) 10 s to go.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !matches!(previous.try_wait(), Ok(Some(_))) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "n{} is already running",
                    self.id
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open server log");
        let child = Command::new(BIN)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn idemsim serve");
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush or say goodbye. The error is the kill's (the process had
    /// already exited); the process is reaped either way.
    pub fn kill(&mut self) -> std::io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let killed = child.kill();
        child.wait().expect("reap server");
        killed
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// A base port with `n` consecutive free ports after it. `spread` is a per-binary
/// multiplier of the process id, so two test binaries run at once start far apart.
pub fn free_ports(n: u16, spread: u16) -> u16 {
    // Each call takes its own block of 32 ports, and the 8 ports either side of the ones it
    // returns must be free too: a client that cannot reach its node probes up to 8 ports
    // around it, and must not find another test's cluster there.
    const BLOCK: u16 = 32;
    const MARGIN: u16 = 8;
    static SALT: AtomicU16 = AtomicU16::new(0);
    assert!(n + 2 * MARGIN <= BLOCK, "{n} ports do not fit a block");
    for _ in 0..500 {
        let salt = SALT.fetch_add(BLOCK, Ordering::SeqCst);
        let pid = std::process::id() as u16;
        // Below Linux's ephemeral range (32768 and up), so no outgoing connection takes a
        // port between this probe and the node binding it (or re-binding it on restart).
        let block = 10_000 + pid.wrapping_mul(spread).wrapping_add(salt) % 22_000;
        let held: Vec<_> = (0..n + 2 * MARGIN)
            .map_while(|i| TcpListener::bind(("127.0.0.1", block + i)).ok())
            .collect();
        if held.len() == usize::from(n + 2 * MARGIN) {
            return block + MARGIN;
        }
    }
    panic!("no {n} consecutive free ports found in 500 tries");
}

/// `127.0.0.1:port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
