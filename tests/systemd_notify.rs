//! reachd under systemd's notify protocol: the binary runs with
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC` set, and the test reads the datagrams
//! a service manager would. Loopback only.

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Notifications(UnixDatagram);

impl Notifications {
    /// The next datagram that contains `what`, within `within`.
    fn wait_for(&self, what: &str, within: Duration) -> String {
        let until = Instant::now() + within;
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while Instant::now() < until {
            self.0
                .set_read_timeout(Some(
                    until
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1)),
                ))
                .unwrap();
            match self.0.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if msg.lines().any(|l| l == what) {
                        return msg;
                    }
                    seen.push(msg);
                }
                Err(_) => break,
            }
        }
        panic!("no `{what}` within {within:?}; saw {seen:?}");
    }
}

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn notify_protocol_ready_watchdog_reload_stop() {
    let dir = std::env::temp_dir().join(format!("reachd-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&sock_path);
    let sock = Notifications(UnixDatagram::bind(&sock_path).unwrap());
    let port = free_port();
    let cfg = dir.join("reachd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{port}\nlog: {{format: json}}\nshutdown_grace: 1s\n\
             defaults: {{icmp: {{interval: 1s, timeout: 500ms, count: 1}}}}\n\
             devices: [{{name: lo, address: 127.0.0.1}}]\n"
        ),
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_reachd"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();

    let ready = sock.wait_for("READY=1", Duration::from_secs(15));
    assert!(ready.contains("STATUS=checking 1 devices"), "{ready}");
    // READY comes only once the listener is bound.
    TcpStream::connect(("127.0.0.1", port)).expect("listening when READY=1 arrives");

    // Petted every half period while the scheduler runs.
    for _ in 0..3 {
        sock.wait_for("WATCHDOG=1", Duration::from_secs(3));
    }

    kill(pid, "-HUP");
    let reloading = sock.wait_for("RELOADING=1", Duration::from_secs(5));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let ready = sock.wait_for("READY=1", Duration::from_secs(5));
    assert!(ready.contains("STATUS=configuration reloaded"), "{ready}");

    // A broken file: refused, and ready again on the old configuration.
    std::fs::write(&cfg, "devices: [{name: x, adress: 127.0.0.9}]\n").unwrap();
    kill(pid, "-HUP");
    sock.wait_for("RELOADING=1", Duration::from_secs(5));
    let ready = sock.wait_for("READY=1", Duration::from_secs(5));
    assert!(ready.contains("STATUS=reload failed"), "{ready}");
    sock.wait_for("WATCHDOG=1", Duration::from_secs(3));

    kill(pid, "-TERM");
    sock.wait_for("STOPPING=1", Duration::from_secs(5));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
