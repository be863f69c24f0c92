//! What a run's verdict is made of: the named rules a run must hold, a violation of one with
//! its evidence, and counts per rule. A leaf module: checkers produce violations, traces
//! print them, campaigns count them, and none of those need each other for it.

use std::fmt;
use std::ops::{Index, IndexMut};

use crate::ids::{ClientId, Seq};

/// The named properties a run must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    ExactlyOnce,
    RaftSafety,
    Convergence,
    /// The clients' history (invoke and return times, results) cannot be put in one order
    /// per key that respects real time and the KV semantics.
    Linearizability,
    /// A replica's session table passed its bounds (`max_sessions`, or more cached results
    /// for a client than its window).
    TableSize,
    Liveness,
    /// A process's own assertion failed (it panicked): the run stops there.
    Invariant,
    /// The run passed one of its bounds (events, a node's log, messages in flight) and was
    /// stopped there: something runs away (a resend loop, a log that only grows).
    Budget,
}

impl Rule {
    /// Number of rules.
    pub const COUNT: usize = 8;

    /// Every rule, in report order.
    pub const ALL: [Rule; Rule::COUNT] = [
        Rule::ExactlyOnce,
        Rule::RaftSafety,
        Rule::Convergence,
        Rule::Linearizability,
        Rule::TableSize,
        Rule::Liveness,
        Rule::Invariant,
        Rule::Budget,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::ExactlyOnce => "exactly-once",
            Rule::RaftSafety => "raft-safety",
            Rule::Convergence => "convergence",
            Rule::Linearizability => "linearizability",
            Rule::TableSize => "table-size",
            Rule::Liveness => "liveness",
            Rule::Invariant => "invariant",
            Rule::Budget => "budget",
        }
    }

    /// Safety rules (and a run stopped at a budget, or by a panic) fail a run with exit code
    /// 1; liveness alone with 3.
    pub fn is_safety(self) -> bool {
        self != Rule::Liveness
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value per rule, indexed by [`Rule`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerRule<T>([T; Rule::COUNT]);

impl<T> Index<Rule> for PerRule<T> {
    type Output = T;

    fn index(&self, rule: Rule) -> &T {
        &self.0[rule as usize]
    }
}

impl<T> IndexMut<Rule> for PerRule<T> {
    fn index_mut(&mut self, rule: Rule) -> &mut T {
        &mut self.0[rule as usize]
    }
}

impl PerRule<u64> {
    /// The sum over every rule.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The rules with a non-zero count.
    pub fn nonzero(&self) -> RuleSet {
        Rule::ALL
            .into_iter()
            .filter(|&r| self[r] > 0)
            .fold(RuleSet::EMPTY, RuleSet::with)
    }
}

/// A set of rules: the ones a run broke.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleSet(u8);

impl RuleSet {
    pub const EMPTY: RuleSet = RuleSet(0);

    /// This set and `rule`.
    #[must_use]
    pub fn with(self, rule: Rule) -> RuleSet {
        RuleSet(self.0 | 1 << rule as u8)
    }

    pub fn contains(self, rule: Rule) -> bool {
        self.0 & (1 << rule as u8) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rules in the set, in [`Rule::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Rule> {
        Rule::ALL.into_iter().filter(move |&r| self.contains(r))
    }

    /// The documented exit code of a run (or a sweep) that broke these rules: 1 if a safety
    /// rule is among them, 3 if only liveness, 0 if none.
    pub fn exit_code(self) -> u8 {
        if self.iter().any(Rule::is_safety) {
            1
        } else if self.contains(Rule::Liveness) {
            3
        } else {
            0
        }
    }
}

/// One broken rule, with the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    pub rule: Rule,
    pub message: String,
    /// The operation it is about, as servers know it, when it is about one.
    pub about: Option<(ClientId, Seq)>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

/// `1234567` → `1,234,567`, as messages and summaries print counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Most violations kept per rule; the rest are counted, not stored.
pub const MAX_KEPT_PER_RULE: usize = 20;

/// Collects violations, keeping the first few of each rule and counting all of them.
#[derive(Clone, Debug, Default)]
pub struct Violations {
    kept: Vec<Violation>,
    counts: PerRule<u64>,
    /// What a checker could not decide (no violation: the run still passes).
    notes: Vec<String>,
}

impl Violations {
    /// Record what a checker could not decide.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// What checkers could not decide.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn push(&mut self, rule: Rule, message: String) {
        self.push_about(rule, None, message);
    }

    /// Record a violation about one operation.
    pub fn push_about(&mut self, rule: Rule, about: Option<(ClientId, Seq)>, message: String) {
        let count = &mut self.counts[rule];
        *count += 1;
        if *count as usize <= MAX_KEPT_PER_RULE {
            self.kept.push(Violation {
                rule,
                message,
                about,
            });
        }
    }

    /// Violations of `rule`, including those not kept.
    pub fn count(&self, rule: Rule) -> u64 {
        self.counts[rule]
    }

    pub fn total(&self) -> u64 {
        self.counts.total()
    }

    /// The rules with at least one violation.
    pub fn broken(&self) -> RuleSet {
        self.counts.nonzero()
    }

    /// The kept violations, in the order found.
    pub fn kept(&self) -> &[Violation] {
        &self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Violations beyond the kept limit are counted, not stored.
    #[test]
    fn violations_past_the_limit_are_counted() {
        let mut v = Violations::default();
        for i in 0..MAX_KEPT_PER_RULE + 5 {
            v.push(Rule::Liveness, format!("{i}"));
        }
        assert_eq!(v.kept().len(), MAX_KEPT_PER_RULE);
        assert_eq!(v.count(Rule::Liveness), MAX_KEPT_PER_RULE as u64 + 5);
        assert_eq!(v.total(), MAX_KEPT_PER_RULE as u64 + 5);
        assert_eq!(v.broken(), RuleSet::EMPTY.with(Rule::Liveness));
    }

    /// Exit codes: any safety rule is 1, liveness alone is 3, nothing broken is 0.
    #[test]
    fn exit_codes_follow_the_rules_broken() {
        let cases = [
            (RuleSet::EMPTY, 0),
            (RuleSet::EMPTY.with(Rule::Liveness), 3),
            (RuleSet::EMPTY.with(Rule::Convergence), 1),
            (RuleSet::EMPTY.with(Rule::Liveness).with(Rule::Invariant), 1),
        ];
        for (i, (set, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                set.exit_code(),
                want,
                "case {i}: {:?}",
                set.iter().collect::<Vec<_>>()
            );
        }
    }
}
