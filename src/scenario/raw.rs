//! The scenario file exactly as written (DESIGN §4): every field optional except `name`,
//! unknown fields rejected. Defaults and range checks live in `validate`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::client::OnRestart;
use crate::kv::Dedup;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration_ms: Option<u64>,
    pub liveness_ms: Option<u64>,
    pub cluster: Option<RawCluster>,
    pub network: Option<RawNetwork>,
    pub server: Option<RawServer>,
    pub clients: Option<RawClients>,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    pub swarm: Option<RawSwarm>,
}

/// `[swarm]`: the fault families a seed may draw; each key optional, default on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwarm {
    pub crashes: Option<bool>,
    pub partitions: Option<bool>,
    pub network: Option<bool>,
    pub client_crashes: Option<bool>,
    pub replays: Option<bool>,
    pub timeouts: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub nodes: Option<u64>,
    pub election_timeout_ms: Option<Vec<u64>>,
    pub heartbeat_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub delay_ms: Option<Vec<u64>>,
    pub drop: Option<f64>,
    pub duplicate: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub dedup: Option<Dedup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClients {
    pub count: Option<u64>,
    pub ops: Option<u64>,
    pub keys: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub think_ms: Option<Vec<u64>>,
    pub mix: Option<RawMix>,
    pub on_restart: Option<OnRestart>,
}

/// Op weights; a weight left out of a written `mix` is 0.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMix {
    #[serde(default)]
    pub put: u32,
    #[serde(default)]
    pub append: u32,
    #[serde(default)]
    pub incr: u32,
    #[serde(default)]
    pub delete: u32,
    #[serde(default)]
    pub get: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawFaultKind {
    Crash,
    Partition,
    Network,
    Replay,
    ClientCrash,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawWhen {
    Now,
    BeforeReplicate,
    MidReplication,
    AfterCommit,
    AfterReply,
}

/// One `[[faults]]` table: the union of every kind's fields; `validate` checks that only the
/// fields of its `kind` are present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: RawFaultKind,
    pub at_ms: Option<u64>,
    // crash
    pub node: Option<RawNode>,
    pub when: Option<RawWhen>,
    pub restart_after_ms: Option<u64>,
    // partition
    pub groups: Option<Vec<Vec<u64>>>,
    pub isolate: Option<RawNode>,
    pub one_way: Option<bool>,
    pub heal_after_ms: Option<u64>,
    // network
    pub for_ms: Option<u64>,
    pub drop: Option<f64>,
    pub duplicate: Option<f64>,
    pub delay_ms: Option<Vec<u64>>,
    // replay
    pub count: Option<u64>,
    // client-crash (and restart_after_ms)
    pub client: Option<RawClient>,
}

/// `"leader"`, `"follower"`, `"most-uncommitted"` or a node number, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawNode {
    Leader,
    Follower,
    MostUncommitted,
    Number(i64),
}

/// `"any"` or a client number, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawClient {
    Any,
    Number(i64),
}

impl<'de> Deserialize<'de> for RawClient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawClient, D::Error> {
        struct ClientVisitor;
        impl Visitor<'_> for ClientVisitor {
            type Value = RawClient;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""any" or a client number"#)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawClient, E> {
                match v {
                    "any" => Ok(RawClient::Any),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawClient, E> {
                Ok(RawClient::Number(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawClient, E> {
                Ok(RawClient::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_any(ClientVisitor)
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawNode, D::Error> {
        struct NodeVisitor;
        impl Visitor<'_> for NodeVisitor {
            type Value = RawNode;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""leader", "follower", "most-uncommitted" or a node number"#)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
                match v {
                    "leader" => Ok(RawNode::Leader),
                    "follower" => Ok(RawNode::Follower),
                    "most-uncommitted" => Ok(RawNode::MostUncommitted),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
                Ok(RawNode::Number(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
                Ok(RawNode::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}
