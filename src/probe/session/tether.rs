//! A check's hold on the connection it opened.
//!
//! The TCP stream of an SSH or Telnet check is wrapped in a [`Tethered`]
//! stream tied to a [`Tether`] that the check owns. When the check ends, in
//! whatever way (a verdict, its timeout, cancellation at shutdown or
//! reload), the tether is dropped and every read or write of the stream
//! fails at once, waking whoever waits on it. That matters for SSH: russh
//! runs the connection in a task of its own, which outlives a handshake
//! future that was dropped (a device that sends its banner and then falls
//! silent would otherwise keep the socket open forever). The task sees the
//! error, ends, and the socket is closed.
//!
//! The tether also counts the bytes the device sent against the check's
//! budget ([`MAX_READ`]): a device that streams output endlessly ends its
//! check early with a clear detail instead of holding a CPU for the whole
//! timeout.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes a device may send during one check (raw, as they come off the
/// socket: SSH's encryption and Telnet's option negotiation included). A
/// login dialogue takes a few kilobytes, a long banner a few more. (Each
/// byte an endless device sends costs decryption, Telnet decoding, cleaning
/// and matching: the soak's 1,000 devices, 1 in 18 streaming endlessly,
/// spent a fifth of reachd's CPU on it at 1 MiB.)
pub const MAX_READ: u64 = 256 * 1024;
/// The budget of a check that runs a command: `show running-config` of a
/// big chassis can take a few MiB.
pub const MAX_READ_WITH_COMMAND: u64 = 16 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    received: AtomicU64,
    read: AtomicWaker,
    write: AtomicWaker,
}

/// The check's end of the tether: dropping it cuts the stream.
pub struct Tether {
    shared: Arc<Shared>,
    budget: u64,
}

impl Default for Tether {
    fn default() -> Self {
        Self::new(MAX_READ)
    }
}

impl Tether {
    /// The tether of a check with these settings: [`MAX_READ`], or
    /// [`MAX_READ_WITH_COMMAND`] when it runs a command.
    pub fn for_session(spec: &crate::target::SessionSpec) -> Self {
        Self::new(if spec.command.is_some() {
            MAX_READ_WITH_COMMAND
        } else {
            MAX_READ
        })
    }

    /// A tether allowing `budget` bytes from the device.
    pub fn new(budget: u64) -> Self {
        Tether {
            shared: Arc::default(),
            budget,
        }
    }

    /// Wraps `io`: its reads and writes work until this tether is dropped.
    pub fn attach<S>(&self, io: S) -> Tethered<S> {
        Tethered {
            io,
            shared: self.shared.clone(),
            budget: self.budget,
        }
    }

    /// Bytes the device sent through every stream attached so far.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// True once the device sent more than the budget.
    pub fn over_budget(&self) -> bool {
        self.received() > self.budget
    }

    /// The budget, in bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }
}

impl Drop for Tether {
    fn drop(&mut self) {
        self.shared.cut.store(true, Ordering::Release);
        self.shared.read.wake();
        self.shared.write.wake();
    }
}

/// A stream that stops working when its [`Tether`] is dropped, or (for
/// reads) once the device has sent more than the budget.
pub struct Tethered<S> {
    io: S,
    shared: Arc<Shared>,
    budget: u64,
}

impl<S> Tethered<S> {
    /// Registers `cx` to be woken by the cut, then says whether writing is
    /// over.
    fn write_cut(&self, cx: &Context<'_>) -> Option<io::Error> {
        self.shared.write.register(cx.waker());
        self.cut()
    }

    fn cut(&self) -> Option<io::Error> {
        if self.shared.cut.load(Ordering::Acquire) {
            return Some(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the check ended",
            ));
        }
        None
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tethered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.shared.read.register(cx.waker());
        if let Some(e) = this.cut() {
            return Poll::Ready(Err(e));
        }
        if this.shared.received.load(Ordering::Relaxed) > this.budget {
            return Poll::Ready(Err(io::Error::other(format!(
                "the device sent more than {} bytes",
                this.budget
            ))));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        this.shared.received.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tethered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.write_cut(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.write_cut(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.cut().is_some() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn dropping_the_tether_wakes_and_fails_a_pending_read() {
        let (a, _b) = tokio::io::duplex(64);
        let tether = Tether::default();
        let mut s = tether.attach(a);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            s.read(&mut buf).await
        });
        tokio::task::yield_now().await;
        drop(tether);
        let r = reader.await.expect("reader task");
        assert_eq!(r.expect_err("cut").kind(), io::ErrorKind::ConnectionAborted);
    }

    #[tokio::test]
    async fn writes_fail_once_cut() {
        let (a, _b) = tokio::io::duplex(64);
        let tether = Tether::default();
        let mut s = tether.attach(a);
        s.write_all(b"hello").await.expect("before the cut");
        drop(tether);
        assert!(s.write_all(b"again").await.is_err());
    }

    #[test]
    fn a_check_with_a_command_has_a_larger_budget() {
        let mut spec = crate::target::SessionSpec {
            port: 22,
            username: None,
            password: None,
            secondary: None,
            private_key: None,
            private_key_passphrase: None,
            host_key: crate::target::HostKeyPolicy::Off,
            known_hosts: None,
            platform: None,
            connect_timeout: std::time::Duration::from_secs(1),
            read_timeout: std::time::Duration::from_secs(1),
            enable: true,
            command: None,
            expect: None,
            algorithms: crate::target::Algorithms::default(),
        };
        assert_eq!(Tether::for_session(&spec).budget(), MAX_READ);
        spec.command = Some("show running-config".into());
        assert_eq!(Tether::for_session(&spec).budget(), MAX_READ_WITH_COMMAND);
    }

    #[tokio::test]
    async fn reads_stop_past_the_budget() {
        let (a, mut b) = tokio::io::duplex(4096);
        let tether = Tether::new(100);
        let mut s = tether.attach(a);
        b.write_all(&[b'x'; 300]).await.expect("write");
        let mut buf = [0u8; 64];
        let mut got = 0;
        let err = loop {
            match s.read(&mut buf).await {
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert!((101..=164).contains(&got), "read {got} bytes");
        assert!(tether.over_budget());
        assert!(err.to_string().contains("more than 100 bytes"), "{err}");
    }
}
