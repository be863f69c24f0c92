//! Liveness (docs/DESIGN.md §8): after the fault phase heals, every client operation completes
//! within the liveness budget.

use crate::ids::{ClientId, ClientNo, Seq, SimTime};
use crate::verdict::{Rule, Violations};

/// A client's unfinished work at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOp {
    pub client_no: ClientNo,
    pub client: ClientId,
    /// The operation waiting for an answer: seq, its text, when it was submitted.
    pub waiting: Option<(Seq, String, SimTime)>,
    /// Operations never submitted.
    pub unsubmitted: u64,
}

pub fn check(end: SimTime, pending: &[PendingOp], found: &mut Violations) {
    for p in pending {
        let mut message = format!("{} (client {})", p.client_no, p.client);
        match &p.waiting {
            Some((seq, op, since)) => message.push_str(&format!(
                " seq {seq} ({op}) submitted at t={since} still has no answer at t={end}"
            )),
            None => message.push_str(&format!(" did not finish by t={end}")),
        }
        if p.unsubmitted > 0 {
            message.push_str(&format!("; {} more ops never submitted", p.unsubmitted));
        }
        let about = p.waiting.as_ref().map(|(seq, _, _)| (p.client, *seq));
        found.push_about(Rule::Liveness, about, message);
    }
}
