//! Durations of virtual time as people write them: `50ms`, `1s`, `200us`,
//! `1000ns`.

use serde::Deserialize;

/// Why a duration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Digits only.
    #[error("'{0}' has no unit: use ns, us, ms or s")]
    NoUnit(String),
    /// The unit comes first, or there is no number.
    #[error("'{0}' does not start with a number")]
    NoNumber(String),
    /// Not one of ns, us, ms, s.
    #[error("unknown unit '{0}': use ns, us, ms or s")]
    Unit(String),
    /// Longer than [`MAX_DURATION_NS`] (or than a u64 holds).
    #[error("'{0}' is too long: the testbed runs at most 1h of virtual time at once")]
    Overflow(String),
    /// A host-time budget of more nanoseconds than a u64 holds.
    #[error("'{0}' is too long")]
    Budget(String),
}

/// The longest duration of virtual time accepted: an hour of virtual time (hours of
/// emulation on the host; anything longer is a typo).
pub const MAX_DURATION_NS: u64 = 3_600 * 1_000_000_000;

/// A duration written in a file (`"50ms"`), in ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nanos(pub u64);

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Nanos, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Nanos)
            .map_err(serde::de::Error::custom)
    }
}

/// A budget of host time written in a file (`"600s"`), in ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget(pub u64);

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Budget, D::Error> {
        let s = String::deserialize(d)?;
        parse_budget(&s)
            .map(Budget)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses a duration of virtual time into nanoseconds (at most
/// [`MAX_DURATION_NS`]).
pub fn parse_duration(s: &str) -> Result<u64, DurationError> {
    parse_any(s).and_then(|ns| {
        (ns <= MAX_DURATION_NS)
            .then_some(ns)
            .ok_or_else(|| DurationError::Overflow(s.to_string()))
    })
}

/// Parses a budget of host time (an exploration's `--time`) into
/// nanoseconds: no limit but a u64's.
pub fn parse_budget(s: &str) -> Result<u64, DurationError> {
    parse_any(s).map_err(|e| match e {
        DurationError::Overflow(s) => DurationError::Budget(s),
        other => other,
    })
}

fn parse_any(s: &str) -> Result<u64, DurationError> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| DurationError::NoUnit(s.to_string()))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| DurationError::NoNumber(s.to_string()))?;
    let scale = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return Err(DurationError::Unit(unit.to_string())),
    };
    n.checked_mul(scale)
        .ok_or_else(|| DurationError::Overflow(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale_and_mistakes_are_named() {
        assert_eq!(parse_duration("50ms"), Ok(50_000_000));
        assert_eq!(parse_duration("200us"), Ok(200_000));
        assert_eq!(parse_duration("1s"), Ok(1_000_000_000));
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("5"), Err(DurationError::NoUnit("5".into())));
        assert_eq!(
            parse_duration("ms"),
            Err(DurationError::NoNumber("ms".into()))
        );
        assert_eq!(
            parse_duration("5 parsecs"),
            Err(DurationError::Unit(" parsecs".into()))
        );
        assert_eq!(
            parse_duration("18446744073709551615s"),
            Err(DurationError::Overflow("18446744073709551615s".into()))
        );
        // The ~585 years a u64 of ns holds is refused as virtual time.
        assert_eq!(
            parse_duration("18446744073709551615ns"),
            Err(DurationError::Overflow("18446744073709551615ns".into()))
        );
        assert_eq!(parse_duration("3600s"), Ok(MAX_DURATION_NS));
        assert_eq!(parse_budget("7200s"), Ok(7_200_000_000_000));
    }
}
