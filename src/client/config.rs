//! A client's settings, and what a crashed client does about its identity.

use serde::Deserialize;

use crate::ids::{ClientId, ClientNo, NodeId, Seq};
use crate::mutation::Mutations;

/// A client's fixed settings.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    /// The process (`c1`, `c2`…): what traces call it.
    pub no: ClientNo,
    /// Number of nodes; the client may send to `n1..=n{cluster_size}`.
    pub cluster_size: u8,
    /// Where a client that knows no leader sends first.
    pub first_node: NodeId,
    /// Re-send after this long without an answer.
    pub timeout_us: u64,
    /// Pause before each operation, uniform in `[min, max]` microseconds.
    pub think_us: (u64, u64),
    /// Pause after a "not leader" answer that names no leader (an election is on), and
    /// before a new round when every node has failed recently.
    pub backoff_us: u64,
    /// A node that failed to answer (timed out, or could not be reached) is passed over for
    /// this long when choosing where to send next, unless every node has failed; 0: never.
    pub suspect_us: u64,
    /// Most sends of one operation; past it the client gives the operation up. `None`: never
    /// (in the simulator the liveness rule judges a client that gets no answer).
    pub max_attempts: Option<u32>,
    /// The client id to use; `None`: draw one from the client's random stream.
    pub id: Option<ClientId>,
    /// The seq of the first operation.
    pub first_seq: Seq,
    pub on_restart: OnRestart,
    /// Most requests in flight at once (pipelining), at least 1.
    pub window: u32,
    /// Open a session through the log before the first operation, and use the id it gives.
    pub register: bool,
    /// Deliberate bugs; only [`crate::mutation::Mutation::RebuildOnRetry`] lives in a client.
    pub mutations: Mutations,
}

impl ClientConfig {
    /// A simulated client: clients spread over the nodes to start, back off a quarter of
    /// their timeout (an election usually takes about one election timeout), never suspect a
    /// node or give up, draw their id, and number operations from 1.
    pub fn simulated(
        no: ClientNo,
        cluster_size: u8,
        timeout_us: u64,
        think_us: (u64, u64),
        on_restart: OnRestart,
    ) -> ClientConfig {
        let first = (no.0 - 1) % u32::from(cluster_size);
        ClientConfig {
            no,
            cluster_size,
            first_node: NodeId::from_index(first as usize),
            timeout_us,
            think_us,
            backoff_us: (timeout_us / 4).max(1),
            suspect_us: 0,
            max_attempts: None,
            id: None,
            first_seq: Seq(1),
            on_restart,
            window: 1,
            register: false,
            mutations: Mutations::NONE,
        }
    }
}

/// What a client process does about its identity when it restarts after a crash
/// (`[clients] on_restart`, `--on-restart`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnRestart {
    /// Correct: draw a new `client_id` and start again at seq 1, a new session.
    #[default]
    FreshId,
    /// Flawed on purpose: keep the old `client_id` and restart seq at 1, so the servers take
    /// the new operations for retries of the old ones: `last-seq` acknowledges them with a
    /// stale cached result and never applies them; `sessions` finds them below the lowest
    /// unacknowledged seq and refuses them as forgotten. Exactly-once must catch both.
    ReuseId,
    /// Correct, given servers that compare operations: keep the `client_id` and the seq
    /// counter (as a client that keeps both on disk), but not the operation in flight, which
    /// is lost with the process. The next operation takes the abandoned one's seq, so the
    /// servers see one `(client_id, seq)` carrying two different operations: if the abandoned
    /// one took effect, the new one must be refused as a conflict, not answered with the
    /// other's cached result (`trust-seq` does that, and exactly-once must catch it).
    Resume,
}

impl OnRestart {
    pub fn name(self) -> &'static str {
        match self {
            OnRestart::FreshId => "fresh-id",
            OnRestart::ReuseId => "reuse-id",
            OnRestart::Resume => "resume",
        }
    }
}
