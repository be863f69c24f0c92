//! Build identity: the git commit the binary was built from, when known, for sweep lines and
//! `idemsim build-info`.
//!
//! `IDEMSIM_GIT_COMMIT` (set at build time, e.g. a Docker build argument where there is no
//! `.git`) wins; otherwise `git rev-parse HEAD`, with `-dirty` when tracked files differ from
//! it, only when git and a `.git` exist. Without either the commit is unknown: the build never
//! fails for want of git.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=IDEMSIM_GIT_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let commit = std::env::var("IDEMSIM_GIT_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .or_else(git_commit);
    println!(
        "cargo:rustc-env=IDEMSIM_BUILD_COMMIT={}",
        commit.unwrap_or_default()
    );
}

/// `HEAD`'s commit (with `-dirty` when tracked files changed), and the files whose change
/// should run this script again: HEAD, the branch it points to, the index, and the sources
/// (an edit makes the tree dirty).
fn git_commit() -> Option<String> {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // `.git` is a directory in a clone and a file in a worktree.
    if !root.join(".git").exists() {
        return None;
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let git_dir = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from);
    let common =
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]).map(PathBuf::from);
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    // `sim-scenarios/`: the default scenario is compiled in, so an edit there makes the
    // tree dirty as much as one in `src/`.
    let mut watched: Vec<PathBuf> = ["src", "sim-scenarios", "Cargo.toml", "Cargo.lock"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    if let Some(dir) = &git_dir {
        watched.push(dir.join("HEAD"));
        watched.push(dir.join("index"));
    }
    if let Some(dir) = common.as_ref().or(git_dir.as_ref()) {
        watched.push(dir.join("packed-refs"));
        if let Some(branch) = &branch {
            watched.push(dir.join(branch));
        }
    }
    for path in watched.iter().filter(|p| Path::exists(p)) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let dirty = git(&[
        // Without the optional lock, `status` does not rewrite the index it reads, which
        // would make cargo run this script again on every build.
        "--no-optional-locks",
        "status",
        "--porcelain",
        "--untracked-files=no",
    ])
    .is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}
