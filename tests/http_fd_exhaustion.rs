//! The HTTP server out of file descriptors: accepting fails with EMFILE,
//! reachd counts it, backs off (no busy loop) and serves again once
//! descriptors are free. Its own test binary: it lowers this process's
//! RLIMIT_NOFILE. Loopback only.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use reachd::http::server::{Limits, Live, ServerMetrics, serve};
use reachd::http::web_config::WebConfig;
use reachd::http::{AppState, router};
use reachd::sink::Sinks;

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

#[test]
fn out_of_fds_the_accept_loop_backs_off_and_recovers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_connections: 64,
            header_timeout: Duration::from_millis(400),
            idle_timeout: Duration::from_millis(400),
            ..Limits::default()
        };
        let metrics = ServerMetrics::register(&prometheus::Registry::new(), &limits);
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let live = Live::new(WebConfig::plain());
        let app = router(AppState::new(
            Sinks::new(),
            Arc::new(AtomicBool::new(true)),
            tx,
            live.clone(),
            false,
        ));
        let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(serve(listener, app, limits, live, metrics.clone(), stop_rx));

        // Forty connections from another process (its fds are its own),
        // started before this process's limit is lowered.
        let mut clients = Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import socket,sys\n\
                 sys.stdin.readline()\n\
                 s=[socket.create_connection(('127.0.0.1',{port})) for _ in range(40)]\n\
                 print('connected', flush=True)\n\
                 sys.stdin.readline()\n",
                port = addr.port()
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut to_clients = clients.stdin.take().unwrap();
        let mut from_clients = clients.stdout.take().unwrap();

        // Room for a handful of connections only.
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        let low = libc::rlimit {
            rlim_cur: open_fds() + 4,
            rlim_max: lim.rlim_max,
        };
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);

        to_clients.write_all(b"go\n").unwrap();
        // Kept open until the end: the clients' last print must not fail.
        let _from_clients = tokio::task::spawn_blocking(move || {
            let mut line = [0u8; 10];
            let _ = from_clients.read_exact(&mut line);
            from_clients
        })
        .await
        .unwrap();
        // Give the loop time to hit the limit and back off a few times.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let errors = metrics.accept_errors.get();
        assert!(
            errors > 0,
            "accepting never failed: the test did not exhaust fds"
        );
        // 250 ms between tries: a few per second, never a busy loop.
        assert!(errors < 100, "{errors} accept errors in ~2 s: a busy loop");
        assert!(!server.is_finished(), "the accept loop died");

        // The clients go; the server serves again, under the same limit.
        to_clients.write_all(b"bye\n").unwrap();
        drop(to_clients);
        let status = clients.wait().unwrap();
        assert!(status.success(), "the clients failed: {status}");
        let body = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Ok(b) = healthy(addr).await {
                    return b;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("/-/healthy answers again");
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(!server.is_finished());
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    });
}

async fn healthy(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
