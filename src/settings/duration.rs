//! Durations as people write them: a number of seconds (`5`, `0.5`, as
//! scrapli's `timeout_socket: 5`) or a string with units (`500ms`, `5s`,
//! `1m`, `1h`, `1m30s`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::de::custom;

/// The longest duration accepted anywhere: a week. Longer values are
/// mistakes, and would overflow timers.
pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

const HINT: &str = "use e.g. 500ms, 5s, 1m";

/// Parses `500ms`, `5s`, `1m`, `1h`, `1m30s`, `1.5s`, or a bare number of
/// seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration `{text}` ({HINT})");
    let s = text.trim();
    if s.is_empty() {
        return Err(invalid());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return from_secs(secs, text);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        if num_len == 0 {
            return Err(invalid());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    from_secs(total, text)
}

fn from_secs(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "invalid duration `{text}` (must be a positive number of seconds or e.g. 500ms, 5s, 1m)"
        ));
    }
    let d = Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("invalid duration `{text}` ({HINT})"))?;
    if d > MAX {
        return Err(format!("duration `{text}` is too long (at most 168h)"));
    }
    Ok(d)
}

/// Any duration, zero included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// A duration greater than zero (timeouts, intervals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositiveDur(pub Duration);

struct DurVisitor;

impl Visitor<'_> for DurVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 500ms, 5s, 1m, or a number of seconds")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        let d = Duration::from_secs(v);
        if d > MAX {
            return Err(custom(format!("duration `{v}` is too long (at most 168h)")));
        }
        Ok(d)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(custom(format!(
                "invalid duration `{v}` (must be a positive number of seconds or e.g. 500ms, 5s, 1m)"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        from_secs(v, &v.to_string()).map_err(custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(custom)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurVisitor).map(Dur)
    }
}

impl<'de> Deserialize<'de> for PositiveDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Positive;
        impl Visitor<'_> for Positive {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                DurVisitor.expecting(f)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                nonzero(DurVisitor.visit_u64(v)?)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                nonzero(DurVisitor.visit_i64(v)?)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                nonzero(DurVisitor.visit_f64(v)?)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                nonzero(DurVisitor.visit_str(v)?)
            }
        }
        fn nonzero<E: de::Error>(d: Duration) -> Result<Duration, E> {
            if d.is_zero() {
                Err(custom("must be greater than 0"))
            } else {
                Ok(d)
            }
        }
        d.deserialize_any(Positive).map(PositiveDur)
    }
}

/// A check interval: at least `MIN_MS` milliseconds (a floor a network
/// engineer accepts: checking faster only loads the devices and reachd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval<const MIN_MS: u64>(pub Duration);

/// The shortest icmp interval.
pub type IcmpInterval = Interval<100>;
/// The shortest ssh and telnet interval.
pub type SessionInterval = Interval<1000>;

impl<'de, const MIN_MS: u64> Deserialize<'de> for Interval<MIN_MS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN_MS: u64>;
        impl<const MIN_MS: u64> Visitor<'_> for V<MIN_MS> {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                DurVisitor.expecting(f)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                at_least::<MIN_MS, E>(DurVisitor.visit_u64(v)?)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                at_least::<MIN_MS, E>(DurVisitor.visit_i64(v)?)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                at_least::<MIN_MS, E>(DurVisitor.visit_f64(v)?)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                at_least::<MIN_MS, E>(DurVisitor.visit_str(v)?)
            }
        }
        fn at_least<const MIN_MS: u64, E: de::Error>(d: Duration) -> Result<Duration, E> {
            if d.is_zero() {
                Err(custom("must be greater than 0"))
            } else if d < Duration::from_millis(MIN_MS) {
                Err(custom(format!(
                    "interval {} is shorter than the minimum (icmp: 100ms, ssh and telnet: 1s)",
                    crate::verdict::fmt_duration(d)
                )))
            } else {
                Ok(d)
            }
        }
        d.deserialize_any(V::<MIN_MS>).map(Interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_units_and_numbers() {
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("5s"), Ok(ms(5000)));
        assert_eq!(parse("1m"), Ok(ms(60_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("2"), Ok(ms(2000)));
        assert_eq!(parse("0.25"), Ok(ms(250)));
        assert_eq!(parse(" 5s "), Ok(ms(5000)));
    }

    #[test]
    fn rejects_nonsense_verbatim() {
        for bad in [
            "5 sec", "5sec", "s", "", "1m30", "ms5", "5x", "1..5s", "--1s",
        ] {
            assert_eq!(
                parse(bad),
                Err(format!("invalid duration `{bad}` (use e.g. 500ms, 5s, 1m)")),
                "{bad}"
            );
        }
        assert_eq!(
            parse("-5"),
            Err("invalid duration `-5` (must be a positive number of seconds or e.g. 500ms, 5s, 1m)"
                .to_owned())
        );
        assert_eq!(
            parse("200h"),
            Err("duration `200h` is too long (at most 168h)".to_owned())
        );
    }

    #[test]
    fn deserializes_numbers_and_strings() {
        let d: Vec<Dur> = serde_yaml::from_str("[5, 0.5, 1m30s, 0]").unwrap();
        assert_eq!(
            d.iter().map(|d| d.0).collect::<Vec<_>>(),
            [ms(5000), ms(500), ms(90_000), ms(0)]
        );
        let e = serde_yaml::from_str::<PositiveDur>("0s").unwrap_err();
        assert!(e.to_string().contains("must be greater than 0"), "{e}");
        let e = serde_yaml::from_str::<Dur>("-3").unwrap_err();
        assert!(e.to_string().contains("invalid duration `-3`"), "{e}");
        let e = serde_yaml::from_str::<Dur>("[1]").unwrap_err();
        assert!(e.to_string().contains("expected a duration"), "{e}");
    }
}
