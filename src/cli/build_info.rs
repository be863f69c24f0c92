//! Build identity: which binary found a seed. Sweep lines carry it, `merge` refuses to mix
//! builds, `run --build ID` refuses to replay another build's seed, and `idemsim build-info`
//! prints it.
//!
//! The id is the first 16 hex digits of the SHA-256 of the running executable, read once per
//! process: two binaries with the same id are the same bytes, so a seed replays the same way.
//! The crate version and the git commit (from build.rs; `-dirty` when tracked files had
//! changed) say where that binary came from.

use std::io::Read;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::Format;
use crate::scenario::{self, Scenario};

/// Where the running binary came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    /// `HEAD` at build time (`-dirty` if tracked files differed), or `IDEMSIM_GIT_COMMIT`.
    pub commit: Option<&'static str>,
    /// The first 16 hex digits of the SHA-256 of the executable; `None` if it could not be
    /// read (then the id falls back to the version and commit).
    pub binary: Option<String>,
    /// The executable that was hashed.
    pub path: Option<String>,
}

impl BuildInfo {
    /// The running binary's identity, computed on first use.
    pub fn current() -> &'static BuildInfo {
        static CURRENT: OnceLock<BuildInfo> = OnceLock::new();
        CURRENT.get_or_init(|| {
            let exe = std::env::current_exe().ok();
            BuildInfo {
                version: env!("CARGO_PKG_VERSION"),
                commit: Some(env!("IDEMSIM_BUILD_COMMIT")).filter(|c| !c.is_empty()),
                binary: exe.as_deref().and_then(|p| hash_file(p).ok()),
                path: exe.map(|p| p.display().to_string()),
            }
        })
    }

    /// The short id replay commands name (`run --build ID`).
    pub fn id(&self) -> String {
        match &self.binary {
            Some(hash) => hash.clone(),
            None => format!(
                "{}-{}",
                self.version,
                self.commit.map_or("unknown", |c| &c[..c.len().min(12)])
            ),
        }
    }

    /// The `build` object of a sweep line: the id, the version and the commit.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id(),
            "version": self.version,
            "commit": self.commit,
        })
    }
}

/// SHA-256 of `text`, as 16 hex digits.
pub fn hash16(bytes: &[u8]) -> String {
    hex16(&Sha256::digest(bytes))
}

fn hex16(digest: &[u8]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex16(&hasher.finalize()))
}

/// A stable digest of the scenario as run: its scenario file written back with every field
/// spelled out (design overrides included), plus what a file cannot hold (mutations, wire
/// clients). Two shards that ran different contents under one name have different digests.
pub fn scenario_digest(s: &Scenario) -> String {
    let mut text = scenario::to_toml(s, &[]);
    let mutations: Vec<String> = s.mutations.iter().map(|m| m.to_string()).collect();
    text.push_str(&format!(
        "\n# mutations = {:?}\n# wire_clients = {}\n",
        mutations, s.wire_clients
    ));
    hash16(text.as_bytes())
}

/// `idemsim build-info`: the full identity, for people or as one JSON object.
pub fn print(format: Format) -> u8 {
    let b = BuildInfo::current();
    match format {
        Format::Text => {
            println!("idemsim   {}", b.version);
            println!(
                "commit    {}",
                b.commit.unwrap_or("unknown (built without git)")
            );
            println!(
                "binary    sha256 {} {}",
                b.binary
                    .as_deref()
                    .unwrap_or("unknown (executable unreadable)"),
                b.path.as_deref().unwrap_or("")
            );
            println!(
                "build id  {}  (what `run --build` and sweep lines name)",
                b.id()
            );
        }
        Format::Jsonl => {
            let mut json = b.json();
            json["binary_sha256_16"] = b.binary.clone().into();
            json["path"] = b.path.clone().into();
            println!("{json}");
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests are short hex, stable for equal scenarios, and see design overrides.
    #[test]
    fn scenario_digests_see_what_runs() {
        let a = crate::scenario::default_scenario();
        let mut b = a.clone();
        assert_eq!(scenario_digest(&a), scenario_digest(&b));
        assert_eq!(scenario_digest(&a).len(), 16);
        b.dedup = crate::kv::Dedup::Off;
        assert_ne!(scenario_digest(&a), scenario_digest(&b));
        let mut c = a.clone();
        c.mutations = c.mutations.with(crate::mutation::Mutation::ALL[0]);
        assert_ne!(scenario_digest(&a), scenario_digest(&c));
        assert_eq!(hash16(b"abc"), "ba7816bf8f01cfea");
    }
}
