//! [`TelnetStream`]: a byte stream over Telnet, protocol handled inside.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

use super::{Event, NegotiationConfig, Negotiator, TelnetCodec};

/// Bytes read from the transport at a time.
const READ_CHUNK: usize = 4096;
/// Bytes of application data encoded per `poll_write`.
const WRITE_CHUNK: usize = 4096;
/// Encoded bytes (replies, data) waiting for the transport past which reads
/// stop pulling input until the transport takes them.
const WRITE_HIGH: usize = 16 * 1024;
/// Transport reads per `poll_read` that yield no data before giving the
/// executor back (a peer sending only commands must not hog a worker).
const READS_PER_POLL: usize = 32;

/// A Telnet connection seen as a plain byte stream.
///
/// Reads yield only application data (unescaped, `CR NUL` → CR); option
/// negotiation is answered inside by a [`Negotiator`], its replies written to
/// the transport as reading goes on. Writes are escaped (255 doubled, a CR not
/// followed by LF sent as `CR NUL`); end lines with `\r\n`. Like a
/// `BufWriter`, a write may leave a few KiB in the stream's buffer; a later
/// read, write, flush or shutdown sends them.
///
/// Memory is bounded whatever the peer sends: one read chunk, the data decoded
/// from it, a capped subnegotiation, and at most ~16 KiB of pending output.
#[derive(Debug)]
pub struct TelnetStream<S> {
    inner: S,
    codec: TelnetCodec,
    negotiator: Negotiator,
    /// Raw bytes from the transport, not decoded yet.
    rbuf: BytesMut,
    /// Decoded application data, not read yet.
    data: BytesMut,
    /// Encoded bytes for the transport, not written yet.
    wbuf: BytesMut,
    read_eof: bool,
    /// Writing to the transport failed while sending replies from a read:
    /// reads go on (the peer may have said its last words), writes fail.
    write_error: Option<io::Error>,
    write_broken: bool,
}

impl<S> TelnetStream<S> {
    /// Wraps a transport with the default [`NegotiationConfig`].
    pub fn new(inner: S) -> Self {
        Self::with_config(inner, NegotiationConfig::default())
    }

    /// Wraps a transport with the given negotiation settings.
    pub fn with_config(inner: S, config: NegotiationConfig) -> Self {
        TelnetStream {
            inner,
            codec: TelnetCodec::new(),
            negotiator: Negotiator::new(config),
            rbuf: BytesMut::new(),
            data: BytesMut::new(),
            wbuf: BytesMut::new(),
            read_eof: false,
            write_error: None,
            write_broken: false,
        }
    }

    /// Whether the peer has sent any option negotiation (WILL/WONT/DO/DONT or
    /// a subnegotiation) so far: a Telnet server normally does at once, a
    /// service that is no Telnet never does.
    pub fn peer_negotiated(&self) -> bool {
        self.negotiator.peer_negotiated()
    }

    /// The negotiation state (which options are on).
    pub fn negotiator(&self) -> &Negotiator {
        &self.negotiator
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The transport; writing to it directly bypasses the Telnet encoding.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The transport back; buffered input and output are dropped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Decodes all buffered input: data to `data`, replies to `wbuf`.
    fn decode_buffered(&mut self, eof: bool) -> io::Result<()> {
        loop {
            let event = if eof {
                self.codec.decode_eof(&mut self.rbuf)?
            } else {
                self.codec.decode(&mut self.rbuf)?
            };
            match event {
                None => return Ok(()),
                Some(Event::Data(data)) => self.data.extend_from_slice(&data),
                Some(event) => {
                    for reply in self.negotiator.handle(&event) {
                        TelnetCodec::encode_event(&reply, &mut self.wbuf);
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> TelnetStream<S> {
    /// Writes `wbuf` out until empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_broken {
            self.wbuf.clear();
            let error = self
                .write_error
                .take()
                .unwrap_or_else(|| io::ErrorKind::BrokenPipe.into());
            return Poll::Ready(Err(error));
        }
        while !self.wbuf.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wbuf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wbuf.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TelnetStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut reads = 0;
        loop {
            // Replies go out as soon as they exist. If that fails, the reader
            // still gets what the peer sent (it may be closing after its last
            // words: "% Authentication failed"); the next write reports it.
            let drained = if this.write_broken {
                this.wbuf.clear();
                Poll::Ready(Ok(()))
            } else {
                this.poll_drain(cx)
            };
            if let Poll::Ready(Err(e)) = drained {
                this.write_error = Some(e);
                this.write_broken = true;
                this.wbuf.clear();
            }
            if !this.data.is_empty() {
                let n = buf.remaining().min(this.data.len());
                buf.put_slice(&this.data[..n]);
                this.data.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.read_eof {
                return Poll::Ready(Ok(()));
            }
            if this.wbuf.len() >= WRITE_HIGH {
                // The peer does not read what it asked for: read no more
                // until it does (poll_drain registered for write readiness).
                return Poll::Pending;
            }
            if reads == READS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            reads += 1;
            let mut chunk = [0u8; READ_CHUNK];
            let mut chunk = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
            let eof = chunk.filled().is_empty();
            this.rbuf.extend_from_slice(chunk.filled());
            this.decode_buffered(eof)?;
            this.read_eof = eof;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TelnetStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.wbuf.len() >= WRITE_CHUNK {
            ready!(this.poll_drain(cx))?;
        }
        let n = buf.len().min(WRITE_CHUNK);
        TelnetCodec::encode_data(&buf[..n], &mut this.wbuf);
        // Send at once where the transport allows; what is left goes with the
        // next read, write, flush or shutdown.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::super::cmd::*;
    use super::super::{Opt, codec::tests::CISCO_IOS};
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    /// Reads from `stream` until the data read ends with `suffix`.
    async fn read_until<S: AsyncRead + AsyncWrite + Unpin>(
        stream: &mut TelnetStream<S>,
        suffix: &[u8],
    ) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(suffix) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "EOF after {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    /// Reads exactly `len` raw bytes on the device's side.
    async fn device_reads(device: &mut DuplexStream, len: usize) -> Vec<u8> {
        let mut got = vec![0u8; len];
        device.read_exact(&mut got).await.unwrap();
        got
    }

    #[tokio::test]
    async fn cisco_login_dialogue_sees_only_data() {
        let (client, mut device) = duplex(64 * 1024);
        let mut stream = TelnetStream::new(client);
        assert!(!stream.peer_negotiated());
        device.write_all(CISCO_IOS).await.unwrap();

        let got = read_until(&mut stream, b"Username: ").await;
        assert_eq!(got, b"\r\n\r\nUser Access Verification\r\n\r\nUsername: ");
        assert!(stream.peer_negotiated());
        let expected_replies: &[u8] = &[
            IAC, DO, 1, IAC, DO, 3, IAC, WILL, 24, IAC, WILL, 31, IAC, SB, 31, 0, 200, 0, 24, IAC,
            SE,
        ];
        assert_eq!(
            device_reads(&mut device, expected_replies.len()).await,
            expected_replies
        );

        // The device asks for the terminal type, repeats WILL ECHO (no
        // answer) and asks DO NEW-ENVIRON (refused), then prompts again.
        stream.write_all(b"admin\r\n").await.unwrap();
        assert_eq!(device_reads(&mut device, 7).await, b"admin\r\n");
        device
            .write_all(b"\xff\xfa\x18\x01\xff\xf0\xff\xfb\x01\xff\xfd\x27\r\nPassword: ")
            .await
            .unwrap();
        assert_eq!(
            read_until(&mut stream, b"Password: ").await,
            b"\r\nPassword: "
        );
        let expected_replies: &[u8] = b"\xff\xfa\x18\x00VT100\xff\xf0\xff\xfc\x27";
        assert_eq!(
            device_reads(&mut device, expected_replies.len()).await,
            expected_replies
        );

        // Escaping on the way out.
        stream.write_all(b"p\xffss\rx\r\n").await.unwrap();
        stream.flush().await.unwrap();
        assert_eq!(device_reads(&mut device, 10).await, b"p\xff\xffss\r\0x\r\n");

        // Escaped data and CR NUL on the way in; the prompt has no newline.
        device
            .write_all(b"\r\n\xff\xffbanner\r\0\xff\xf9\r\nrouter>")
            .await
            .unwrap();
        assert_eq!(
            read_until(&mut stream, b"router>").await,
            b"\r\n\xffbanner\r\r\nrouter>"
        );
        assert!(stream.negotiator().remote_enabled(Opt::ECHO));

        // The device hangs up after a dangling IAC: EOF, nothing else.
        device.write_all(b"bye\xff").await.unwrap();
        drop(device);
        assert_eq!(read_until(&mut stream, b"bye").await, b"bye");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"");
    }

    #[tokio::test]
    async fn a_service_that_never_negotiates() {
        let (client, mut device) = duplex(1024);
        let mut stream = TelnetStream::new(client);
        device.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await.unwrap();
        drop(device);
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"SSH-2.0-OpenSSH_9.2\r\n");
        assert!(!stream.peer_negotiated());
    }

    fn capacities<S>(stream: &TelnetStream<S>) -> usize {
        stream.rbuf.capacity()
            + stream.data.capacity()
            + stream.wbuf.capacity()
            + stream.codec.buffered_capacity()
    }

    /// Feeds `chunk` `times` times from the device, polling the client's read
    /// once after each so it consumes what is there; asserts memory stays
    /// below `bound` throughout.
    async fn feed_and_check(
        stream: &mut TelnetStream<DuplexStream>,
        device: &mut DuplexStream,
        chunk: &[u8],
        times: usize,
        bound: usize,
    ) {
        let mut buf = [0u8; 64];
        for _ in 0..times {
            device.write_all(chunk).await.unwrap();
            let poll = futures::poll!(std::pin::pin!(stream.read(&mut buf)));
            assert!(poll.is_pending(), "no data expected, got {poll:?}");
            assert!(
                capacities(stream) <= bound,
                "buffers grew to {}",
                capacities(stream)
            );
        }
    }

    #[tokio::test]
    async fn iac_storm_keeps_memory_bounded() {
        let (client, mut device) = duplex(8192);
        let mut stream = TelnetStream::new(client);
        let mut storm = Vec::new();
        for _ in 0..1000 {
            storm.extend_from_slice(&[IAC, NOP]);
        }
        // 100 x 1000 = 100k IAC NOP.
        feed_and_check(&mut stream, &mut device, &storm, 100, 16 * 1024).await;
        device.write_all(b"ok>").await.unwrap();
        assert_eq!(read_until(&mut stream, b"ok>").await, b"ok>");
        assert!(!stream.peer_negotiated());
    }

    #[tokio::test]
    async fn endless_subnegotiation_keeps_memory_bounded() {
        let (client, mut device) = duplex(8192);
        let mut stream = TelnetStream::new(client);
        device.write_all(&[IAC, SB, 24]).await.unwrap();
        // 1 MiB of subnegotiation, IAC IAC inside.
        let mut chunk = vec![b'A'; 4094];
        chunk.extend_from_slice(&[IAC, IAC]);
        feed_and_check(&mut stream, &mut device, &chunk, 256, 32 * 1024).await;
        device.write_all(b"\xff\xf0ok>").await.unwrap();
        assert_eq!(read_until(&mut stream, b"ok>").await, b"ok>");
        assert!(stream.peer_negotiated());
    }

    #[tokio::test]
    async fn negotiation_flood_is_answered_once_per_option() {
        let (client, mut device) = duplex(64 * 1024);
        let mut stream = TelnetStream::new(client);
        let mut flood = Vec::new();
        for _ in 0..100 {
            for opt in 100..110u8 {
                flood.extend_from_slice(&[IAC, DO, opt, IAC, WILL, opt]);
            }
            flood.extend_from_slice(&[IAC, WILL, 1]);
        }
        flood.extend_from_slice(b"ok>");
        device.write_all(&flood).await.unwrap();
        assert_eq!(read_until(&mut stream, b"ok>").await, b"ok>");
        let mut expected = Vec::new();
        for opt in 100..110u8 {
            expected.extend_from_slice(&[IAC, WONT, opt, IAC, DONT, opt]);
        }
        expected.extend_from_slice(&[IAC, DO, 1]);
        assert_eq!(device_reads(&mut device, expected.len()).await, expected);
        // Nothing more was sent.
        drop(stream);
        let mut rest = Vec::new();
        device.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"");
    }

    #[tokio::test]
    async fn last_words_are_read_even_if_replies_cannot_be_sent() {
        let (client, mut device) = duplex(1024);
        let mut stream = TelnetStream::new(client);
        device
            .write_all(b"\xff\xfd\x63% Authentication failed\r\n\xff\xfb\x01")
            .await
            .unwrap();
        drop(device);
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"% Authentication failed\r\n");
        let error = stream.write_all(b"exit\r\n").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        let error = stream.flush().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn inetutils_opening_byte_by_byte() {
        let (client, mut device) = duplex(1024);
        let mut stream = TelnetStream::new(client);
        let device_task = tokio::spawn(async move {
            // telnetd's getterminaltype(), one byte per write.
            let opening: &[u8] = b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27\xff\xfd\x24";
            for &b in opening {
                device.write_all(&[b]).await.unwrap();
            }
            let expected: &[u8] = b"\xff\xfb\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27\xff\xfc\x24";
            assert_eq!(device_reads(&mut device, expected.len()).await, expected);
            for &b in b"\xff\xfa\x18\x01\xff\xf0" {
                device.write_all(&[b]).await.unwrap();
            }
            let expected: &[u8] = b"\xff\xfa\x18\x00VT100\xff\xf0";
            assert_eq!(device_reads(&mut device, expected.len()).await, expected);
            for &b in b"\xff\xfb\x03\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x05\xff\xfd\x21\xff\xfb\x01\r\nDebian GNU/Linux 12\r\n\r\nlab login: " {
                device.write_all(&[b]).await.unwrap();
            }
            let expected: &[u8] =
                b"\xff\xfd\x03\xff\xfc\x01\xff\xfb\x1f\xff\xfa\x1f\x00\xc8\x00\x18\xff\xf0\xff\xfe\x05\xff\xfc\x21\xff\xfd\x01";
            assert_eq!(device_reads(&mut device, expected.len()).await, expected);
            device
        });
        assert_eq!(
            read_until(&mut stream, b"login: ").await,
            b"\r\nDebian GNU/Linux 12\r\n\r\nlab login: "
        );
        stream.flush().await.unwrap();
        let _device = device_task.await.unwrap();
        assert!(stream.negotiator().remote_enabled(Opt::ECHO));
        assert!(stream.negotiator().remote_enabled(Opt::SGA));
        assert!(!stream.negotiator().local_enabled(Opt::ECHO));
    }

    #[tokio::test]
    async fn a_command_flood_yields_to_the_executor() {
        let (client, mut device) = duplex(1 << 20);
        let mut stream = TelnetStream::new(client);
        let mut storm = Vec::new();
        for _ in 0..(READS_PER_POLL * READ_CHUNK) {
            storm.extend_from_slice(&[IAC, NOP]);
        }
        device.write_all(&storm).await.unwrap();
        device.write_all(b"ok>").await.unwrap();
        let mut buf = [0u8; 16];
        // The first poll reads READS_PER_POLL chunks, then gives way.
        let poll = futures::poll!(std::pin::pin!(stream.read(&mut buf)));
        assert!(poll.is_pending());
        assert_eq!(read_until(&mut stream, b"ok>").await, b"ok>");
    }
}
