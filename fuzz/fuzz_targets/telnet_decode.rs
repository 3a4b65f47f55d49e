//! `cargo +nightly fuzz run telnet_decode`: arbitrary bytes, split at an
//! arbitrary point, through the Telnet decoder and the negotiation policy;
//! the same bytes as data through the encoder and back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

#[path = "../../src/probe/telnet/protocol/mod.rs"]
#[allow(dead_code, unused_imports)]
mod telnet;

use telnet::{Event, Negotiator, TelnetCodec};

const MAX_SB: usize = 64;

fn decode(parts: &[&[u8]]) -> Vec<Event> {
    let mut codec = TelnetCodec::with_max_subnegotiation(MAX_SB);
    let mut buf = BytesMut::new();
    let mut events: Vec<Event> = Vec::new();
    let push = |event: Event, events: &mut Vec<Event>| match (events.last_mut(), event) {
        (_, Event::Data(d)) if d.is_empty() => panic!("empty data chunk"),
        (Some(Event::Data(prev)), Event::Data(d)) => {
            let mut joined = BytesMut::from(&prev[..]);
            joined.extend_from_slice(&d);
            *prev = joined.freeze();
        }
        (_, event) => events.push(event),
    };
    for part in parts {
        buf.extend_from_slice(part);
        while let Some(event) = codec.decode(&mut buf).unwrap() {
            push(event, &mut events);
        }
        assert!(buf.is_empty());
        assert!(codec.buffered_capacity() <= 4 * MAX_SB + 2 * part.len() + 64);
    }
    while let Some(event) = codec.decode_eof(&mut buf).unwrap() {
        push(event, &mut events);
    }
    events
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, input)) = input.split_first() else {
        return;
    };
    let cut = usize::from(cut) * input.len() / 256;
    let whole = decode(&[input]);
    let (a, b) = input.split_at(cut);
    assert_eq!(decode(&[a, b]), whole);

    let mut negotiator = Negotiator::default();
    let mut replies = 0;
    for event in &whole {
        if let Event::Subnegotiation { data, .. } = event {
            assert!(data.len() <= MAX_SB);
        }
        replies += negotiator.handle(event).len();
    }
    // Bounded: per option and direction at most 9 answers (+ NAWS), plus
    // terminal types and timing marks.
    assert!(replies <= 2 * 256 * 10 + 16 + 32);

    let mut wire = BytesMut::new();
    TelnetCodec::new()
        .encode(
            Event::Data(tokio_util::bytes::Bytes::copy_from_slice(input)),
            &mut wire,
        )
        .unwrap();
    let back: Vec<u8> = decode(&[&wire])
        .into_iter()
        .flat_map(|event| match event {
            Event::Data(d) => d.to_vec(),
            other => panic!("encoded data decoded to {other:?}"),
        })
        .collect();
    assert_eq!(back, input);
});
