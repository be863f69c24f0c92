//! Loopback addresses for the tests that run real `idemsim serve` processes (`tests/net.rs`,
//! `tests/net_crash.rs`): each test binary includes it with `mod loopback;`.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU16, Ordering};

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
