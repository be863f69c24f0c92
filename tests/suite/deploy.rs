//! The deploy files do what the README says: the Kubernetes Indexed Job's own command, run
//! once per completion index, and the CI matrix's IDEMSIM_SHARD split a campaign that
//! `idemsim merge` puts back together exactly as one unsharded sweep reports it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

use crate::common::{code, stderr, stdout};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The test's campaign: a flawed design, so there are failing seeds and a catch row.
const SEEDS: &str = "0..24";
const DESIGN: &str = "--dedup off";

fn yaml(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `PATH` with the built idemsim first, as it is in the image.
fn path_with_idemsim() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_idemsim")).parent().unwrap();
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("{}:{rest}", bin.display())
}

fn idemsim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idemsim"));
    cmd.args(args).current_dir(ROOT);
    for var in ["JOB_COMPLETION_INDEX", "JOB_COMPLETIONS", "IDEMSIM_SHARD"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn shipped() -> Vec<String> {
    crate::common::shipped_scenarios()
        .iter()
        .map(|p| p.strip_prefix(ROOT).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Merge `files`; returns (text report, JSON report, exit code).
fn merge(files: &[PathBuf]) -> (String, String, i32) {
    let names: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let text = idemsim(&[&["merge"], names.as_slice()].concat(), &[]);
    let json = idemsim(
        &[&["merge", "--format", "jsonl"], names.as_slice()].concat(),
        &[],
    );
    assert_eq!(code(&text), code(&json), "{}", stderr(&text));
    (stdout(&text), stdout(&json), code(&text))
}

/// Every line of `files`, sorted, without its `campaign` (which names the shard, so a
/// shard's line and the unsharded sweep's line of one run differ only there).
fn sorted_lines(files: &[PathBuf]) -> Vec<String> {
    let mut lines: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|line| {
                    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let campaign = v.as_object_mut().unwrap().remove("campaign");
                    assert!(campaign.is_some(), "every line names its campaign: {line}");
                    v.to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_indexed_job_and_the_ci_matrix_shard_a_campaign_that_merges_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let docs = yaml("deploy/k8s/sweep-job.yaml");
    let job = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Job"))
        .expect("sweep-job.yaml holds a Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().expect("completions");
    assert_eq!(completions, 4, "the README and this test describe 4 shards");
    assert_eq!(spec["parallelism"].as_i64(), Some(completions));
    let container = &spec["template"]["spec"]["containers"][0];
    let env: BTreeMap<String, String> = container["env"]
        .as_vec()
        .expect("env")
        .iter()
        .map(|e| {
            let value = match &e["value"] {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(n) => n.to_string(),
                other => panic!("env value {other:?}"),
            };
            (e["name"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    assert_eq!(
        env.get("JOB_COMPLETIONS"),
        Some(&completions.to_string()),
        "--shard auto needs JOB_COMPLETIONS to match completions"
    );
    for knob in ["SEEDS", "DESIGN", "RESULTS"] {
        assert!(env.contains_key(knob), "the Job defines {knob}");
    }
    let argv: Vec<String> = [&container["command"], &container["args"]]
        .into_iter()
        .flat_map(|v| v.as_vec().cloned().unwrap_or_default())
        .map(|a| a.as_str().expect("string arguments").to_owned())
        .collect();
    assert!(argv.iter().any(|a| a.contains("--shard auto")), "{argv:?}");

    // The Job's command, once per index, with this test's seeds, design and results dir.
    let k8s_dir = dir.path().join("k8s");
    std::fs::create_dir(&k8s_dir).unwrap();
    let path = path_with_idemsim();
    let mut k8s = Vec::new();
    for index in 0..completions {
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(ROOT)
            .env_remove("IDEMSIM_SHARD")
            .envs(&env)
            .env("SEEDS", SEEDS)
            .env("DESIGN", DESIGN)
            .env("RESULTS", &k8s_dir)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "index {index}: {}", stderr(&out));
        let file = k8s_dir.join(format!("shard-{index}.jsonl"));
        assert!(
            stderr(&out).contains(&format!(
                "(shard {index}/{completions} from JOB_COMPLETION_INDEX/JOB_COMPLETIONS)"
            )),
            "{}",
            stderr(&out)
        );
        k8s.push(file);
    }

    // The CI matrix: IDEMSIM_SHARD=K/N with the matrix's shards.
    let workflow = &yaml("deploy/ci/github-matrix.yml")[0];
    let sweep_job = &workflow["jobs"]["sweep"];
    let shards = sweep_job["strategy"]["matrix"]["shard"].as_vec().unwrap();
    assert_eq!(shards.len() as i64, completions);
    assert_eq!(
        sweep_job["env"]["IDEMSIM_SHARD"].as_str(),
        Some(format!("${{{{ matrix.shard }}}}/{completions}").as_str())
    );
    let runs: Vec<&str> = sweep_job["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(
        runs.iter()
            .any(|r| r.contains("sweep") && r.contains("--shard auto"))
    );
    let merge_runs = workflow["jobs"]["merge"]["steps"].as_vec().unwrap();
    assert!(merge_runs.iter().any(|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("idemsim merge"))
    }));
    let files = shipped();
    let sweep_args = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["sweep".to_owned()];
        args.extend(files.iter().cloned());
        args.extend(["--seeds", SEEDS].map(str::to_owned));
        args.extend(DESIGN.split(' ').map(str::to_owned));
        args.extend(["--format", "jsonl"].map(str::to_owned));
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let mut ci = Vec::new();
    for shard in shards {
        let k = shard.as_i64().unwrap();
        let args = sweep_args(&["--shard", "auto"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = idemsim(&args, &[("IDEMSIM_SHARD", &format!("{k}/{completions}"))]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let file = dir.path().join(format!("ci-{k}.jsonl"));
        std::fs::write(&file, &out.stdout).unwrap();
        ci.push(file);
    }

    // One unsharded sweep of the same seeds.
    let args = sweep_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = idemsim(&args, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let whole = vec![dir.path().join("whole.jsonl")];
    std::fs::write(&whole[0], &out.stdout).unwrap();

    assert_eq!(sorted_lines(&k8s), sorted_lines(&whole), "the Job's shards");
    assert_eq!(
        sorted_lines(&ci),
        sorted_lines(&whole),
        "the matrix's shards"
    );
    let (text, json, exit) = merge(&whole);
    assert_eq!(exit, 1, "dedup off breaks exactly-once: merge exits 1");
    assert!(text.starts_with("FAIL  "), "{text}");
    assert!(text.contains("--build "), "replays name the build: {text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("off ") && l.contains("caught")),
        "a catch row for dedup off: {text}"
    );
    assert!(
        text.contains(&format!("runs      {} · ", files.len() * 24)),
        "{text}"
    );
    assert!(!text.contains("gaps "), "{text}");
    for shards in [&k8s, &ci] {
        let (t, j, e) = merge(shards);
        assert_eq!(t, text);
        assert_eq!(j, json);
        assert_eq!(e, exit);
    }

    // A shard left out: the report names it and counts the runs it held.
    let without_one: Vec<PathBuf> = k8s
        .iter()
        .enumerate()
        .filter(|&(index, _)| index != 1)
        .map(|(_, file)| file.clone())
        .collect();
    let (partial, _, _) = merge(&without_one);
    let missing = files.len() * 24 / completions as usize;
    assert!(
        partial.contains(&format!(
            "gaps      {missing} runs missing: shard 1/{completions} not given"
        )),
        "{partial}"
    );
}
