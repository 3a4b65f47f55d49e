//! A traced path: which address answered at each hop, and how it reads in
//! one line.

use std::net::IpAddr;
use std::time::SystemTime;

use serde::Serialize;

/// The path to a destination as one trace saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Path {
    /// One element per TTL, from 1: the address that answered a request
    /// sent with that TTL (a router's time exceeded or unreachable, or the
    /// destination's echo reply), or `None` if nothing did. When the
    /// destination answered, the last element is the destination. Silence
    /// after the last answering hop is kept as exactly one trailing `None`
    /// ("silent from here on"), not one per TTL probed.
    pub hops: Vec<Option<IpAddr>>,
    /// The destination answered (an echo reply, at some TTL).
    pub reached: bool,
    /// When the trace ended.
    pub finished_at: SystemTime,
}

impl Path {
    /// The path from the answers per TTL (index 0 is TTL 1), as
    /// [`Path::hops`] documents it: cut after `end` (the TTL index where the
    /// destination or an unreachable answered, if any), else after the
    /// first silent TTL following the last answering one.
    pub(crate) fn from_answers(
        mut answers: Vec<Option<IpAddr>>,
        end: Option<usize>,
        reached: bool,
    ) -> Path {
        let keep = match end {
            Some(i) => i + 1,
            None => answers
                .iter()
                .rposition(Option::is_some)
                .map_or(1, |last| last + 2),
        };
        answers.truncate(keep.max(1));
        if answers.is_empty() {
            answers.push(None);
        }
        Path {
            hops: answers,
            reached,
            finished_at: SystemTime::now(),
        }
    }

    /// How many hops answered.
    pub fn answered(&self) -> usize {
        self.hops.iter().filter(|h| h.is_some()).count()
    }

    /// One line for a verdict's detail:
    ///
    /// * reached: "path reaches the device in N hops" (N = TTL of the
    ///   reply; "1 hop" when it is the next one);
    /// * not reached: "path ends after ADDR (hop K of ≥N)", where ADDR is
    ///   the last hop that answered, K its TTL, and N = K + 1: the path has
    ///   at least one more hop (the one that fell silent, or said
    ///   unreachable) before the device;
    /// * nothing answered: "path ends at the first hop (no hop answered)".
    pub fn summary(&self) -> String {
        if self.reached {
            let n = self.hops.len();
            let s = if n == 1 { "" } else { "s" };
            return format!("path reaches the device in {n} hop{s}");
        }
        match self.hops.iter().rposition(Option::is_some) {
            Some(i) => {
                let addr = self.hops[i].map_or_else(String::new, |a| a.to_string());
                format!("path ends after {addr} (hop {} of ≥{})", i + 1, i + 2)
            }
            None => "path ends at the first hop (no hop answered)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn silence_after_the_last_answer_is_one_none() {
        let mut answers = vec![a("198.18.1.2"), a("198.18.2.2")];
        answers.resize(30, None);
        let p = Path::from_answers(answers, None, false);
        assert_eq!(p.hops, vec![a("198.18.1.2"), a("198.18.2.2"), None]);
        assert_eq!(p.answered(), 2);
        assert_eq!(p.summary(), "path ends after 198.18.2.2 (hop 2 of ≥3)");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json["hops"],
            serde_json::json!(["198.18.1.2", "198.18.2.2", null])
        );
    }

    #[test]
    fn a_silent_hop_inside_the_path_stays() {
        let p = Path::from_answers(
            vec![a("198.18.1.2"), None, a("198.18.3.2"), None],
            None,
            false,
        );
        assert_eq!(p.hops.len(), 4);
        assert_eq!(p.answered(), 2);
        assert_eq!(p.summary(), "path ends after 198.18.3.2 (hop 3 of ≥4)");
    }

    #[test]
    fn an_answer_at_the_last_ttl_has_no_trailing_none() {
        let p = Path::from_answers(vec![None, a("198.18.2.2")], None, false);
        assert_eq!(p.hops, vec![None, a("198.18.2.2")]);
    }

    #[test]
    fn nothing_answered() {
        let p = Path::from_answers(vec![None; 30], None, false);
        assert_eq!(p.hops, vec![None]);
        assert_eq!(p.answered(), 0);
        assert_eq!(p.summary(), "path ends at the first hop (no hop answered)");
        let p = Path::from_answers(Vec::new(), None, false);
        assert_eq!(p.hops, vec![None]);
    }

    #[test]
    fn reached_paths_end_at_the_device() {
        let mut answers = vec![a("198.18.1.2"), None, a("198.18.3.2")];
        answers.resize(30, a("198.18.3.2"));
        let p = Path::from_answers(answers, Some(2), true);
        assert_eq!(p.hops, vec![a("198.18.1.2"), None, a("198.18.3.2")]);
        assert_eq!(p.summary(), "path reaches the device in 3 hops");
        let p = Path::from_answers(vec![a("127.0.0.1")], Some(0), true);
        assert_eq!(p.summary(), "path reaches the device in 1 hop");
    }

    #[test]
    fn an_unreachable_hop_ends_the_path() {
        let answers = vec![a("198.18.1.2"), a("198.18.2.2"), a("198.18.2.2"), None];
        let p = Path::from_answers(answers, Some(1), false);
        assert_eq!(p.hops, vec![a("198.18.1.2"), a("198.18.2.2")]);
        assert_eq!(p.summary(), "path ends after 198.18.2.2 (hop 2 of ≥3)");
    }
}
