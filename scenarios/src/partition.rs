//! `--partition I/N`: a deterministic share of a list for CI runner I of N,
//! so N runners cover the list exactly once between them.

use std::fmt;
use std::str::FromStr;

/// Runner `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// This runner, 1 to `count`.
    pub index: usize,
    /// How many runners.
    pub count: usize,
}

/// Why a partition was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// Not `I/N` with two numbers.
    #[error("'{0}' is not I/N (for example 2/4)")]
    Shape(String),
    /// I outside 1..=N.
    #[error("partition {index}/{count}: I must be 1 to N")]
    Range {
        /// I.
        index: usize,
        /// N.
        count: usize,
    },
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(s: &str) -> Result<Partition, PartitionError> {
        let shape = || PartitionError::Shape(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(shape)?;
        let index: usize = i.trim().parse().map_err(|_| shape())?;
        let count: usize = n.trim().parse().map_err(|_| shape())?;
        if index == 0 || index > count {
            return Err(PartitionError::Range { index, count });
        }
        Ok(Partition { index, count })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Partition {
    /// This runner's share of `items`, in the order of `key`: every
    /// N-th item starting at the I-th, so the split depends only on the
    /// set of items, not on the order they were given in.
    pub fn select<T, K: Ord>(&self, mut items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
        items.sort_by_key(|t| key(t));
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, t)| t)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_the_list_exactly_once() {
        let items: Vec<String> = (0..11).map(|i| format!("s{i:02}")).collect();
        for n in 1..=5 {
            let mut union: Vec<String> = (1..=n)
                .flat_map(|i| {
                    Partition { index: i, count: n }
                        .select(items.iter().rev().cloned().collect(), |s| s.clone())
                })
                .collect();
            union.sort();
            assert_eq!(union, items, "{n} runners");
        }
    }

    #[test]
    fn bad_partitions_are_named() {
        assert_eq!("2/4".parse(), Ok(Partition { index: 2, count: 4 }));
        assert_eq!(
            "0/4".parse::<Partition>(),
            Err(PartitionError::Range { index: 0, count: 4 })
        );
        assert_eq!(
            "5/4".parse::<Partition>(),
            Err(PartitionError::Range { index: 5, count: 4 })
        );
        assert_eq!(
            "half".parse::<Partition>(),
            Err(PartitionError::Shape("half".into()))
        );
    }
}
