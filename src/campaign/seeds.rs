//! Seed ranges (`--seeds 0..10000`) and shards (`--shard K/N`).

use std::fmt;
use std::str::FromStr;

/// A half-open range of seeds `start..end`, written `A..B`, `A..=B` or a single seed `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
}

impl SeedRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl FromStr for SeedRange {
    type Err = String;

    fn from_str(s: &str) -> Result<SeedRange, String> {
        let number = |part: &str| {
            part.trim().parse::<u64>().map_err(|_| {
                format!(
                    "{s:?} is not a seed range: {part:?} is not a seed (0 to {})",
                    u64::MAX
                )
            })
        };
        let range = if let Some((a, b)) = s.split_once("..=") {
            let (start, last) = (number(a)?, number(b)?);
            let end = last
                .checked_add(1)
                .ok_or_else(|| format!("{s:?}: the range ends past the last seed"))?;
            SeedRange { start, end }
        } else if let Some((a, b)) = s.split_once("..") {
            SeedRange {
                start: number(a)?,
                end: number(b)?,
            }
        } else {
            let seed = number(s)?;
            SeedRange {
                start: seed,
                end: seed
                    .checked_add(1)
                    .ok_or_else(|| format!("{s:?}: the range ends past the last seed"))?,
            }
        };
        if range.start >= range.end {
            return Err(format!(
                "{s:?} is an empty seed range: write START..END with START < END (END excluded), START..=LAST, or one seed"
            ));
        }
        Ok(range)
    }
}

/// One shard of a campaign split across machines: the seeds with `seed % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole campaign.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn contains(&self, seed: u64) -> bool {
        seed % self.count == self.index
    }

    /// The seeds of `range` in this shard, in order.
    pub fn seeds(&self, range: SeedRange) -> impl Iterator<Item = u64> + use<> {
        let rest = range.start % self.count;
        let offset = if self.index >= rest {
            self.index - rest
        } else {
            self.count - (rest - self.index)
        };
        let first = range.start.saturating_add(offset);
        (first..range.end.max(first)).step_by(self.count as usize)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a shard: write K/N, e.g. 0/4"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?} is not a shard: {part:?} is not a number"))
        };
        let (index, count) = (number(k)?, number(n)?);
        if count == 0 {
            return Err(format!(
                "{s:?}: a campaign splits into at least 1 shard (N >= 1)"
            ));
        }
        if index >= count {
            return Err(format!(
                "{s:?}: shards are numbered 0..{count}, so K must be below {count}"
            ));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every written form parses to what it says, and every malformed one is refused with a
    /// message; table rows print their index.
    #[test]
    fn seed_ranges_and_shards_parse_or_explain() {
        let ok = [
            ("0..10000", (0, 10000)),
            ("5..=7", (5, 8)),
            ("42", (42, 43)),
            (" 3 .. 9 ", (3, 9)),
        ];
        for (i, (text, (start, end))) in ok.into_iter().enumerate() {
            assert_eq!(
                text.parse::<SeedRange>(),
                Ok(SeedRange { start, end }),
                "case {i}"
            );
        }
        let bad = [
            "",
            "..",
            "5..5",
            "9..3",
            "a..b",
            "-1..4",
            "1..2..3",
            "18446744073709551615..=18446744073709551615",
            "0..99999999999999999999",
        ];
        for (i, text) in bad.into_iter().enumerate() {
            let err = text.parse::<SeedRange>().unwrap_err();
            assert!(!err.is_empty(), "case {i}: {text:?}");
        }
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for (i, text) in ["4/4", "0/0", "1", "a/b", "-1/2", "1/"]
            .into_iter()
            .enumerate()
        {
            assert!(text.parse::<Shard>().is_err(), "case {i}: {text:?}");
        }
        let shard = Shard { index: 1, count: 3 };
        let seeds: Vec<u64> = (0..10).filter(|&s| shard.contains(s)).collect();
        assert_eq!(seeds, [1, 4, 7]);
        let far = Shard {
            index: u64::MAX - 1,
            count: u64::MAX,
        };
        let range = SeedRange {
            start: u64::MAX - 5,
            end: u64::MAX,
        };
        assert_eq!(far.seeds(range).collect::<Vec<_>>(), [u64::MAX - 1]);
        for (start, end) in [(0, 10), (5, 17), (7, 8), (8, 9)] {
            let range = SeedRange { start, end };
            let stepped: Vec<u64> = shard.seeds(range).collect();
            let filtered: Vec<u64> = (start..end).filter(|&s| shard.contains(s)).collect();
            assert_eq!(stepped, filtered, "{range}");
        }
    }
}
