//! The write-ahead log on a real file system: what `persist` writes, `open` gives back;
//! one fsync per persist; torn tails cut, damage elsewhere refused with nothing changed;
//! compaction keeps disk use bounded; format-1 directories migrate; a directory is refused
//! to another node or other session rules.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::ids::{ClientId, NodeId, Seq, Term};
use crate::kv::{Dedup, Op, Request, SessionLimits, StateMachine};
use crate::message::{Entry, Payload};

/// A directory under the system's temp dir, unique to this test process and call, removed
/// when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("idemsim-wal-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn owner() -> Meta {
    Meta {
        node: NodeId(2),
        cluster_size: 3,
        rules: Rules::new(Dedup::Sessions, SessionLimits::default()),
    }
}

/// An entry of `term`: a client write carrying `n` (so entries differ), or a no-op.
fn entry(term: u64, n: u64) -> Entry {
    let payload = if n % 5 == 0 {
        Payload::Noop
    } else {
        Payload::Client(Arc::new(Request {
            client: ClientId(n % 3 + 1),
            seq: Seq(n),
            lowest_unacked: Seq(n),
            op: Op::Put {
                key: Arc::from(format!("k{n}").as_str()),
                value: Arc::from("v \"quoted\" \u{e9}"),
            },
            origin: Default::default(),
        }))
    };
    Entry {
        term: Term(term),
        payload,
        stamp_us: n * 10,
    }
}

/// A durable state whose log holds `count` entries of `term`.
fn durable_with(term: u64, count: u64) -> Durable {
    let mut durable = Durable {
        current_term: Term(term),
        voted_for: Some(NodeId(1)),
        ..Durable::default()
    };
    for n in 1..=count {
        durable.log.push(entry(term, n));
    }
    durable
}

/// The log as comparable text: its base and every entry it holds.
fn log_text(log: &Log) -> String {
    let entries = log.slice(log.first_index(), log.last_index());
    format!(
        "{:?} {}",
        log.base(),
        serde_json::to_string(entries).expect("entries serialize")
    )
}

fn assert_same(a: &Durable, b: &Durable, what: &str) {
    assert_eq!(a.current_term, b.current_term, "{what}: term");
    assert_eq!(a.voted_for, b.voted_for, "{what}: vote");
    assert_eq!(log_text(&a.log), log_text(&b.log), "{what}: log");
    assert_eq!(a.snapshot_index(), b.snapshot_index(), "{what}: snapshot");
}

fn reopen(dir: &Path) -> Durable {
    let (_, durable) = Storage::open(dir, owner()).expect("reopen");
    durable.expect("state after persist")
}

/// Every file of a directory and its bytes.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("dir entry");
            let name = e.file_name().into_string().expect("utf-8 name");
            (name, fs::read(e.path()).expect("read file"))
        })
        .collect()
}

fn segment_names(dir: &Path) -> Vec<String> {
    contents(dir)
        .into_keys()
        .filter(|n| segment::parse_name(n).is_some())
        .collect()
}

/// The only segment file of `dir`.
fn only_segment(dir: &Path) -> PathBuf {
    let names = segment_names(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    dir.join(&names[0])
}

/// Byte offsets at which each record of a segment file starts.
fn record_offsets(path: &Path) -> Vec<usize> {
    let bytes = fs::read(path).expect("segment");
    let mut offsets = Vec::new();
    let mut at = 0;
    while let Ok(Some((_, end))) = record::read(&bytes, at) {
        offsets.push(at);
        at = end;
    }
    assert_eq!(
        at,
        bytes.len(),
        "every record of {} is sound",
        path.display()
    );
    offsets
}

/// What `persist` wrote, `open` gives back, through appends, a term change, a vote, and a
/// truncation followed by entries of a new term; a fresh directory has no state.
#[test]
fn persisted_state_reopens() {
    let dir = TempDir::new("round-trip");
    let (mut storage, loaded) = Storage::open(dir.path(), owner()).expect("open fresh");
    assert!(loaded.is_none(), "a fresh directory has no state");
    let mut durable = durable_with(3, 12);
    storage.persist(&durable).expect("persist");
    assert_same(&reopen(dir.path()), &durable, "after appends");

    // A follower's conflicting suffix is cut and replaced by the leader's entries.
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("reopen to write");
    durable.current_term = Term(5);
    durable.voted_for = None;
    durable.log.truncate_from(LogIndex(9));
    for n in 9..=15 {
        durable.log.push(entry(5, n));
    }
    storage.persist(&durable).expect("persist the conflict");
    durable.voted_for = Some(NodeId(3));
    storage.persist(&durable).expect("persist a vote");
    let back = reopen(dir.path());
    assert_same(&back, &durable, "after truncate and vote");
    assert_eq!(back.log.term_at(LogIndex(8)), Some(Term(3)));
    assert_eq!(back.log.term_at(LogIndex(9)), Some(Term(5)));

    let names: Vec<String> = contents(dir.path()).into_keys().collect();
    assert_eq!(names, ["log-1.wal", "meta.json", "vote.json"], "the layout");
}

/// Group commit: one persist is one fsync of the log however many entries it appends, a
/// persist with nothing new is none, and a persist writes only the new records (the file
/// grows by them, it is not rewritten).
#[test]
fn one_fsync_covers_a_whole_persist() {
    let dir = TempDir::new("group-commit");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    let mut durable = Durable::default();
    for n in 1..=200 {
        durable.log.push(entry(0, n));
    }
    let before = storage.fsyncs();
    storage.persist(&durable).expect("persist 200 entries");
    assert_eq!(storage.fsyncs() - before, 1, "200 appends, one fsync");

    let before = storage.fsyncs();
    storage.persist(&durable).expect("persist nothing new");
    assert_eq!(storage.fsyncs() - before, 0, "nothing to write, no fsync");

    let segment = only_segment(dir.path());
    let size = fs::metadata(&segment).expect("segment").len();
    durable.log.push(entry(0, 201));
    let before = storage.fsyncs();
    storage.persist(&durable).expect("persist one more");
    assert_eq!(storage.fsyncs() - before, 1, "one append, one fsync");
    let grown = fs::metadata(&segment).expect("segment").len() - size;
    assert!(
        grown < size / 50,
        "one entry added {grown} bytes to a {size}-byte log: the log was rewritten"
    );

    // A new term is the vote file: the file and the directory (rename), no log fsync.
    durable.current_term = Term(1);
    let before = storage.fsyncs();
    storage.persist(&durable).expect("persist a term");
    assert_eq!(storage.fsyncs() - before, 2, "vote file and its directory");
    assert_same(&reopen(dir.path()), &durable, "after group commits");
}

/// Cut a record in two, as a crash mid-write leaves it.
enum Tear {
    /// The file ends a few bytes into the record's header.
    Header,
    /// The file ends inside the record's payload.
    Payload,
    /// The whole record is there but one byte of it is wrong (a sector not rewritten).
    Checksum,
    /// The record's length is zeros and the rest of the file too (an extended file whose
    /// data never reached the disk).
    Zeros,
}

/// A torn last record of the last segment is cut off the file (and the file cut on disk),
/// and every record before it is kept.
#[test]
fn a_torn_tail_is_cut_and_everything_before_it_kept() {
    for (case, tear) in [Tear::Header, Tear::Payload, Tear::Checksum, Tear::Zeros]
        .into_iter()
        .enumerate()
    {
        let dir = TempDir::new(&format!("torn-{case}"));
        let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
        let mut durable = durable_with(2, 9);
        storage.persist(&durable).expect("persist 9");
        durable.log.push(entry(2, 10));
        storage.persist(&durable).expect("persist the 10th");
        drop(storage);

        let path = only_segment(dir.path());
        let last = *record_offsets(&path).last().expect("records");
        let mut bytes = fs::read(&path).expect("segment");
        match tear {
            Tear::Header => bytes.truncate(last + 5),
            Tear::Payload => bytes.truncate(bytes.len() - 7),
            Tear::Checksum => {
                let at = bytes.len() - 3;
                bytes[at] ^= 0x40;
            }
            Tear::Zeros => {
                bytes.truncate(last);
                bytes.extend_from_slice(&[0; 4096]);
            }
        }
        fs::write(&path, &bytes).expect("tear");

        let back = reopen(dir.path());
        durable.log.truncate_from(LogIndex(10));
        assert_same(&back, &durable, &format!("case {case}"));
        let size = fs::metadata(&path).expect("segment").len();
        assert_eq!(
            size, last as u64,
            "case {case}: the file is cut at the torn record"
        );

        // The node goes on appending after the cut, and it all reads back.
        let (mut storage, _) = Storage::open(dir.path(), owner()).expect("reopen to write");
        durable.log.push(entry(2, 11));
        storage.persist(&durable).expect("persist after the cut");
        assert_same(
            &reopen(dir.path()),
            &durable,
            &format!("case {case}: after"),
        );
    }
}

/// Damage that a crash cannot leave (a bad record with sound records after it, or a bad
/// last record of a segment that is not the last) is refused with the file and the byte
/// offset, and not one byte in the directory changes.
#[test]
fn damage_in_the_middle_is_refused_and_nothing_changes() {
    // One segment, a record in the middle.
    let dir = TempDir::new("corrupt-middle");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    let mut durable = durable_with(1, 0);
    for n in 1..=6 {
        durable.log.push(entry(1, n));
        storage.persist(&durable).expect("persist");
    }
    drop(storage);
    let path = only_segment(dir.path());
    let third = record_offsets(&path)[2];
    let mut bytes = fs::read(&path).expect("segment");
    bytes[third + 12] ^= 0x01;
    fs::write(&path, &bytes).expect("damage");
    // A temporary file a crash could have left: even it is left in place on refusal.
    fs::write(dir.path().join("vote.json.tmp"), b"{").expect("temp file");
    let before = contents(dir.path());
    let err = Storage::open(dir.path(), owner()).expect_err("damage in the middle");
    let message = err.to_string();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{message}");
    assert!(message.contains("log-1.wal"), "names the file: {message}");
    assert!(
        message.contains(&format!("byte offset {third}:")),
        "names the offset {third}: {message}"
    );
    assert!(message.contains("CRC mismatch"), "{message}");
    assert_eq!(contents(dir.path()), before, "nothing on disk changed");

    // Two segments: the older one's last record is bad, though nothing follows it there.
    let dir = TempDir::new("corrupt-sealed");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    let mut durable = durable_with(1, 8);
    storage.persist(&durable).expect("persist 8");
    take_snapshot(&mut durable, LogIndex(4));
    storage
        .persist(&durable)
        .expect("snapshot: a new segment starts");
    durable.log.push(entry(1, 9));
    storage
        .persist(&durable)
        .expect("persist into the new segment");
    drop(storage);
    let names = segment_names(dir.path());
    assert_eq!(
        names,
        ["log-1.wal", "log-9.wal"],
        "a sealed and an active segment"
    );
    let sealed = dir.path().join("log-1.wal");
    let last = *record_offsets(&sealed).last().expect("records");
    let mut bytes = fs::read(&sealed).expect("segment");
    let end = bytes.len();
    bytes[end - 2] ^= 0x10;
    fs::write(&sealed, &bytes).expect("damage");
    let before = contents(dir.path());
    let err = Storage::open(dir.path(), owner()).expect_err("damage in a sealed segment");
    let message = err.to_string();
    assert!(message.contains("log-1.wal"), "{message}");
    assert!(
        message.contains(&format!("byte offset {last}:")),
        "{message}"
    );
    assert!(message.contains("not the last"), "{message}");
    assert_eq!(contents(dir.path()), before, "nothing on disk changed");
}

/// A sound record that cannot follow the ones before it (here: an append that skips an
/// index, as a lost segment would leave) is refused too, with its file and offset.
#[test]
fn a_gap_in_the_log_is_refused() {
    let dir = TempDir::new("gap");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    storage.persist(&durable_with(1, 3)).expect("persist");
    drop(storage);
    let path = only_segment(dir.path());
    let mut bytes = fs::read(&path).expect("segment");
    let at = bytes.len();
    record::encode_append(&mut bytes, LogIndex(5), &entry(1, 5));
    fs::write(&path, &bytes).expect("append a gap");
    let before = contents(dir.path());
    let err = Storage::open(dir.path(), owner()).expect_err("a gap");
    let message = err.to_string();
    assert!(message.contains(&format!("byte offset {at}:")), "{message}");
    assert!(
        message.contains("index 5 where the log ends at index 3"),
        "{message}"
    );
    assert_eq!(contents(dir.path()), before, "nothing on disk changed");
}

/// Take a snapshot up to `index` (which the log holds), as a node does before it compacts
/// its log (a later step).
fn take_snapshot(durable: &mut Durable, index: LogIndex) {
    let term = durable.log.term_at(index).expect("held");
    let base = LogBase {
        index,
        term,
        stamp_us: durable.log.get(index).map_or(0, |e| e.stamp_us),
    };
    let snapshot = Snapshot::new(base, StateMachine::new(Dedup::Sessions));
    durable.snapshot = Some(Arc::new(snapshot));
}

/// Snapshots and compactions, cycle after cycle: old segments and old snapshots are
/// removed, so the directory stays small while the log grows long, and what is left reads
/// back as the node's state.
#[test]
fn compaction_keeps_disk_use_bounded() {
    let dir = TempDir::new("compaction");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    let mut durable = durable_with(1, 0);
    let mut peak = 0;
    let mut n = 0;
    for cycle in 0..40 {
        for i in 0..20 {
            n += 1;
            durable.current_term = Term(1 + cycle / 15);
            durable.log.push(entry(1 + cycle / 15, n));
            if i % 4 == 3 {
                storage.persist(&durable).expect("append");
            }
        }
        // Snapshot a few entries behind the end (the rest is not applied yet).
        let upto = LogIndex(n - 3);
        take_snapshot(&mut durable, upto);
        storage.persist(&durable).expect("snapshot");
        durable.log.compact_to(upto);
        storage.persist(&durable).expect("compaction");
        let files = contents(dir.path());
        let bytes: usize = files.values().map(Vec::len).sum();
        peak = peak.max(bytes);
        let segments = files.keys().filter(|f| f.starts_with("log-")).count();
        let snapshots = files.keys().filter(|f| f.starts_with("snapshot-")).count();
        assert!(
            segments <= 2,
            "cycle {cycle}: {segments} segments: {files:?}"
        );
        assert_eq!(snapshots, 1, "cycle {cycle}: {:?}", files.keys());
    }
    // A client write's record (a no-op's is smaller): the 20 entries a cycle appends take
    // at most 20 of these, and the disk holds about two cycles' worth.
    let record_bytes = {
        let mut buf = Vec::new();
        record::encode_append(&mut buf, LogIndex(n + 1), &entry(1, n + 1));
        buf.len()
    };
    assert!(
        peak < 3 * 20 * record_bytes + 4096,
        "peak disk use {peak} bytes for 800 entries of at most {record_bytes} bytes: not \
         bounded"
    );
    drop(storage);
    let back = reopen(dir.path());
    assert_same(&back, &durable, "after 40 cycles");
    assert_eq!(back.log.base().index, LogIndex(n - 3));
}

/// What a follower's durable state becomes when it installs a leader's snapshot up to
/// `index` (of term 3): a log that starts after it, and the snapshot.
fn install(durable: &mut Durable, index: u64, stamp_us: u64) {
    let base = LogBase {
        index: LogIndex(index),
        term: Term(3),
        stamp_us,
    };
    durable.current_term = Term(3);
    durable.log.reset_to(base);
    durable.snapshot = Some(Arc::new(Snapshot::new(
        base,
        StateMachine::new(Dedup::Sessions),
    )));
}

/// A snapshot installed from a leader: past the end of the log (the log restarts after it)
/// or over a log that conflicts with it (the conflicting suffix goes); either way the log
/// after it, and later appends, read back.
#[test]
fn an_installed_snapshot_replaces_the_log() {
    // Past the end of the disk's log.
    let dir = TempDir::new("install-past");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    let mut durable = durable_with(1, 5);
    storage.persist(&durable).expect("persist 5");
    install(&mut durable, 40, 400);
    storage.persist(&durable).expect("install");
    durable.log.push(entry(3, 41));
    storage.persist(&durable).expect("append after");
    drop(storage);
    assert_same(&reopen(dir.path()), &durable, "installed past the end");

    // Over a conflicting log: the entry at the snapshot's index has another term.
    let dir = TempDir::new("install-conflict");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    let mut durable = durable_with(2, 12);
    storage.persist(&durable).expect("persist 12 of term 2");
    install(&mut durable, 10, 100);
    storage.persist(&durable).expect("install");
    drop(storage);
    let back = reopen(dir.path());
    assert_same(&back, &durable, "installed over a conflict");
    assert_eq!(
        back.log.last_index(),
        LogIndex(10),
        "entries 11 and 12 are gone"
    );
}

/// A format-1 directory (`state.json`) is migrated: the same state comes back, now as a
/// write-ahead log, and the old file is renamed, not removed. A migration cut short is
/// done again; a `state.json` of another node is refused untouched.
#[test]
fn a_format_1_state_file_is_migrated() {
    #[derive(serde::Serialize)]
    struct V1<'a> {
        format: u32,
        node: NodeId,
        cluster_size: u8,
        durable: &'a Durable,
    }
    let durable = durable_with(4, 7);
    let v1 = serde_json::to_vec(&V1 {
        format: 1,
        node: NodeId(2),
        cluster_size: 3,
        durable: &durable,
    })
    .expect("v1 serializes");

    let dir = TempDir::new("migrate");
    fs::create_dir_all(dir.path()).expect("dir");
    fs::write(dir.path().join("state.json"), &v1).expect("v1 file");
    // What a migration cut short before meta.json leaves: a partial segment.
    fs::write(dir.path().join("log-1.wal"), b"\x05\x00").expect("partial segment");
    let (_, loaded) = Storage::open(dir.path(), owner()).expect("migrate");
    assert_same(&loaded.expect("migrated state"), &durable, "migrated");
    let files = contents(dir.path());
    assert!(!files.contains_key("state.json"), "{:?}", files.keys());
    assert_eq!(
        files["state.json.migrated"], v1,
        "the old file is kept as it was"
    );
    assert!(files.contains_key("meta.json"), "{:?}", files.keys());
    assert_same(
        &reopen(dir.path()),
        &durable,
        "reopened after the migration",
    );

    // Another node's state file is refused before anything is written.
    let dir = TempDir::new("migrate-other");
    fs::create_dir_all(dir.path()).expect("dir");
    fs::write(dir.path().join("state.json"), &v1).expect("v1 file");
    let before = contents(dir.path());
    let other = Meta {
        node: NodeId(1),
        ..owner()
    };
    let err = Storage::open(dir.path(), other).expect_err("node 1 must not load node 2");
    assert!(err.to_string().contains("belongs to node n2"), "{err}");
    assert_eq!(contents(dir.path()), before, "nothing on disk changed");
    fs::write(dir.path().join("state.json"), b"{ not json").expect("corrupt");
    let err = Storage::open(dir.path(), owner()).expect_err("corrupt file");
    assert!(err.to_string().contains("not a node state file"), "{err}");
}

/// A directory written under other session rules, or for another node or cluster size, is
/// refused with both values and what to do, and nothing on disk changes.
#[test]
fn other_rules_or_another_node_are_refused() {
    let dir = TempDir::new("rules");
    let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
    storage.persist(&durable_with(1, 3)).expect("persist");
    drop(storage);
    let before = contents(dir.path());
    let limits = SessionLimits {
        register: true,
        timeout_us: 0,
        max_sessions: 5,
    };
    let other = Meta {
        rules: Rules::new(Dedup::Sessions, limits),
        ..owner()
    };
    let err = Storage::open(dir.path(), other).expect_err("other rules");
    let message = err.to_string();
    assert!(
        matches!(err, StorageError::RulesChanged { .. }),
        "{message}"
    );
    assert!(
        message.contains("--dedup sessions --session-timeout-ms 0 --max-sessions 0"),
        "names the recorded rules: {message}"
    );
    assert!(
        message.contains("this start has --max-sessions 5"),
        "{message}"
    );
    assert!(message.contains("fresh data directory"), "{message}");
    let other = Meta {
        rules: Rules::new(Dedup::Off, SessionLimits::default()),
        ..owner()
    };
    let err = Storage::open(dir.path(), other).expect_err("other dedup");
    assert!(
        err.to_string().contains("this start has --dedup off"),
        "{err}"
    );

    let err = Storage::open(
        dir.path(),
        Meta {
            node: NodeId(1),
            ..owner()
        },
    )
    .expect_err("another node");
    assert!(err.to_string().contains("belongs to node n2"), "{err}");
    let err = Storage::open(
        dir.path(),
        Meta {
            cluster_size: 5,
            ..owner()
        },
    )
    .expect_err("another cluster size");
    assert!(err.to_string().contains("3-node cluster"), "{err}");
    assert_eq!(contents(dir.path()), before, "nothing on disk changed");

    // Without meta.json a directory of log files is nobody's.
    fs::remove_file(dir.path().join("meta.json")).expect("remove meta");
    let err = Storage::open(dir.path(), owner()).expect_err("no meta");
    assert!(err.to_string().contains("has no meta.json"), "{err}");
}

/// A durable state as comparable text.
fn state_text(d: &Durable) -> String {
    format!(
        "term {} vote {:?} snapshot {} log {}",
        d.current_term,
        d.voted_for,
        d.snapshot_index(),
        log_text(&d.log)
    )
}

/// `durable` with another term and vote.
fn with_vote(durable: &Durable, term: u64, vote: Option<NodeId>) -> Durable {
    Durable {
        current_term: Term(term),
        voted_for: vote,
        ..durable.clone()
    }
}

/// A node's state as it installs a snapshot up to `base` (replacing its log, Figure 13).
fn installed(durable: &Durable, term: u64, base: LogBase) -> Durable {
    let mut d = with_vote(durable, term, None);
    d.log.reset_to(base);
    let snapshot = Snapshot::new(base, StateMachine::new(Dedup::Sessions));
    d.snapshot = Some(Arc::new(snapshot));
    d
}

/// A crash at any disk operation of one persist (each is tried in turn: the operations
/// before it done, none after) leaves a directory that opens, in the state before the
/// persist, after it, or one of the states between that the write order allows: the term
/// before the log (a term is never behind its log), a cut conflicting log before the
/// snapshot that replaced it, a snapshot before the entries that follow it.
#[test]
fn a_crash_at_any_write_leaves_a_state_the_node_could_be_in() {
    struct Case {
        name: &'static str,
        before: Durable,
        after: Durable,
        between: Vec<Durable>,
    }
    let mut cases = Vec::new();

    // A snapshot installed over a log whose entry at the snapshot's index conflicts.
    let before = durable_with(2, 12);
    let base = LogBase {
        index: LogIndex(10),
        term: Term(3),
        stamp_us: 100,
    };
    let after = installed(&before, 3, base);
    let mut cut = with_vote(&before, 3, None);
    cut.log.truncate_from(LogIndex(11));
    cases.push(Case {
        name: "install over a conflict",
        between: vec![with_vote(&before, 3, None), cut],
        before,
        after,
    });

    // A snapshot installed past the end of the log, and the entry after it.
    let before = durable_with(1, 5);
    let base = LogBase {
        index: LogIndex(40),
        term: Term(3),
        stamp_us: 400,
    };
    let bare = installed(&before, 3, base);
    let mut after = bare.clone();
    after.log.push(entry(3, 41));
    cases.push(Case {
        name: "install past the end",
        between: vec![with_vote(&before, 3, None), bare],
        before,
        after,
    });

    // A node's own snapshot and compaction, with a new entry in the same persist.
    let before = durable_with(1, 12);
    let mut grown = before.clone();
    grown.log.push(entry(1, 13));
    let mut after = grown.clone();
    take_snapshot(&mut after, LogIndex(8));
    after.log.compact_to(LogIndex(8));
    cases.push(Case {
        name: "snapshot and compaction",
        between: vec![grown],
        before,
        after,
    });

    for case in &cases {
        let allowed: Vec<String> = [&case.before, &case.after]
            .into_iter()
            .chain(&case.between)
            .map(state_text)
            .collect();
        let mut seen_between = 0;
        for ops in 0..100 {
            let dir = TempDir::new("crash");
            let (mut storage, _) = Storage::open(dir.path(), owner()).expect("open fresh");
            storage
                .persist(&case.before)
                .expect("persist the state before");
            storage.crash_after(ops);
            let finished = storage.persist(&case.after).is_ok();
            drop(storage);
            let back = Storage::open(dir.path(), owner())
                .unwrap_or_else(|e| panic!("{}: crash after {ops} operations: {e}", case.name))
                .1
                .expect("state");
            let text = state_text(&back);
            assert!(
                allowed.contains(&text),
                "{}: crash after {ops} operations left\n{text}\nnot one of\n{}",
                case.name,
                allowed.join("\n")
            );
            seen_between += usize::from(allowed[2..].contains(&text));
            if finished {
                break;
            }
            assert!(ops < 99, "{}: the persist never finished", case.name);
        }
        assert!(seen_between > 0, "{}: no crash fell between", case.name);
    }
}
