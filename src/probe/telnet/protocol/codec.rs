//! The Telnet byte codec: wire bytes ⇄ [`Event`]s.

use std::io;

use tokio_util::bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::Opt;
use super::cmd::{DO, DONT, IAC, SB, SE, WILL, WONT};

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const NUL: u8 = 0;

/// Subnegotiation parameters kept per `SB … IAC SE`; the rest is dropped.
pub const DEFAULT_MAX_SUBNEGOTIATION: usize = 4096;

/// What the peer said, or what we say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Application data, unescaped: `IAC IAC` became one 255 byte and
    /// `CR NUL` a bare CR; `CR LF` stays `CR LF`. A chunk, not a line: the
    /// decoder emits whatever data it has when the input runs out.
    Data(Bytes),
    /// `IAC WILL opt`.
    Will(Opt),
    /// `IAC WONT opt`.
    Wont(Opt),
    /// `IAC DO opt`.
    Do(Opt),
    /// `IAC DONT opt`.
    Dont(Opt),
    /// `IAC SB opt data… IAC SE`, `data` unescaped. `truncated` when the peer
    /// sent more than the codec keeps (the rest was dropped); ignored when
    /// encoding.
    Subnegotiation {
        /// The option the parameters belong to.
        opt: Opt,
        /// The parameters, at most the codec's cap.
        data: Bytes,
        /// Whether parameters beyond the cap were dropped.
        truncated: bool,
    },
    /// Any other `IAC x`: NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, a stray SE,
    /// or a byte that is no command at all (below 240).
    Command(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Plain data.
    Data,
    /// Data, and the last data byte was a CR: a NUL right after it is padding.
    Cr,
    /// Seen IAC in data.
    Iac,
    /// Seen IAC WILL/WONT/DO/DONT, waiting for the option byte.
    Verb(u8),
    /// Seen IAC SB, waiting for the option byte.
    SbOpt,
    /// Inside a subnegotiation.
    Sb,
    /// Seen IAC inside a subnegotiation.
    SbIac,
}

/// Telnet codec: [`Decoder`] of wire bytes into [`Event`]s, [`Encoder`] of
/// [`Event`]s into wire bytes.
///
/// The decoder consumes every byte it is given (so a `FramedRead` buffer never
/// grows on its account), never fails and never panics. What it keeps between
/// calls is bounded: the protocol state, at most one pending event, one data
/// chunk no larger than the input of the current call, and one subnegotiation
/// of at most [`TelnetCodec::max_subnegotiation`] bytes.
#[derive(Debug)]
pub struct TelnetCodec {
    state: State,
    /// Data decoded in this call, emitted before the next event or when the
    /// input runs out.
    data: BytesMut,
    /// An event decoded while data was pending: returned by the next call.
    pending: Option<Event>,
    sb_opt: Opt,
    sb: BytesMut,
    sb_truncated: bool,
    max_sb: usize,
}

impl Default for TelnetCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl TelnetCodec {
    /// A codec keeping at most [`DEFAULT_MAX_SUBNEGOTIATION`] bytes of a
    /// subnegotiation.
    pub fn new() -> Self {
        Self::with_max_subnegotiation(DEFAULT_MAX_SUBNEGOTIATION)
    }

    /// A codec keeping at most `max` bytes of a subnegotiation's parameters.
    pub fn with_max_subnegotiation(max: usize) -> Self {
        TelnetCodec {
            state: State::Data,
            data: BytesMut::new(),
            pending: None,
            sb_opt: Opt(0),
            sb: BytesMut::new(),
            sb_truncated: false,
            max_sb: max,
        }
    }

    /// The subnegotiation cap.
    pub fn max_subnegotiation(&self) -> usize {
        self.max_sb
    }

    /// Bytes of memory the decoder holds between calls (buffer capacities).
    pub fn buffered_capacity(&self) -> usize {
        self.data.capacity() + self.sb.capacity()
    }

    /// Appends `data` to `dst` as Telnet NVT data: 255 is doubled (`IAC IAC`),
    /// a CR followed by LF goes as `CR LF`, any other CR as `CR NUL` (so a CR
    /// at the end of `data` also goes as `CR NUL`; the receiver still reads
    /// `CR LF` if the next write starts with LF). Lines should end `\r\n`.
    pub fn encode_data(data: &[u8], dst: &mut BytesMut) {
        dst.reserve(data.len() + data.len() / 8 + 2);
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest
                .iter()
                .position(|&b| b == IAC || b == CR)
                .unwrap_or(rest.len());
            dst.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            match rest {
                [] => {}
                [IAC, ..] => dst.extend_from_slice(&[IAC, IAC]),
                [CR, LF, ..] => dst.put_u8(CR),
                _ => dst.extend_from_slice(&[CR, NUL]),
            }
            if !rest.is_empty() {
                rest = &rest[1..];
            }
        }
    }

    /// Appends `event` to `dst` as wire bytes (what the [`Encoder`] does,
    /// without taking the event by value).
    pub fn encode_event(event: &Event, dst: &mut BytesMut) {
        match event {
            Event::Data(data) => Self::encode_data(data, dst),
            Event::Will(opt) => dst.extend_from_slice(&[IAC, WILL, opt.0]),
            Event::Wont(opt) => dst.extend_from_slice(&[IAC, WONT, opt.0]),
            Event::Do(opt) => dst.extend_from_slice(&[IAC, DO, opt.0]),
            Event::Dont(opt) => dst.extend_from_slice(&[IAC, DONT, opt.0]),
            Event::Subnegotiation { opt, data, .. } => {
                dst.reserve(data.len() + 6);
                dst.extend_from_slice(&[IAC, SB, opt.0]);
                for &b in data.iter() {
                    if b == IAC {
                        dst.put_u8(IAC);
                    }
                    dst.put_u8(b);
                }
                dst.extend_from_slice(&[IAC, SE]);
            }
            Event::Command(c) => dst.extend_from_slice(&[IAC, *c]),
        }
    }

    fn take_data(&mut self) -> Option<Event> {
        if self.data.is_empty() {
            None
        } else {
            Some(Event::Data(self.data.split().freeze()))
        }
    }

    /// Returns `event`, after the pending data if there is any.
    fn emit(&mut self, event: Event) -> Option<Event> {
        match self.take_data() {
            Some(data) => {
                self.pending = Some(event);
                Some(data)
            }
            None => Some(event),
        }
    }

    fn sb_push(&mut self, bytes: &[u8]) {
        let room = self.max_sb.saturating_sub(self.sb.len());
        if bytes.len() > room {
            self.sb_truncated = true;
        }
        self.sb.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn take_subnegotiation(&mut self) -> Event {
        let data = self.sb.split().freeze();
        Event::Subnegotiation {
            opt: self.sb_opt,
            data,
            truncated: std::mem::take(&mut self.sb_truncated),
        }
    }
}

impl Decoder for TelnetCodec {
    type Item = Event;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Event>> {
        if let Some(event) = self.pending.take() {
            return Ok(Some(event));
        }
        loop {
            let Some(&b) = src.first() else {
                return Ok(self.take_data());
            };
            match self.state {
                State::Data => {
                    let n = src
                        .iter()
                        .position(|&b| b == IAC || b == CR)
                        .unwrap_or(src.len());
                    if n > 0 {
                        self.data.extend_from_slice(&src[..n]);
                        src.advance(n);
                        continue;
                    }
                    src.advance(1);
                    if b == CR {
                        self.data.put_u8(CR);
                        self.state = State::Cr;
                    } else {
                        self.state = State::Iac;
                    }
                }
                State::Cr => {
                    if b == NUL {
                        src.advance(1);
                    }
                    self.state = State::Data;
                }
                State::Iac => {
                    src.advance(1);
                    self.state = State::Data;
                    match b {
                        IAC => self.data.put_u8(IAC),
                        WILL | WONT | DO | DONT => self.state = State::Verb(b),
                        SB => self.state = State::SbOpt,
                        other => return Ok(self.emit(Event::Command(other))),
                    }
                }
                State::Verb(verb) => {
                    src.advance(1);
                    self.state = State::Data;
                    let opt = Opt(b);
                    let event = match verb {
                        WILL => Event::Will(opt),
                        WONT => Event::Wont(opt),
                        DO => Event::Do(opt),
                        _ => Event::Dont(opt),
                    };
                    return Ok(self.emit(event));
                }
                State::SbOpt => {
                    src.advance(1);
                    if b == IAC {
                        // `IAC SB IAC …`: no option; treat the IAC as a fresh
                        // command start.
                        self.state = State::Iac;
                    } else {
                        self.sb_opt = Opt(b);
                        self.sb.clear();
                        self.sb_truncated = false;
                        self.state = State::Sb;
                    }
                }
                State::Sb => {
                    let n = src.iter().position(|&b| b == IAC).unwrap_or(src.len());
                    self.sb_push(&src[..n]);
                    src.advance(n);
                    if !src.is_empty() {
                        src.advance(1);
                        self.state = State::SbIac;
                    }
                }
                State::SbIac => match b {
                    IAC => {
                        src.advance(1);
                        self.sb_push(&[IAC]);
                        self.state = State::Sb;
                    }
                    SE => {
                        src.advance(1);
                        self.state = State::Data;
                        let event = self.take_subnegotiation();
                        return Ok(self.emit(event));
                    }
                    _ => {
                        // Protocol error (RFC 854 allows only IAC IAC and
                        // IAC SE here): end the subnegotiation and read the
                        // byte as the command after an IAC, as BSD telnetd.
                        self.state = State::Iac;
                        let event = self.take_subnegotiation();
                        return Ok(self.emit(event));
                    }
                },
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Event>> {
        // An incomplete command or subnegotiation at the end is dropped.
        self.decode(src)
    }
}

impl Encoder<Event> for TelnetCodec {
    type Error = io::Error;

    fn encode(&mut self, event: Event, dst: &mut BytesMut) -> io::Result<()> {
        Self::encode_event(&event, dst);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::cmd::*;
    use super::*;

    /// Decodes `chunks` fed one after the other into one buffer, as a
    /// `FramedRead` would, then at EOF.
    fn decode_chunks(codec: &mut TelnetCodec, chunks: &[&[u8]]) -> Vec<Event> {
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(event) = codec.decode(&mut buf).unwrap() {
                events.push(event);
            }
            assert!(buf.is_empty(), "the decoder consumes all its input");
        }
        while let Some(event) = codec.decode_eof(&mut buf).unwrap() {
            events.push(event);
        }
        events
    }

    fn decode_all(input: &[u8]) -> Vec<Event> {
        decode_chunks(&mut TelnetCodec::new(), &[input])
    }

    /// Merges adjacent data chunks: chunking is not part of the meaning.
    fn normalize(events: Vec<Event>) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::new();
        for event in events {
            match (out.last_mut(), event) {
                (_, Event::Data(d)) if d.is_empty() => panic!("empty data chunk"),
                (Some(Event::Data(prev)), Event::Data(d)) => {
                    let mut joined = BytesMut::from(&prev[..]);
                    joined.extend_from_slice(&d);
                    *prev = joined.freeze();
                }
                (_, event) => out.push(event),
            }
        }
        out
    }

    fn data(s: &[u8]) -> Event {
        Event::Data(Bytes::copy_from_slice(s))
    }

    /// Cisco IOS's opening on a vty line with `login local`.
    pub(crate) const CISCO_IOS: &[u8] = b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x18\xff\xfd\x1f\r\n\r\nUser Access Verification\r\n\r\nUsername: ";
    /// inetutils telnetd: terminal-type dance, then the banner and login.
    pub(crate) const INETUTILS: &[u8] = b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27\xff\xfa\x18\x01\xff\xf0\xff\xfb\x03\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x05\xff\xfd\x21\xff\xfb\x01\r\nDebian GNU/Linux 12\r\n\r\nlab login: ";

    fn corpus() -> Vec<Vec<u8>> {
        let mut corpus: Vec<Vec<u8>> = vec![
            CISCO_IOS.to_vec(),
            INETUTILS.to_vec(),
            // Password-only vty line.
            b"\xff\xfb\x01\xff\xfb\x03\r\n\r\nUser Access Verification\r\n\r\nPassword: ".to_vec(),
            // Data with escaped 255, CR NUL, CR LF, GA after a prompt.
            b"a\xff\xffb\r\0c\r\nrouter>\xff\xf9".to_vec(),
            // Subnegotiation with an escaped IAC and a NAWS-like payload.
            b"\xff\xfa\x1f\x00\xff\xff\x00\x18\xff\xf0ok".to_vec(),
            // Adversarial: malformed SB end, stray SE, IAC before non-commands,
            // truncated command at the end.
            b"x\xff\xfa\x18\x01\xff\xfb\x01y\xff\xf0\xff\x41z\xff\xfa\xff\xfb\x03\r\r\0\r\xff"
                .to_vec(),
            // Every byte value.
            (0..=255u8).collect(),
        ];
        // An IAC NOP/AYT/GA storm between data.
        let mut storm = b"before".to_vec();
        for i in 0..200 {
            storm.extend_from_slice(&[IAC, [NOP, AYT, GA][i % 3]]);
        }
        storm.extend_from_slice(b"after");
        corpus.push(storm);
        corpus
    }

    #[test]
    fn cisco_opening() {
        assert_eq!(
            normalize(decode_all(CISCO_IOS)),
            vec![
                Event::Will(Opt::ECHO),
                Event::Will(Opt::SGA),
                Event::Do(Opt::TERMINAL_TYPE),
                Event::Do(Opt::NAWS),
                data(b"\r\n\r\nUser Access Verification\r\n\r\nUsername: "),
            ]
        );
    }

    #[test]
    fn inetutils_opening() {
        let events = normalize(decode_all(INETUTILS));
        assert_eq!(events.len(), 12, "{events:?}");
        assert_eq!(
            events[4],
            Event::Subnegotiation {
                opt: Opt::TERMINAL_TYPE,
                data: Bytes::from_static(&[1]),
                truncated: false
            }
        );
        assert_eq!(
            events[11],
            data(b"\r\nDebian GNU/Linux 12\r\n\r\nlab login: ")
        );
    }

    #[test]
    fn every_split_gives_the_same_events() {
        for input in corpus() {
            let whole = normalize(decode_all(&input));
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                let split = normalize(decode_chunks(&mut TelnetCodec::new(), &[a, b]));
                assert_eq!(split, whole, "cut at {cut} of {input:?}");
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            let single = normalize(decode_chunks(&mut TelnetCodec::new(), &bytes));
            assert_eq!(single, whole, "single bytes of {input:?}");
            // And every pair of cuts on the smaller inputs.
            if input.len() <= 80 {
                for i in 0..=input.len() {
                    for j in i..=input.len() {
                        let parts = [&input[..i], &input[i..j], &input[j..]];
                        let split = normalize(decode_chunks(&mut TelnetCodec::new(), &parts));
                        assert_eq!(split, whole, "cuts at {i},{j}");
                    }
                }
            }
        }
    }

    #[test]
    fn adversarial_corpus_decodes_as_specified() {
        let input = &corpus()[5];
        assert_eq!(
            normalize(decode_all(input)),
            vec![
                data(b"x"),
                Event::Subnegotiation {
                    opt: Opt::TERMINAL_TYPE,
                    data: Bytes::from_static(&[1]),
                    truncated: false
                },
                Event::Will(Opt::ECHO),
                data(b"y"),
                Event::Command(SE),
                Event::Command(0x41),
                data(b"z"),
                Event::Will(Opt::SGA),
                data(b"\r\r\r"),
            ]
        );
    }

    #[test]
    fn iac_iac_is_one_255_both_ways() {
        assert_eq!(
            normalize(decode_all(b"\xff\xff\xff\xff")),
            vec![data(b"\xff\xff")]
        );
        let mut wire = BytesMut::new();
        TelnetCodec::encode_data(b"a\xffb\xff", &mut wire);
        assert_eq!(&wire[..], b"a\xff\xffb\xff\xff");
        assert_eq!(normalize(decode_all(&wire)), vec![data(b"a\xffb\xff")]);
    }

    #[test]
    fn cr_handling() {
        assert_eq!(normalize(decode_all(b"a\r\0b")), vec![data(b"a\rb")]);
        assert_eq!(normalize(decode_all(b"a\r\nb")), vec![data(b"a\r\nb")]);
        // A NUL not after a CR is data; only the first NUL after CR is padding.
        assert_eq!(normalize(decode_all(b"\0\r\0\0")), vec![data(b"\0\r\0")]);
        // CR then a command: the NUL after the command is data.
        assert_eq!(
            normalize(decode_all(b"\r\xff\xf1\0")),
            vec![data(b"\r"), Event::Command(NOP), data(b"\0")]
        );
        let mut wire = BytesMut::new();
        TelnetCodec::encode_data(b"show ver\r\nx\ry\r", &mut wire);
        assert_eq!(&wire[..], b"show ver\r\nx\r\0y\r\0");
        let mut wire = BytesMut::new();
        TelnetCodec::encode_data(b"\n\n\r\r\n", &mut wire);
        assert_eq!(&wire[..], b"\n\n\r\0\r\n");
    }

    #[test]
    fn data_is_emitted_without_waiting_for_a_newline() {
        let mut codec = TelnetCodec::new();
        let mut buf = BytesMut::from(&b"router#"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(data(b"router#")));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        // A CR is not held back either.
        let mut buf = BytesMut::from(&b"x\r"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(data(b"x\r")));
    }

    #[test]
    fn subnegotiation_split_across_reads() {
        let wire: &[u8] = b"\xff\xfa\x18\x00VT\xff\xff100\xff\xf0";
        let expected = vec![Event::Subnegotiation {
            opt: Opt::TERMINAL_TYPE,
            data: Bytes::from_static(b"\x00VT\xff100"),
            truncated: false,
        }];
        for cut in 0..=wire.len() {
            let (a, b) = wire.split_at(cut);
            assert_eq!(decode_chunks(&mut TelnetCodec::new(), &[a, b]), expected);
        }
    }

    #[test]
    fn encoder_round_trips_events() {
        let events = vec![
            Event::Will(Opt::NAWS),
            Event::Subnegotiation {
                opt: Opt::NAWS,
                data: Bytes::from_static(&[0, 255, 0, 24]),
                truncated: false,
            },
            Event::Wont(Opt(200)),
            Event::Do(Opt::ECHO),
            Event::Dont(Opt(255)),
            Event::Command(NOP),
            data(b"hello\xff\r\n\r"),
        ];
        let mut codec = TelnetCodec::new();
        let mut wire = BytesMut::new();
        for event in &events {
            codec.encode(event.clone(), &mut wire).unwrap();
        }
        assert_eq!(normalize(decode_all(&wire)), events);
    }

    #[test]
    fn endless_subnegotiation_is_truncated_in_bounded_memory() {
        let mut codec = TelnetCodec::with_max_subnegotiation(64);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[IAC, SB, 24]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        let chunk = [b'A'; 4096];
        for _ in 0..1000 {
            buf.extend_from_slice(&chunk);
            buf.extend_from_slice(&[IAC, IAC]);
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
            assert!(buf.is_empty());
            assert!(
                codec.buffered_capacity() <= 256,
                "{}",
                codec.buffered_capacity()
            );
        }
        buf.extend_from_slice(&[IAC, SE]);
        buf.extend_from_slice(b"ok");
        let Some(Event::Subnegotiation {
            opt,
            data: d,
            truncated,
        }) = codec.decode(&mut buf).unwrap()
        else {
            panic!("expected the subnegotiation");
        };
        assert_eq!((opt, d.len(), truncated), (Opt::TERMINAL_TYPE, 64, true));
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(data(b"ok")));
        // The next subnegotiation starts afresh.
        buf.extend_from_slice(b"\xff\xfa\x1f\x01\xff\xf0");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Event::Subnegotiation {
                opt: Opt::NAWS,
                data: Bytes::from_static(&[1]),
                truncated: false
            })
        );
    }

    #[test]
    fn iac_storm_does_not_grow_memory() {
        let mut codec = TelnetCodec::new();
        let mut buf = BytesMut::with_capacity(8192);
        let cap = buf.capacity();
        let mut commands = 0;
        let mut sent = 0;
        while sent < 100_000 {
            // Fill the buffer as a FramedRead does, then drain it.
            while buf.len() + 2 <= cap && sent < 100_000 {
                buf.extend_from_slice(&[IAC, NOP]);
                sent += 1;
            }
            while let Some(event) = codec.decode(&mut buf).unwrap() {
                assert_eq!(event, Event::Command(NOP));
                commands += 1;
            }
            assert!(buf.is_empty());
            buf.reserve(cap);
            assert_eq!(buf.capacity(), cap, "the read buffer is reused, not grown");
            assert_eq!(codec.buffered_capacity(), 0);
        }
        assert_eq!(commands, 100_000);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes_never_panic_and_split_invariant(
                input in proptest::collection::vec(any::<u8>(), 0..512),
                cut in any::<proptest::sample::Index>(),
            ) {
                let whole = normalize(decode_all(&input));
                let cut = cut.index(input.len() + 1);
                let (a, b) = input.split_at(cut);
                prop_assert_eq!(normalize(decode_chunks(&mut TelnetCodec::new(), &[a, b])), whole);
            }

            #[test]
            fn iac_heavy_bytes_never_panic(
                raw in proptest::collection::vec(any::<u8>(), 0..512),
            ) {
                // Half the bytes drawn from the protocol's special ones.
                const SPECIAL: [u8; 8] = [IAC, SB, SE, WILL, DO, b'\r', 0, IAC];
                let input: Vec<u8> = raw
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| if i % 2 == 0 { SPECIAL[usize::from(b % 8)] } else { b })
                    .collect();
                let mut codec = TelnetCodec::with_max_subnegotiation(16);
                let events = decode_chunks(&mut codec, &[&input]);
                for event in events {
                    if let Event::Subnegotiation { data, .. } = event {
                        prop_assert!(data.len() <= 16);
                    }
                }
            }

            #[test]
            fn data_round_trips_through_the_encoder(
                chunks in proptest::collection::vec(
                    proptest::collection::vec(any::<u8>(), 0..64),
                    0..8),
            ) {
                // Most bytes drawn from IAC, CR, LF and NUL.
                const SPECIAL: [u8; 4] = [IAC, b'\r', b'\n', 0];
                let chunks: Vec<Vec<u8>> = chunks
                    .iter()
                    .map(|c| c.iter().map(|&b| if b < 192 { SPECIAL[usize::from(b % 4)] } else { b }).collect())
                    .collect();
                let mut codec = TelnetCodec::new();
                let mut wire = BytesMut::new();
                let mut expected = Vec::new();
                for chunk in &chunks {
                    codec.encode(Event::Data(Bytes::copy_from_slice(chunk)), &mut wire).unwrap();
                    expected.extend_from_slice(chunk);
                }
                let decoded: Vec<u8> = decode_all(&wire)
                    .into_iter()
                    .flat_map(|event| match event {
                        Event::Data(d) => d.to_vec(),
                        other => panic!("unexpected {other:?}"),
                    })
                    .collect();
                prop_assert_eq!(decoded, expected);
            }
        }
    }
}
