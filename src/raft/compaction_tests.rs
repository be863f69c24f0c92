//! Snapshots, compaction and InstallSnapshot, driven message by message.

use super::test_cluster::Cluster;
use super::*;

/// A follower cut off while the others compact catches up through InstallSnapshot, in
/// several chunks, and ends with the same state; the others' logs hold nothing before their
/// snapshots.
#[test]
fn a_lagging_follower_catches_up_by_install_snapshot() {
    let (mut c, leader, lagging) = Cluster::with_lagging_follower();
    let l = c.node(leader.0);
    assert!(
        l.log().base().index.0 >= 15,
        "leader compacted: {:?}",
        l.log().base()
    );
    assert!(l.log().get(LogIndex(1)).is_none(), "index 1 is compacted");
    c.cut[lagging.index()] = false;
    for _ in 0..20 {
        c.tick(50_000);
    }
    assert!(
        c.installs > 1,
        "the snapshot took several chunks ({})",
        c.installs
    );
    let expected = c.node(leader.0).state_machine().digest();
    let applied = c.node(leader.0).last_applied();
    let f = c.node(lagging.0);
    assert_eq!(f.last_applied(), applied, "follower caught up");
    assert_eq!(
        f.state_machine().digest(),
        expected,
        "same KV map and table"
    );
    assert!(
        f.durable().snapshot.is_some(),
        "it keeps the installed snapshot"
    );
}

/// A restart loads the snapshot and applies only what follows it; a crash between writing
/// the snapshot and truncating the log (mid-snapshot) loses nothing and truncates on restart.
#[test]
fn restart_from_a_snapshot_replays_only_the_suffix() {
    let mut c = Cluster::new(4);
    let leader = c.elect();
    for seq in 1..=10 {
        c.write(leader, seq);
        c.tick(1);
        c.tick(1);
    }
    let before = c.node(leader.0).state_machine().digest();
    let applied = c.node(leader.0).last_applied();
    let crashed = c.nodes[leader.index()].take().unwrap().crash();
    let snapshot_index = crashed.durable.snapshot_index();
    assert!(snapshot_index.0 >= 8, "snapshots taken: {snapshot_index}");
    let back = RaftNode::recover(crashed, c.now);
    assert_eq!(
        back.last_applied(),
        snapshot_index,
        "starts at its snapshot"
    );
    assert_eq!(back.log().base().index, snapshot_index, "log truncated");
    c.nodes[leader.index()] = Some(back);
    for _ in 0..40 {
        c.tick(50_000);
    }
    let n = c.node(leader.0);
    assert!(n.last_applied() > applied, "a new leader's no-op applied");
    assert_eq!(
        n.state_machine().digest(),
        before,
        "same state after the suffix"
    );

    // Mid-snapshot: the moment between taking a snapshot and compacting.
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let mut seen = false;
    'writes: for seq in 1..=12 {
        c.write(leader, seq);
        for _ in 0..2 {
            c.tick(1);
            let points = c.node(leader.0).crash_points();
            if let Some(index) = points.mid_snapshot {
                seen = true;
                let crashed = c.nodes[leader.index()].take().unwrap().crash();
                assert!(
                    crashed.durable.log.get(index).is_some(),
                    "log not yet truncated"
                );
                let back = RaftNode::recover(crashed, c.now);
                assert_eq!(back.last_applied(), index);
                assert!(
                    back.log().get(index).is_none(),
                    "compaction finished on restart"
                );
                c.nodes[leader.index()] = Some(back);
                break 'writes;
            }
        }
    }
    assert!(seen, "the mid-snapshot moment came");
}

/// A follower that crashes between two chunks (mid-install) drops the partial snapshot; the
/// leader starts over from byte 0 and the follower still ends with the leader's state.
#[test]
fn a_crash_mid_install_starts_the_snapshot_over() {
    let (mut c, leader, lagging) = Cluster::with_lagging_follower();
    c.cut[lagging.index()] = false;
    c.crash_mid_install = Some(lagging);
    for _ in 0..40 {
        c.tick(50_000);
    }
    assert!(
        c.crashed_mid_install,
        "the follower crashed between two chunks"
    );
    let expected = c.node(leader.0).state_machine().digest();
    let applied = c.node(leader.0).last_applied();
    let f = c.node(lagging.0);
    assert_eq!(f.last_applied(), applied, "it caught up after the restart");
    assert_eq!(f.state_machine().digest(), expected);
}
