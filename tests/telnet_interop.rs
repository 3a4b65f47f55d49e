//! `TelnetStream` against a real inetutils `telnetd` with `/bin/login`, on a
//! loopback address given by `REACHD_TELNETD_ADDR` (e.g. `127.0.0.1:2323`,
//! telnetd started per connection by an inetd). Ignored by default: run with
//! `cargo test --test telnet_interop -- --ignored` once telnetd is up.

use std::time::Duration;

use reachd::probe::telnet::protocol::{Opt, TelnetStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_until<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut TelnetStream<S>,
    needle: &str,
) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !String::from_utf8_lossy(&got).contains(needle) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "EOF after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .is_err()
    {
        panic!(
            "no {needle:?} from telnetd, got {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
#[ignore = "needs inetutils telnetd on REACHD_TELNETD_ADDR"]
async fn inetutils_telnetd_login_prompt_and_wrong_password() {
    let addr = std::env::var("REACHD_TELNETD_ADDR").expect("REACHD_TELNETD_ADDR");
    assert!(
        addr.starts_with("127."),
        "interop tests talk to loopback only"
    );
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let mut telnet = TelnetStream::new(tcp);
    let banner = read_until(&mut telnet, "login: ").await;
    assert!(!banner.contains('\u{fffd}'), "no IAC leaked: {banner:?}");
    assert!(telnet.peer_negotiated());
    assert!(telnet.negotiator().remote_enabled(Opt::ECHO));
    assert!(telnet.negotiator().remote_enabled(Opt::SGA));
    telnet.write_all(b"reachd-no-such-user\r\n").await.unwrap();
    read_until(&mut telnet, "Password: ").await;
    telnet.write_all(b"wrong\r\n").await.unwrap();
    read_until(&mut telnet, "Login incorrect").await;
}
