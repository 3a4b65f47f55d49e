//! `TelnetStream` over loopback TCP against a scripted Cisco-like device that
//! speaks through `Framed<TcpStream, TelnetCodec>`: the codec on both ends.

use futures::{SinkExt, StreamExt};
use reachd::probe::telnet::protocol::{Event, Opt, TelnetCodec, TelnetStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::bytes::Bytes;
use tokio_util::codec::Framed;

type Device = Framed<TcpStream, TelnetCodec>;

async fn send(device: &mut Device, events: Vec<Event>) {
    for event in events {
        device.feed(event).await.unwrap();
    }
    device.flush().await.unwrap();
}

fn text(s: &str) -> Event {
    Event::Data(Bytes::copy_from_slice(s.as_bytes()))
}

/// The device's side: collects events until the data received ends with
/// `suffix`; returns the negotiation events and the data.
async fn expect_line(device: &mut Device, suffix: &[u8]) -> (Vec<Event>, Vec<u8>) {
    let mut events = Vec::new();
    let mut data = Vec::new();
    while !data.ends_with(suffix) {
        match device.next().await {
            Some(Ok(Event::Data(d))) => data.extend_from_slice(&d),
            Some(Ok(event)) => events.push(event),
            other => panic!("device: {other:?} after {data:?}"),
        }
    }
    (events, data)
}

/// The client's side: reads until the data ends with `suffix`.
async fn read_until<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut TelnetStream<S>,
    suffix: &[u8],
) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(suffix) {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "EOF after {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

async fn fake_ios(mut device: Device) {
    send(
        &mut device,
        vec![
            Event::Will(Opt::ECHO),
            Event::Will(Opt::SGA),
            Event::Do(Opt::TERMINAL_TYPE),
            Event::Do(Opt::NAWS),
            text("\r\n\r\nUser Access Verification\r\n\r\nUsername: "),
        ],
    )
    .await;
    let (events, user) = expect_line(&mut device, b"\r\n").await;
    assert_eq!(user, b"admin\r\n");
    assert_eq!(
        events,
        vec![
            Event::Do(Opt::ECHO),
            Event::Do(Opt::SGA),
            Event::Will(Opt::TERMINAL_TYPE),
            Event::Will(Opt::NAWS),
            Event::Subnegotiation {
                opt: Opt::NAWS,
                data: Bytes::from_static(&[0, 200, 0, 24]),
                truncated: false,
            },
        ]
    );
    // Terminal type asked late, an unknown option, a repeated WILL ECHO.
    send(
        &mut device,
        vec![
            Event::Subnegotiation {
                opt: Opt::TERMINAL_TYPE,
                data: Bytes::from_static(&[1]),
                truncated: false,
            },
            Event::Will(Opt(200)),
            Event::Will(Opt::ECHO),
            text("Password: "),
        ],
    )
    .await;
    let (events, password) = expect_line(&mut device, b"\r\n").await;
    assert_eq!(password, b"s\xffcr\ret\r\n", "escaping undone by the codec");
    assert_eq!(
        events,
        vec![
            Event::Subnegotiation {
                opt: Opt::TERMINAL_TYPE,
                data: Bytes::from_static(b"\x00VT100"),
                truncated: false,
            },
            Event::Dont(Opt(200)),
        ]
    );
    send(
        &mut device,
        vec![
            text("\r\n"),
            Event::Command(reachd::probe::telnet::protocol::cmd::GA),
            Event::Data(Bytes::from_static(b"banner \xff\r\nrouter>")),
        ],
    )
    .await;
    let (events, exit) = expect_line(&mut device, b"\r\n").await;
    assert_eq!((events, exit), (vec![], b"exit\r\n".to_vec()));
}

#[tokio::test]
async fn login_dialogue_over_loopback_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let device = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        fake_ios(Framed::new(socket, TelnetCodec::new())).await;
    });

    let mut stream = TelnetStream::new(TcpStream::connect(addr).await.unwrap());
    let banner = read_until(&mut stream, b"Username: ").await;
    assert_eq!(
        banner,
        b"\r\n\r\nUser Access Verification\r\n\r\nUsername: "
    );
    assert!(stream.peer_negotiated());
    stream.write_all(b"admin\r\n").await.unwrap();
    assert_eq!(read_until(&mut stream, b"Password: ").await, b"Password: ");
    stream.write_all(b"s\xffcr\ret\r\n").await.unwrap();
    let prompt = read_until(&mut stream, b"router>").await;
    assert_eq!(prompt, b"\r\nbanner \xff\r\nrouter>");
    assert!(stream.negotiator().remote_enabled(Opt::ECHO));
    assert!(stream.negotiator().local_enabled(Opt::NAWS));
    assert!(!stream.negotiator().remote_enabled(Opt(200)));
    stream.write_all(b"exit\r\n").await.unwrap();
    device.await.unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"");
    stream.shutdown().await.unwrap();
}
