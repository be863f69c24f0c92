//! `--trace text`: one line per event for people, prefixed with simulated time and process.

use std::fmt::Write as _;

use super::{CrashCause, DedupAnswer, DedupSite, MessageStep, TraceEvent};
use crate::ids::SimTime;
use crate::kv::{OpResult, Outcome};
use crate::message::{Payload, Refusal};
use crate::scenario::CrashWhen;

/// A result as the text trace shows it: a JSON string, or `null`.
pub(super) fn quoted(result: &OpResult) -> String {
    match result {
        Some(s) => serde_json::to_string(&**s).unwrap_or_else(|_| format!("{s:?}")),
        None => "null".to_owned(),
    }
}

/// Format one event (without the time prefix or newline) into `line`.
pub fn format_event(line: &mut String, event: &TraceEvent<'_>) {
    let _ = write_event(line, event);
}

fn write_event(l: &mut String, event: &TraceEvent<'_>) -> std::fmt::Result {
    match *event {
        TraceEvent::Submit { client_no, request } => write!(
            l,
            "{client_no} submit seq={} {} (client {})",
            request.seq, request.op, request.client
        ),
        TraceEvent::Request {
            client_no,
            seq,
            node,
            attempt,
            ..
        } => write!(l, "{client_no} -> {node} request seq={seq} attempt={attempt}"),
        TraceEvent::Timeout {
            client_no,
            seq,
            attempt,
            retry_to,
            ..
        } => write!(
            l,
            "{client_no} timeout seq={seq} attempt={attempt}; retry -> {retry_to}"
        ),
        TraceEvent::Unreachable {
            client_no,
            seq,
            node,
            attempt,
            retry_to,
            ..
        } => write!(
            l,
            "{client_no} -/-> {node} unreachable seq={seq} attempt={attempt}; retry -> {retry_to}"
        ),
        TraceEvent::Redirect {
            client_no,
            seq,
            node,
            hint,
            ..
        } => match hint {
            Some(leader) => write!(
                l,
                "{client_no} <- {node} not leader seq={seq}; leader hint {leader}"
            ),
            None => write!(l, "{client_no} <- {node} not leader seq={seq}; no leader known"),
        },
        TraceEvent::Reply {
            client_no,
            seq,
            node,
            result,
            cached,
            ..
        } => {
            write!(l, "{client_no} <- {node} reply seq={seq} {}", quoted(result))?;
            if cached {
                l.write_str(" (cached)")?;
            }
            Ok(())
        }
        TraceEvent::Refused {
            client_no,
            seq,
            node,
            last_seq,
            reason,
            ..
        } => match reason {
            Refusal::Forgotten => write!(
                l,
                "{client_no} <- {node} refused seq={seq}: already acknowledged and forgotten \
                 (last_seq {last_seq})"
            ),
            Refusal::Conflict => write!(
                l,
                "{client_no} <- {node} refused seq={seq}: it already took effect as a different \
                 operation (last_seq {last_seq})"
            ),
            Refusal::SessionExpired => write!(
                l,
                "{client_no} <- {node} session-expired seq={seq}: outcome unknown (indefinite)"
            ),
        },
        TraceEvent::Expire {
            node,
            client,
            index,
            reason,
        } => write!(
            l,
            "{node} [session] client {client} expired at index={index} ({})",
            reason.name()
        ),
        TraceEvent::Read {
            node,
            client,
            seq,
            path,
            index,
            result,
        } => write!(
            l,
            "{node} read client {client} seq={seq} via {} at applied index={index} -> {}",
            path.name(),
            quoted(result)
        ),
        TraceEvent::Register {
            client_no,
            client,
            node,
            ..
        } => write!(l, "{client_no} <- {node} registered as client {client}"),
        TraceEvent::SessionExpired {
            client_no,
            client,
            node,
        } => write!(
            l,
            "{client_no} <- {node} session of client {client} expired; registering again"
        ),
        TraceEvent::Snapshot {
            node, index, term, ..
        } => write!(
            l,
            "{node} [snapshot] state up to index={index} (term {term}); log before it dropped"
        ),
        TraceEvent::Install {
            node,
            from,
            index,
            ..
        } => write!(
            l,
            "{node} [snapshot] installed {from}'s snapshot up to index={index}"
        ),
        TraceEvent::Clock {
            fault,
            node,
            offset_us,
            drift_ppm,
        } => {
            if offset_us == 0 && drift_ppm == 0 {
                write!(l, "!! clock of {node} reads true time again (faults[{fault}])")
            } else {
                write!(
                    l,
                    "!! clock of {node} off by {offset_us} us, drift {drift_ppm} ppm (faults[{fault}])"
                )
            }
        }
        TraceEvent::GaveUp {
            client_no,
            seq,
            attempts,
            ..
        } => write!(l, "{client_no} gives up seq={seq} after {attempts} attempts"),
        TraceEvent::Append {
            node,
            index,
            term,
            request,
            attempt,
        } => {
            write!(
                l,
                "{node} append index={index} term={term} client={} seq={}",
                request.client, request.seq
            )?;
            if attempt > 1 {
                l.write_str(" (retry)")?;
            }
            Ok(())
        }
        TraceEvent::Apply {
            node,
            index,
            term,
            payload,
            outcome,
            result,
            ..
        } => match payload {
            Payload::Noop => write!(l, "{node} apply index={index} noop (term {term})"),
            Payload::Register { .. } => write!(
                l,
                "{node} apply index={index} register: opens session client {index}"
            ),
            Payload::Client(request) => {
                write!(l, "{node} apply index={index} {} -> ", request.op)?;
                match outcome {
                    Outcome::Applied => write!(l, "{}", quoted(result))?,
                    Outcome::Duplicate { last_seq, .. } => {
                        write!(l, "duplicate (last_seq {last_seq})")?
                    }
                    Outcome::Conflict { last_seq } => write!(
                        l,
                        "conflict: seq took effect as a different operation (last_seq {last_seq})"
                    )?,
                    Outcome::SessionExpired => {
                        l.write_str("session-expired: the session is not live")?
                    }
                }
                write!(l, " (client {} seq {})", request.client, request.seq)
            }
        },
        TraceEvent::Dedup {
            node,
            client,
            seq,
            last_seq,
            site,
            answer,
            ..
        } => match answer {
            DedupAnswer::Cached => {
                // The seed lesson's line, word for word.
                write!(
                    l,
                    "{node} [dedup] client {client} seq {seq} is duplicate, returning cached result"
                )?;
                if site == DedupSite::Receive {
                    l.write_str(" (on receive, not appended)")?;
                }
                Ok(())
            }
            DedupAnswer::Conflict => write!(
                l,
                "{node} [dedup] client {client} seq {seq} already took effect as a different \
                 operation (last_seq {last_seq}); refused"
            ),
            DedupAnswer::Forgotten => write!(
                l,
                "{node} [dedup] client {client} seq {seq} is duplicate, already acknowledged \
                 (last_seq {last_seq}); nothing to return"
            ),
        },
        TraceEvent::Leader { node, term, .. } => write!(l, "{node} became leader term={term}"),
        TraceEvent::Crash { node, cause } => {
            write!(l, "!! crash {node} (")?;
            write_cause(l, &cause)?;
            l.write_str(")")
        }
        TraceEvent::Restart { node } => write!(l, "!! restart {node}"),
        TraceEvent::ClientCrash {
            client_no,
            fault,
            abandoned,
            ..
        } => {
            write!(l, "!! crash {client_no}")?;
            if let Some(seq) = abandoned {
                write!(l, " (abandons seq={seq})")?;
            }
            write!(l, " (faults[{fault}])")
        }
        TraceEvent::ClientRestart {
            client_no,
            client,
            incarnation,
        } => write!(
            l,
            "!! restart {client_no} as incarnation {incarnation} (client {client})"
        ),
        TraceEvent::Partition {
            fault,
            groups,
            one_way,
        } => {
            l.write_str(if one_way { "!! one-way partition" } else { "!! partition" })?;
            for (i, group) in groups.iter().enumerate() {
                let sep = match (i, one_way) {
                    (0, _) => " {",
                    (_, true) => " -/-> {",
                    (_, false) => " | {",
                };
                l.write_str(sep)?;
                for (j, n) in group.iter().enumerate() {
                    if j > 0 {
                        l.write_str(" ")?;
                    }
                    write!(l, "{n}")?;
                }
                l.write_str("}")?;
            }
            write!(l, " (faults[{fault}])")
        }
        TraceEvent::Heal { fault } => write!(l, "!! heal partition (faults[{fault}])"),
        TraceEvent::Replay {
            fault,
            client,
            seq,
            to,
        } => write!(
            l,
            "!! replay -> {to}: old request client {client} seq {seq} (faults[{fault}])"
        ),
        TraceEvent::Network {
            fault,
            open,
            drop,
            duplicate,
            delay_us,
        } => write!(
            l,
            "!! network {} drop={} duplicate={} delay=[{}, {}]ms (faults[{fault}])",
            if open { "changed:" } else { "restored:" },
            drop.0,
            duplicate.0,
            delay_us.0 as f64 / 1000.0,
            delay_us.1 as f64 / 1000.0
        ),
        TraceEvent::Liveness => l.write_str(
            "== fault phase over: partitions healed, crashed nodes restarted, no loss or duplication",
        ),
        TraceEvent::Swarm { profile } => write!(l, "== swarm profile: {profile}"),
        TraceEvent::FaultSkipped { fault } => {
            write!(l, "!! faults[{fault}] never triggered during the fault phase")
        }
        TraceEvent::Message {
            step,
            from,
            to,
            kind,
            bytes,
        } => match step {
            MessageStep::Send => write!(l, "{from} -> {to} send {kind} ({bytes} bytes)"),
            MessageStep::Deliver => write!(l, "{to} <- {from} deliver {kind} ({bytes} bytes)"),
            MessageStep::Lost => write!(l, "!! drop {from} -> {to} {kind} ({bytes} bytes): lost"),
            MessageStep::Down => write!(
                l,
                "!! drop {from} -> {to} {kind} ({bytes} bytes): {to} is down"
            ),
            MessageStep::Dup => write!(
                l,
                "!! dup {from} -> {to} {kind} ({bytes} bytes): a second copy is on its way"
            ),
            MessageStep::Cut => write!(
                l,
                "!! cut {from} -> {to} {kind} ({bytes} bytes): partitioned"
            ),
        },
        TraceEvent::Verdict {
            ok, violations, ..
        } => {
            if ok {
                l.write_str("verdict PASS")
            } else {
                write!(l, "verdict FAIL ({} violations)", violations.len())?;
                for v in violations {
                    write!(l, "\n    {v}")?;
                }
                Ok(())
            }
        }
    }
}

fn write_cause(l: &mut String, cause: &CrashCause) -> std::fmt::Result {
    let role = if cause.was_leader {
        "leader"
    } else {
        "follower"
    };
    write!(l, "{role} term {}", cause.term)?;
    match (cause.when, cause.index) {
        (CrashWhen::BeforeReplicate, Some(index)) => {
            write!(
                l,
                "; before-replicate: index {index} appended, sent to no one"
            )
        }
        (CrashWhen::MidReplication, Some(index)) => {
            write!(l, "; mid-replication: index {index}")?;
            if let Some(peer) = cause.sent_to {
                write!(l, " sent to {peer}")?;
            }
            l.write_str(", not acknowledged")
        }
        (CrashWhen::AfterCommit, Some(index)) => {
            write!(l, "; after-commit: index {index} committed, not answered")
        }
        (CrashWhen::AfterReply, Some(index)) => {
            write!(l, "; after-reply: index {index} just answered")
        }
        (CrashWhen::AfterVote, _) => match cause.sent_to {
            Some(candidate) => write!(l, "; after-vote: just voted for {candidate}"),
            None => l.write_str("; after-vote"),
        },
        (CrashWhen::MidSnapshot, Some(index)) => {
            write!(
                l,
                "; mid-snapshot: snapshot up to index {index} written, log not yet truncated"
            )
        }
        (CrashWhen::MidInstall, Some(index)) => {
            write!(l, "; mid-install: part of the snapshot up to index {index}")?;
            if let Some(leader) = cause.sent_to {
                write!(l, " from {leader}")?;
            }
            l.write_str(" held, waiting for the next chunk")
        }
        (CrashWhen::AfterAck, Some(index)) => {
            write!(l, "; after-ack: just acknowledged up to index {index}")?;
            if let Some(leader) = cause.sent_to {
                write!(l, " to {leader}")?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// One text-trace line (without newline): the time, then the event.
pub fn format_line(line: &mut String, t: SimTime, event: &TraceEvent<'_>) {
    let _ = write!(line, "t={t} ");
    format_event(line, event);
}
