//! `--partition K/N`: which shard of a CI matrix runs which cases, decided without any
//! coordination between shards.
//!
//! Two strategies:
//!
//! - `hash:K/N` (the default, also written `K/N`): a case is in shard `K` when the FNV-1a 64
//!   hash of its name, modulo `N`, is `K - 1`. A case's shard depends on its name alone, so
//!   adding or removing other cases never moves it; shards may be a little uneven.
//! - `count:K/N`: the selected names are sorted and dealt round-robin, the `i`-th (0-based) to
//!   shard `i mod N + 1`. Shards are even (sizes differ by at most one), but adding a case
//!   shifts the cases after it to other shards.
//!
//! `K` is 1-based, as GitHub Actions, GitLab `parallel` and Kubernetes indexed jobs number
//! their jobs from 1 (Kubernetes from 0: pass `$((JOB_COMPLETION_INDEX + 1))`). Either way the
//! shards are disjoint and together hold every case, so merging their reports gives the report
//! of an unpartitioned run.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// FNV-1a, 64 bits: small, fast and, unlike `std`'s `DefaultHasher`, fixed forever, so a
/// case's shard is the same on every toolchain and machine.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

/// Whether the case `name` belongs to shard `k` of `n` under the `hash` strategy (`k` is
/// 1-based). Out-of-range `k`/`n` select nothing; [`parse_partition`] refuses them first.
pub fn in_partition(name: &str, k: u32, n: u32) -> bool {
    n > 0 && (1..=n).contains(&k) && fnv1a64(name.as_bytes()) % u64::from(n) == u64::from(k - 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Hash,
    Count,
}

/// A parsed `--partition` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub strategy: Strategy,
    /// 1-based shard number.
    pub k: u32,
    pub n: u32,
}

impl Partition {
    /// The names of `names` in this shard, in their given order.
    pub fn select<'a, S: AsRef<str>>(&self, names: &'a [S]) -> Vec<&'a str> {
        match self.strategy {
            Strategy::Hash => names
                .iter()
                .map(AsRef::as_ref)
                .filter(|n| in_partition(n, self.k, self.n))
                .collect(),
            Strategy::Count => {
                let mut sorted: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
                sorted.sort_unstable();
                sorted.dedup();
                let n = self.n as usize;
                let k = self.k as usize - 1;
                let chosen: std::collections::HashSet<&str> = sorted
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| i % n == k)
                    .map(|(_, s)| s)
                    .collect();
                names
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|s| chosen.contains(s))
                    .collect()
            }
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let strategy = match self.strategy {
            Strategy::Hash => "hash",
            Strategy::Count => "count",
        };
        write!(f, "{strategy}:{}/{}", self.k, self.n)
    }
}

/// What is wrong with a `--partition` value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartitionError {
    #[error("unknown partition strategy `{0}`; use `hash:K/N` or `count:K/N`")]
    UnknownStrategy(String),
    #[error("partition `{0}` is not of the form K/N (e.g. `2/4`)")]
    NoSlash(String),
    #[error("`{0}` in the partition is not a whole number")]
    NotANumber(String),
    #[error("partition count N must be at least 1")]
    ZeroShards,
    #[error("shard numbers start at 1: use {n}/{n} for the last of {n} shards, not 0/{n}")]
    ZeroShard { n: u32 },
    #[error("shard {k} does not exist when there are {n} shards (K must be 1..={n})")]
    ShardTooLarge { k: u32, n: u32 },
}

/// Parses `K/N`, `hash:K/N` or `count:K/N`.
pub fn parse_partition(text: &str) -> Result<Partition, PartitionError> {
    let text = text.trim();
    let (strategy, rest) = match text.split_once(':') {
        Some(("hash", rest)) => (Strategy::Hash, rest),
        Some(("count", rest)) => (Strategy::Count, rest),
        Some((other, _)) => return Err(PartitionError::UnknownStrategy(other.to_string())),
        None => (Strategy::Hash, text),
    };
    let (k, n) = rest
        .split_once('/')
        .ok_or_else(|| PartitionError::NoSlash(text.to_string()))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| PartitionError::NotANumber(s.trim().to_string()))
    };
    let (k, n) = (number(k)?, number(n)?);
    if n == 0 {
        return Err(PartitionError::ZeroShards);
    }
    if k == 0 {
        return Err(PartitionError::ZeroShard { n });
    }
    if k > n {
        return Err(PartitionError::ShardTooLarge { k, n });
    }
    Ok(Partition { strategy, k, n })
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(s: &str) -> Result<Partition, PartitionError> {
        parse_partition(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn parses_the_accepted_forms() {
        assert_eq!(
            parse_partition("2/4"),
            Ok(Partition {
                strategy: Strategy::Hash,
                k: 2,
                n: 4
            })
        );
        assert_eq!(
            parse_partition("hash:1/1"),
            Ok(Partition {
                strategy: Strategy::Hash,
                k: 1,
                n: 1
            })
        );
        assert_eq!(
            parse_partition("count:3/3").unwrap().to_string(),
            "count:3/3"
        );
    }

    #[test]
    fn refuses_bad_forms_with_a_reason() {
        assert_eq!(
            parse_partition("0/4"),
            Err(PartitionError::ZeroShard { n: 4 })
        );
        assert_eq!(
            parse_partition("5/4"),
            Err(PartitionError::ShardTooLarge { k: 5, n: 4 })
        );
        assert_eq!(parse_partition("1/0"), Err(PartitionError::ZeroShards));
        assert_eq!(
            parse_partition("2-4"),
            Err(PartitionError::NoSlash("2-4".into()))
        );
        assert_eq!(
            parse_partition("a/4"),
            Err(PartitionError::NotANumber("a".into()))
        );
        assert_eq!(
            parse_partition("slice:1/2"),
            Err(PartitionError::UnknownStrategy("slice".into()))
        );
        assert!(parse_partition("0/4")
            .unwrap_err()
            .to_string()
            .contains("use 4/4"));
    }

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("theme-{}/case-{i}", i % 7))
            .collect()
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let all = names(500);
        for strategy in ["hash", "count"] {
            let mut seen: Vec<&str> = Vec::new();
            for k in 1..=4 {
                let p = parse_partition(&format!("{strategy}:{k}/4")).unwrap();
                let shard = p.select(&all);
                assert!(
                    shard.len() > 60,
                    "{strategy} shard {k} has only {}",
                    shard.len()
                );
                seen.extend(shard);
            }
            seen.sort_unstable();
            let mut expected: Vec<&str> = all.iter().map(String::as_str).collect();
            expected.sort_unstable();
            assert_eq!(seen, expected, "{strategy}");
        }
    }

    #[test]
    fn count_shards_are_even() {
        let all = names(10);
        let sizes: Vec<usize> = (1..=3)
            .map(|k| {
                Partition {
                    strategy: Strategy::Count,
                    k,
                    n: 3,
                }
                .select(&all)
                .len()
            })
            .collect();
        assert_eq!(sizes, [4, 3, 3]);
    }

    #[test]
    fn hash_shard_of_a_case_does_not_move_when_cases_are_added() {
        let before = names(100);
        let after = names(300);
        for k in 1..=5 {
            let p = Partition {
                strategy: Strategy::Hash,
                k,
                n: 5,
            };
            let old: Vec<&str> = p.select(&before);
            let new: Vec<&str> = p.select(&after);
            assert!(old.iter().all(|n| new.contains(n)), "shard {k} lost a case");
        }
    }

    #[test]
    fn out_of_range_selects_nothing() {
        assert!(!in_partition("x", 0, 4));
        assert!(!in_partition("x", 5, 4));
        assert!(!in_partition("x", 1, 0));
        assert!(in_partition("x", 1, 1));
    }
}
