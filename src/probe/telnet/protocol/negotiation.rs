//! The option negotiation policy: a pure state machine from the peer's
//! requests to our replies.

use tokio_util::bytes::{BufMut, Bytes, BytesMut};

use super::{Event, Opt};

/// Answers per option and direction that may change its state; past this the
/// option's state still follows the peer's disables but we stay silent.
const MAX_CHANGES: u8 = 8;
/// `SB TERMINAL-TYPE SEND` requests answered at most.
const MAX_TERMINAL_TYPE_REPLIES: u8 = 16;
/// `DO TIMING-MARK` requests answered at most (each is a marker, not a state
/// change, so each gets its `WONT`, up to this).
const MAX_TIMING_MARK_REPLIES: u8 = 32;

/// TERMINAL-TYPE subnegotiation verbs (RFC 1091).
const TTYPE_IS: u8 = 0;
const TTYPE_SEND: u8 = 1;

/// What we offer the peer beyond the fixed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiationConfig {
    /// Window size `(columns, rows)` reported through NAWS when the peer asks
    /// (`DO NAWS`); `None` refuses NAWS.
    pub window_size: Option<(u16, u16)>,
    /// Terminal types offered through TERMINAL-TYPE, in order (RFC 1091: each
    /// `SEND` gets the next, the last is repeated to mark the end, then the
    /// list starts over); empty refuses TERMINAL-TYPE.
    pub terminal_types: Vec<String>,
}

impl Default for NegotiationConfig {
    /// NAWS 200x24, terminal types `VT100` then `DUMB`.
    fn default() -> Self {
        NegotiationConfig {
            window_size: Some((200, 24)),
            terminal_types: vec!["VT100".to_owned(), "DUMB".to_owned()],
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct OptionState {
    enabled: bool,
    /// We have refused a request to enable it once: later ones get no answer.
    refused: bool,
    /// State changes we have answered.
    changes: u8,
}

/// The negotiation policy of reachd's Telnet client. Purely reactive: we never
/// start a negotiation, we answer the peer's.
///
/// - Peer's `WILL ECHO` / `WILL SGA`: accepted with `DO`. Any other `WILL`:
///   refused with `DONT`.
/// - Peer's `DO SGA`, `DO NAWS` (then `SB NAWS` with the configured size) and
///   `DO TERMINAL-TYPE` (then `SB TERMINAL-TYPE IS …` on each `SEND`): accepted
///   with `WILL` when configured. Any other `DO`: refused with `WONT`.
/// - `WONT` / `DONT` for an enabled option: acknowledged (`DONT` / `WONT`);
///   the option is off.
/// - Never loops (RFC 1143's rule): a request that confirms the current state
///   (`WILL` for an enabled option, `WONT` for a disabled one, same for
///   `DO`/`DONT`) gets no answer, so our answers never trigger answers.
///   Beyond RFC 1143, a request we refused once is not answered again (each
///   unknown option is refused exactly once per direction), and an option
///   that a peer flip-flops is answered at most 8 times per direction.
///   Exception: each `DO TIMING-MARK` (RFC 860, a marker rather than a state)
///   gets its `WONT`, up to 32 of them.
#[derive(Clone, Debug)]
pub struct Negotiator {
    config: NegotiationConfig,
    /// Options on the peer's side (its WILL/WONT, our DO/DONT).
    remote: [OptionState; 256],
    /// Options on our side (its DO/DONT, our WILL/WONT).
    local: [OptionState; 256],
    terminal_type_replies: u8,
    timing_mark_replies: u8,
    peer_negotiated: bool,
}

impl Default for Negotiator {
    fn default() -> Self {
        Self::new(NegotiationConfig::default())
    }
}

impl Negotiator {
    /// A negotiator with every option off.
    pub fn new(config: NegotiationConfig) -> Self {
        Negotiator {
            config,
            remote: [OptionState::default(); 256],
            local: [OptionState::default(); 256],
            terminal_type_replies: 0,
            timing_mark_replies: 0,
            peer_negotiated: false,
        }
    }

    /// Whether the peer's side of `opt` is on (it said WILL, we said DO).
    pub fn remote_enabled(&self, opt: Opt) -> bool {
        self.remote[usize::from(opt.0)].enabled
    }

    /// Whether our side of `opt` is on (it said DO, we said WILL).
    pub fn local_enabled(&self, opt: Opt) -> bool {
        self.local[usize::from(opt.0)].enabled
    }

    /// Whether the peer has sent any option negotiation or subnegotiation.
    pub fn peer_negotiated(&self) -> bool {
        self.peer_negotiated
    }

    fn accepts_remote(&self, opt: Opt) -> bool {
        opt == Opt::ECHO || opt == Opt::SGA
    }

    fn supports_local(&self, opt: Opt) -> bool {
        opt == Opt::SGA
            || (opt == Opt::NAWS && self.config.window_size.is_some())
            || (opt == Opt::TERMINAL_TYPE && !self.config.terminal_types.is_empty())
    }

    /// Our replies to one event from the peer, in order (empty for data,
    /// commands and anything needing no answer).
    pub fn handle(&mut self, event: &Event) -> Vec<Event> {
        match *event {
            Event::Will(opt) => {
                self.peer_negotiated = true;
                let accept = self.accepts_remote(opt);
                enable(&mut self.remote[usize::from(opt.0)], accept)
                    .map(|yes| {
                        if yes {
                            vec![Event::Do(opt)]
                        } else {
                            vec![Event::Dont(opt)]
                        }
                    })
                    .unwrap_or_default()
            }
            Event::Do(Opt::TIMING_MARK) => {
                // RFC 860: a marker the peer waits for, answered every time
                // (refused: we do not insert marks), within a bound.
                self.peer_negotiated = true;
                if self.timing_mark_replies < MAX_TIMING_MARK_REPLIES {
                    self.timing_mark_replies += 1;
                    vec![Event::Wont(Opt::TIMING_MARK)]
                } else {
                    Vec::new()
                }
            }
            Event::Do(opt) => {
                self.peer_negotiated = true;
                let accept = self.supports_local(opt);
                match enable(&mut self.local[usize::from(opt.0)], accept) {
                    Some(true) => {
                        let mut replies = vec![Event::Will(opt)];
                        if opt == Opt::NAWS {
                            replies.extend(self.naws());
                        }
                        replies
                    }
                    Some(false) => vec![Event::Wont(opt)],
                    None => Vec::new(),
                }
            }
            Event::Wont(opt) => {
                self.peer_negotiated = true;
                if disable(&mut self.remote[usize::from(opt.0)]) {
                    vec![Event::Dont(opt)]
                } else {
                    Vec::new()
                }
            }
            Event::Dont(opt) => {
                self.peer_negotiated = true;
                if disable(&mut self.local[usize::from(opt.0)]) {
                    vec![Event::Wont(opt)]
                } else {
                    Vec::new()
                }
            }
            Event::Subnegotiation { opt, ref data, .. } => {
                self.peer_negotiated = true;
                if opt == Opt::TERMINAL_TYPE
                    && data.first() == Some(&TTYPE_SEND)
                    && self.local_enabled(opt)
                {
                    self.terminal_type().into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            Event::Data(_) | Event::Command(_) => Vec::new(),
        }
    }

    fn naws(&self) -> Option<Event> {
        let (cols, rows) = self.config.window_size?;
        let mut data = BytesMut::with_capacity(4);
        data.put_u16(cols);
        data.put_u16(rows);
        Some(Event::Subnegotiation {
            opt: Opt::NAWS,
            data: data.freeze(),
            truncated: false,
        })
    }

    fn terminal_type(&mut self) -> Option<Event> {
        let types = &self.config.terminal_types;
        if types.is_empty() || self.terminal_type_replies >= MAX_TERMINAL_TYPE_REPLIES {
            return None;
        }
        // VT100, DUMB, DUMB (end of list), VT100, …
        let i = usize::from(self.terminal_type_replies) % (types.len() + 1);
        let name = &types[i.min(types.len() - 1)];
        self.terminal_type_replies += 1;
        let mut data = BytesMut::with_capacity(name.len() + 1);
        data.put_u8(TTYPE_IS);
        data.extend_from_slice(name.as_bytes());
        Some(Event::Subnegotiation {
            opt: Opt::TERMINAL_TYPE,
            data: Bytes::from(data),
            truncated: false,
        })
    }
}

/// A request to enable an option: `Some(true)` to accept, `Some(false)` to
/// refuse, `None` for no answer.
fn enable(state: &mut OptionState, accept: bool) -> Option<bool> {
    if state.enabled {
        return None; // confirms the current state
    }
    if accept && state.changes < MAX_CHANGES {
        state.enabled = true;
        state.changes += 1;
        return Some(true);
    }
    if state.refused {
        return None;
    }
    state.refused = true;
    Some(false)
}

/// A demand to disable an option (which must be honoured): whether to
/// acknowledge it.
fn disable(state: &mut OptionState) -> bool {
    if !state.enabled {
        return false; // confirms the current state (or answers our refusal)
    }
    state.enabled = false;
    if state.changes < MAX_CHANGES {
        state.changes += 1;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naws(cols: u16, rows: u16) -> Event {
        let mut data = BytesMut::new();
        data.put_u16(cols);
        data.put_u16(rows);
        Event::Subnegotiation {
            opt: Opt::NAWS,
            data: data.freeze(),
            truncated: false,
        }
    }

    fn ttype(verb: u8, name: &str) -> Event {
        let mut data = vec![verb];
        data.extend_from_slice(name.as_bytes());
        Event::Subnegotiation {
            opt: Opt::TERMINAL_TYPE,
            data: Bytes::from(data),
            truncated: false,
        }
    }

    #[test]
    fn cisco_opening() {
        let mut n = Negotiator::default();
        assert!(!n.peer_negotiated());
        assert_eq!(
            n.handle(&Event::Will(Opt::ECHO)),
            vec![Event::Do(Opt::ECHO)]
        );
        assert_eq!(n.handle(&Event::Will(Opt::SGA)), vec![Event::Do(Opt::SGA)]);
        assert_eq!(
            n.handle(&Event::Do(Opt::TERMINAL_TYPE)),
            vec![Event::Will(Opt::TERMINAL_TYPE)]
        );
        assert_eq!(
            n.handle(&Event::Do(Opt::NAWS)),
            vec![Event::Will(Opt::NAWS), naws(200, 24)]
        );
        assert_eq!(
            n.handle(&ttype(TTYPE_SEND, "")),
            vec![ttype(TTYPE_IS, "VT100")]
        );
        assert!(n.peer_negotiated());
        assert!(n.remote_enabled(Opt::ECHO) && n.remote_enabled(Opt::SGA));
        assert!(n.local_enabled(Opt::NAWS) && n.local_enabled(Opt::TERMINAL_TYPE));
        assert!(!n.local_enabled(Opt::ECHO));
    }

    #[test]
    fn refuses_everything_else_exactly_once() {
        let mut n = Negotiator::default();
        for opt in [
            Opt::BINARY,
            Opt::LINEMODE,
            Opt::NEW_ENVIRON,
            Opt(200),
            Opt(255),
        ] {
            assert_eq!(n.handle(&Event::Will(opt)), vec![Event::Dont(opt)]);
            assert_eq!(n.handle(&Event::Will(opt)), vec![]);
            assert_eq!(n.handle(&Event::Do(opt)), vec![Event::Wont(opt)]);
            assert_eq!(n.handle(&Event::Do(opt)), vec![]);
            // The peer's confirmation of our refusal gets no answer.
            assert_eq!(n.handle(&Event::Wont(opt)), vec![]);
            assert_eq!(n.handle(&Event::Dont(opt)), vec![]);
            assert!(!n.remote_enabled(opt) && !n.local_enabled(opt));
        }
        // We do not echo for the peer, nor let it be a terminal type server.
        assert_eq!(
            n.handle(&Event::Do(Opt::ECHO)),
            vec![Event::Wont(Opt::ECHO)]
        );
        assert_eq!(
            n.handle(&Event::Will(Opt::TERMINAL_TYPE)),
            vec![Event::Dont(Opt::TERMINAL_TYPE)]
        );
    }

    #[test]
    fn repeated_will_echo_is_not_answered() {
        let mut n = Negotiator::default();
        assert_eq!(
            n.handle(&Event::Will(Opt::ECHO)),
            vec![Event::Do(Opt::ECHO)]
        );
        for _ in 0..100 {
            assert_eq!(n.handle(&Event::Will(Opt::ECHO)), vec![]);
        }
        assert!(n.remote_enabled(Opt::ECHO));
    }

    #[test]
    fn flip_flops_are_acknowledged_then_bounded() {
        let mut n = Negotiator::default();
        let mut replies = 0;
        for _ in 0..100 {
            replies += n.handle(&Event::Will(Opt::ECHO)).len();
            replies += n.handle(&Event::Wont(Opt::ECHO)).len();
        }
        // 8 answered changes, then the next enable is refused once.
        assert_eq!(replies, usize::from(MAX_CHANGES) + 1);
        assert!(!n.remote_enabled(Opt::ECHO));
        // The first flips follow RFC 1143 exactly.
        let mut n = Negotiator::default();
        assert_eq!(n.handle(&Event::Will(Opt::SGA)), vec![Event::Do(Opt::SGA)]);
        assert_eq!(
            n.handle(&Event::Wont(Opt::SGA)),
            vec![Event::Dont(Opt::SGA)]
        );
        assert_eq!(n.handle(&Event::Wont(Opt::SGA)), vec![]);
        assert_eq!(n.handle(&Event::Will(Opt::SGA)), vec![Event::Do(Opt::SGA)]);
        assert_eq!(n.handle(&Event::Do(Opt::SGA)), vec![Event::Will(Opt::SGA)]);
        assert_eq!(
            n.handle(&Event::Dont(Opt::SGA)),
            vec![Event::Wont(Opt::SGA)]
        );
        assert_eq!(n.handle(&Event::Dont(Opt::SGA)), vec![]);
    }

    /// Two of our negotiators facing each other, fed each other's replies,
    /// settle: no loop whatever the first request.
    #[test]
    fn two_negotiators_never_loop() {
        for opt in (0..=255).map(Opt) {
            for first in [
                Event::Will(opt),
                Event::Wont(opt),
                Event::Do(opt),
                Event::Dont(opt),
            ] {
                let (mut a, mut b) = (Negotiator::default(), Negotiator::default());
                let mut to_a = vec![first.clone()];
                let mut rounds = 0;
                while !to_a.is_empty() {
                    rounds += 1;
                    assert!(rounds < 10, "{first:?} loops");
                    let to_b: Vec<Event> = to_a.iter().flat_map(|e| a.handle(e)).collect();
                    to_a = to_b.iter().flat_map(|e| b.handle(e)).collect();
                }
            }
        }
    }

    #[test]
    fn terminal_types_cycle_per_rfc_1091() {
        let mut n = Negotiator::default();
        assert_eq!(n.handle(&ttype(TTYPE_SEND, "")), vec![], "not enabled yet");
        n.handle(&Event::Do(Opt::TERMINAL_TYPE));
        let names: Vec<Event> = (0..4)
            .flat_map(|_| n.handle(&ttype(TTYPE_SEND, "")))
            .collect();
        assert_eq!(
            names,
            vec![
                ttype(TTYPE_IS, "VT100"),
                ttype(TTYPE_IS, "DUMB"),
                ttype(TTYPE_IS, "DUMB"),
                ttype(TTYPE_IS, "VT100"),
            ]
        );
        // A flood of SEND is answered a bounded number of times.
        let more: usize = (0..1000)
            .map(|_| n.handle(&ttype(TTYPE_SEND, "")).len())
            .sum();
        assert_eq!(more, usize::from(MAX_TERMINAL_TYPE_REPLIES) - 4);
        // IS from the peer is no request.
        assert_eq!(n.handle(&ttype(TTYPE_IS, "xterm")), vec![]);
    }

    #[test]
    fn configured_off_refuses_naws_and_terminal_type() {
        let mut n = Negotiator::new(NegotiationConfig {
            window_size: None,
            terminal_types: Vec::new(),
        });
        assert_eq!(
            n.handle(&Event::Do(Opt::NAWS)),
            vec![Event::Wont(Opt::NAWS)]
        );
        assert_eq!(
            n.handle(&Event::Do(Opt::TERMINAL_TYPE)),
            vec![Event::Wont(Opt::TERMINAL_TYPE)]
        );
        assert_eq!(n.handle(&Event::Do(Opt::SGA)), vec![Event::Will(Opt::SGA)]);
    }

    #[test]
    fn data_and_commands_need_no_answer() {
        let mut n = Negotiator::default();
        assert_eq!(n.handle(&Event::Data(Bytes::from_static(b"x"))), vec![]);
        assert_eq!(n.handle(&Event::Command(super::super::cmd::AYT)), vec![]);
        assert!(!n.peer_negotiated());
    }

    #[test]
    fn every_timing_mark_is_answered_within_a_bound() {
        let mut n = Negotiator::default();
        for _ in 0..MAX_TIMING_MARK_REPLIES {
            assert_eq!(
                n.handle(&Event::Do(Opt::TIMING_MARK)),
                vec![Event::Wont(Opt::TIMING_MARK)]
            );
        }
        assert_eq!(n.handle(&Event::Do(Opt::TIMING_MARK)), vec![]);
        assert!(!n.local_enabled(Opt::TIMING_MARK));
    }
}
