//! SIGTERM stays prompt while a reload is stuck: the configuration is
//! loaded off the main loop, so the stop signal is not queued behind it.
//! The stuck reload here reads a config file that became a FIFO nobody
//! writes (as a file on a hung network mount would). Loopback only.

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

/// Waits for a notify datagram with the line `what`.
fn wait_for(sock: &UnixDatagram, what: &str, within: Duration) -> bool {
    let until = Instant::now() + within;
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        let left = until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => {
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == what)
                {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

fn kill(pid: u32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn sigterm_during_a_stuck_reload_stops_the_daemon() {
    let dir = std::env::temp_dir().join(format!("reachd-reload-stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let cfg = dir.join("reachd.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{}\nlog: {{format: json}}\nshutdown_grace: 1s\n\
             defaults: {{icmp: {{interval: 1s, timeout: 500ms, count: 1}}}}\n\
             devices: [{{name: lo, address: 127.0.0.1}}]\n",
            free_port()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reachd"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(
        wait_for(&sock, "READY=1", Duration::from_secs(15)),
        "never ready"
    );

    // The config file becomes a FIFO: reading it blocks until a writer comes.
    std::fs::remove_file(&cfg).unwrap();
    assert!(Command::new("mkfifo").arg(&cfg).status().unwrap().success());
    kill(pid, "-HUP");
    assert!(wait_for(&sock, "RELOADING=1", Duration::from_secs(5)));

    kill(pid, "-TERM");
    // A hang guard, not a timing assertion: the daemon must stop at all.
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > until {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let status = status.expect("reachd did not stop on SIGTERM during a stuck reload");
    assert_eq!(status.code(), Some(0));
}
