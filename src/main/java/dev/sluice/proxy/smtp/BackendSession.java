package dev.sluice.proxy.smtp;

import dev.sluice.balance.Backend;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.ListenerConfig.Timeouts;
import dev.sluice.proxy.BackendConnector;
import dev.sluice.proxy.NetErrors;
import dev.sluice.proxy.identity.ClientInfo;
import dev.sluice.proxy.identity.ProxyHeaders;
import dev.sluice.proxy.tls.BackendTlsContext;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sluice's SMTP client session to one backend on behalf of one client session: connect, banner,
 * EHLO with the client's name, then commands whose replies are taken in order (several may be
 * outstanding when the backend offers PIPELINING), and the message body streamed through. Opened
 * for a transaction and kept for later transactions of the same client that are scheduled to the
 * same backend.
 *
 * <p>Threading: lives on the client's event loop; every method must be called there. Futures
 * complete on that loop.
 */
public final class BackendSession {
  private static final Logger log = LoggerFactory.getLogger(BackendSession.class);
  /** Backend replies may be long (multi-line EHLO); SMTP caps a reply line at 512 octets. */
  private static final int MAX_REPLY_LINE = 8192;
  private static final short CRLF = ('\r' << 8) | '\n';
  private static final String BANNER = "banner";
  private static final String QUIT = "QUIT";
  private static final String END_OF_DATA = "end of data";

  private final Backend backend;
  /** How this session told the backend who the client is; a reload does not change it. */
  private final ClientIdentity identity;
  private final Timeouts timeouts;
  private final ArrayDeque<Pending> pending = new ArrayDeque<>(2);
  private final ReplyAssembler assembler = new ReplyAssembler();
  private Channel channel;
  private boolean closed;
  private List<String> extensions = List.of();
  /** The attributes the backend's XFORWARD takes, from its last EHLO reply. */
  private List<String> xforwardAttributes = List.of();
  private List<String> authMechanisms = List.of();
  private boolean pipelining;
  private boolean resetBeforeMail;
  private Runnable onWritable = () -> {};
  private Runnable afterReplies = () -> {};

  /** The reply timer: armed while replies are awaited, checks the oldest one's deadline. */
  private ScheduledFuture<?> timer;
  /** When {@link #timer} fires ({@link System#nanoTime()} scale). */
  private long timerDeadline;
  /**
   * When the oldest awaited reply is due. Each command's timeout runs from when its reply becomes
   * the next one due, not from when it was written: commands pipelined together (RFC 2920) are
   * answered one after another, each in its own time.
   */
  private long headDeadline;

  /**
   * A command (or the banner) whose reply is awaited. {@code what} is the command line or a label;
   * it names the step only when a timeout is reported. {@code alone}: nothing else was awaited when
   * it was written at {@code sentAt}, so its reply time is the backend's own latency (a reply to a
   * command pipelined behind others waits for theirs).
   */
  private record Pending(String what, ReplyHandler handler, Duration timeout, long sentAt, boolean alone) {}

  /**
   * Receives the backend's reply to one command, or why there is none; called once, on the
   * session's event loop. The transaction steps use this rather than a future: a future, its
   * stage and the lambda it runs are three objects per command.
   */
  @FunctionalInterface
  public interface ReplyHandler {
    /** Exactly one of {@code reply} and {@code failure} is non-null. */
    void answered(SmtpReply reply, BackendFailure failure);
  }

  private BackendSession(Backend backend, ClientIdentity identity, Timeouts timeouts) {
    this.backend = backend;
    this.identity = identity;
    this.timeouts = timeouts;
  }

  /**
   * Connects from {@code source} (with {@code identity} transparent, the client's address) and completes when the backend is ready for MAIL: after its
   * banner, the client identity ({@code identity}: a PROXY header before anything, or XCLIENT after
   * a first EHLO, which brings a fresh banner) and a positive EHLO with the client's name. Fails
   * with {@link BackendFailure} on a failed connect, a negative reply at any step, a backend that
   * does not offer XCLIENT/XFORWARD when the listener needs it, a close or a timeout.
   *
   * @param ownName Sluice's own name, for the EHLO before XCLIENT
   */
  public static CompletableFuture<BackendSession> open(EventLoop loop, BackendConnector connector, Backend backend,
      InetAddress source, ClientIdentity identity, ClientInfo client, String ownName, BackendTls tlsMode,
      BackendTlsContext tls, Timeouts timeouts) {
    BackendSession s = new BackendSession(backend, identity, timeouts);
    CompletableFuture<BackendSession> ready = new CompletableFuture<>();
    long start = System.nanoTime();
    CompletableFuture<SmtpReply> banner = new CompletableFuture<>();
    s.expect(BANNER, timeouts.banner(), loop, start, (r, failure) -> complete(banner, r, failure));
    boolean proxy = identity.proxyVersion() != 0;
    connector
        .connect(loop, backend, source, identity == ClientIdentity.TRANSPARENT, false, timeouts.connect(),
            new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            if (proxy) {
              ch.pipeline().addLast("proxy", HAProxyMessageEncoder.INSTANCE);
            }
            ch.pipeline().addLast("replies", s.new Replies());
          }
        })
        .addListener(f -> {
          if (!f.isSuccess()) {
            s.closed = true;
            s.failAll(new BackendFailure("connect failed: " + NetErrors.describe(f.cause()), null));
            return;
          }
          s.channel = (Channel) f.getNow();
          if (s.closed) {
            s.channel.close(); // timed out or aborted while connecting: nothing waits for it now
            return;
          }
          if (proxy) {
            // PROXY protocol: one header, before any other byte (the backend waits for it).
            s.channel.writeAndFlush(ProxyHeaders.of(identity.proxyVersion() == 2, client.client(), client.local()),
                s.channel.voidPromise());
          }
        });
    String firstName = identity == ClientIdentity.XCLIENT ? ownName : client.helo();
    banner
        .thenCompose(b -> {
          backend.recordLatency(System.nanoTime() - start);
          require(b.isPositive(), "banner " + b, b);
          return s.command("EHLO " + firstName);
        })
        .thenCompose(ehlo -> s.maybeStartTls(ehlo, tlsMode, tls, firstName))
        .thenCompose(ehlo -> {
          if (identity != ClientIdentity.XCLIENT) {
            return CompletableFuture.completedFuture(ehlo);
          }
          require(ehlo.isPositive(), "EHLO refused: " + ehlo, ehlo);
          require(ehlo.ehloKeywords().contains("XCLIENT"),
              "backend does not offer XCLIENT to Sluice (Postfix: add Sluice's source address to"
                  + " smtpd_authorized_xclient_hosts)", null);
          return s.command(client.xclient(ehlo.ehloParameters("XCLIENT"))).thenCompose(greeting -> {
            // XCLIENT succeeds with a new 220 greeting; the session restarts as the real client.
            // A refusal answers Sluice, not the client: it is not a reply to pass on (hence no reply).
            require(greeting.code() == 220, "XCLIENT refused: " + greeting, null);
            return s.command("EHLO " + client.helo());
          });
        })
        .whenComplete((ehlo, error) -> {
          if (error != null) {
            s.abort();
            ready.completeExceptionally(unwrap(error));
          } else if (!ehlo.isPositive()) {
            s.quit();
            // This EHLO carried the client's own name: a 5xx judges the client (Postfix's
            // reject_invalid_helo_hostname), and must neither count against the backend nor be
            // hidden from the client behind a 4xx it would retry forever.
            ready.completeExceptionally(new BackendFailure("EHLO refused: " + ehlo, ehlo, ehlo.isPermanent()));
          } else if (identity == ClientIdentity.XFORWARD && !ehlo.ehloKeywords().contains("XFORWARD")) {
            s.quit();
            ready.completeExceptionally(new BackendFailure("backend does not offer XFORWARD to Sluice (Postfix: add"
                + " Sluice's source address to smtpd_authorized_xforward_hosts)", null));
          } else {
            s.extensions = ehlo.ehloKeywords();
            if (identity == ClientIdentity.XFORWARD) {
              s.xforwardAttributes = ehlo.ehloParameters("XFORWARD");
            }
            s.pipelining = s.extensions.contains("PIPELINING");
            s.authMechanisms = ehlo.ehloParameters("AUTH");
            ready.complete(s);
          }
        });
    return ready;
  }

  /**
   * With {@code backend_tls}, upgrades with STARTTLS when the backend offers it (RFC 3207) and
   * greets again; {@code require} fails a backend that does not offer it. Returns the EHLO reply
   * that is valid afterwards.
   */
  private CompletableFuture<SmtpReply> maybeStartTls(SmtpReply ehlo, BackendTls mode, BackendTlsContext tls,
      String name) {
    if (mode == BackendTls.NONE || !ehlo.isPositive()) {
      return CompletableFuture.completedFuture(ehlo);
    }
    if (!ehlo.ehloKeywords().contains("STARTTLS")) {
      require(mode != BackendTls.REQUIRE, "backend does not offer STARTTLS (backend_tls: require)", null);
      return CompletableFuture.completedFuture(ehlo);
    }
    return command("STARTTLS").thenCompose(ready -> {
      // Sluice's own STARTTLS: a refusal (454) must not reach the client as if it were about its mail.
      require(ready.code() == 220, "STARTTLS refused: " + ready, null);
      SslHandler ssl = tls.newHandler(channel.alloc(), backend.address().host(), backend.address().port());
      channel.pipeline().addFirst("tls", ssl);
      CompletableFuture<SmtpReply> greeted = new CompletableFuture<>();
      ssl.handshakeFuture().addListener(f -> {
        if (!f.isSuccess()) {
          greeted.completeExceptionally(new BackendFailure("TLS handshake failed: " + NetErrors.describe(f.cause()), null));
          return;
        }
        // RFC 3207 §4.2: forget what the backend said before TLS and greet again.
        command("EHLO " + name).whenComplete((r, e) -> {
          if (e != null) {
            greeted.completeExceptionally(unwrap(e));
          } else {
            greeted.complete(r);
          }
        });
      });
      return greeted;
    });
  }

  /** Whether this session to the backend runs over TLS. */
  public boolean tls() {
    return channel != null && channel.pipeline().get(SslHandler.class) != null;
  }

  private static void require(boolean condition, String failure, SmtpReply reply) {
    if (!condition) {
      throw new java.util.concurrent.CompletionException(new BackendFailure(failure, reply));
    }
  }

  static Throwable unwrap(Throwable t) {
    return t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
  }

  public Backend backend() {
    return backend;
  }

  /** The client identity this session was opened with (XFORWARD, for one, goes before each MAIL). */
  public ClientIdentity identity() {
    return identity;
  }

  /** The attributes this backend's XFORWARD takes (its EHLO reply), for {@link ClientInfo#xforward}. */
  public List<String> xforwardAttributes() {
    return xforwardAttributes;
  }

  /** The SASL mechanisms the backend's last EHLO reply offers (RFC 4954 §3), upper case; empty without AUTH. */
  public List<String> authMechanisms() {
    return authMechanisms;
  }

  /** Extension keywords from the backend's EHLO reply (upper case). */
  public List<String> extensions() {
    return extensions;
  }

  /**
   * This session's last MAIL was refused: the next MAIL must follow an RSET, since a server may
   * keep state from the refused one (Postfix keeps the SIZE it was told until RSET, and judges a
   * next MAIL without SIZE by it). Event-loop only, like the rest of the session.
   */
  public void resetBeforeNextMail() {
    resetBeforeMail = true;
  }

  /** Whether an RSET must go before the next MAIL; clears the mark. */
  public boolean takeResetBeforeMail() {
    boolean r = resetBeforeMail;
    resetBeforeMail = false;
    return r;
  }

  /** Whether the backend offered PIPELINING (RFC 2920): commands may be sent before earlier replies. */
  public boolean pipelining() {
    return pipelining;
  }

  /** Open, and not waiting for any reply: fit for the next transaction. */
  public boolean idle() {
    return !closed && channel != null && channel.isActive() && pending.isEmpty();
  }

  public boolean isOpen() {
    return !closed && channel != null && channel.isActive();
  }

  public Channel channel() {
    return channel;
  }

  /** Sends one command line and completes with its reply (or fails with {@link BackendFailure}). */
  public CompletableFuture<SmtpReply> command(String line) {
    CompletableFuture<SmtpReply> f = new CompletableFuture<>();
    command(line, (r, failure) -> complete(f, r, failure));
    return f;
  }

  /** Sends one command line; {@code handler} gets its reply. */
  public void command(String line, ReplyHandler handler) {
    write(line, handler);
    flush();
  }

  /**
   * Writes one command line without flushing, so that commands pipelined with it (RFC 2920) leave
   * in one segment; the caller flushes. {@code handler} gets its reply.
   */
  public void write(String line, ReplyHandler handler) {
    long now = System.nanoTime();
    if (expect(line, timeouts.command(), channel.eventLoop(), now, handler)) {
      send(line, false);
    }
  }

  private static void complete(CompletableFuture<SmtpReply> f, SmtpReply r, BackendFailure failure) {
    if (failure != null) {
      f.completeExceptionally(failure);
    } else {
      f.complete(r);
    }
  }

  /** Writes part of a message body as it arrived (the caller has checked its framing). */
  public void writeBody(ByteBuf bytes) {
    if (isOpen()) {
      channel.write(bytes, channel.voidPromise());
    } else {
      bytes.release();
    }
  }

  public void flush() {
    if (isOpen()) {
      channel.flush();
    }
  }

  /** Whether the backend is reading the body as fast as it arrives (else the client should pause). */
  public boolean writable() {
    return !isOpen() || channel.isWritable();
  }

  /**
   * Runs {@code r} when the backend's outbound buffer drains or the backend goes away (to resume
   * reading the client).
   */
  public void onWritable(Runnable r) {
    this.onWritable = r;
  }

  /** Runs {@code r} after each read from the backend, once the replies it completed are handled. */
  public void afterReplies(Runnable r) {
    this.afterReplies = r;
  }

  /** {@code handler} gets the backend's reply to the end of data the caller has just written. */
  public void awaitFinalReply(ReplyHandler handler) {
    long now = System.nanoTime();
    if (expect(END_OF_DATA, timeouts.endOfData(), channel.eventLoop(), now, handler)) {
      flush();
    }
  }

  /** Ends politely: QUIT, then close when the backend answers (or after a short wait). */
  public void quit() {
    if (!isOpen()) {
      closed = true;
      return;
    }
    long now = System.nanoTime();
    expect(QUIT, Duration.ofSeconds(5), channel.eventLoop(), now, (r, failure) -> channel.close());
    send(QUIT, true);
    closed = true;
  }

  /** Closes at once: used when a transaction must not complete (a framing violation mid-body). */
  public void abort() {
    closed = true;
    if (channel != null) {
      channel.close();
    }
  }

  private void send(String line, boolean flush) {
    if (channel != null && channel.isActive()) {
      ByteBuf out = channel.alloc().buffer(ByteBufUtil.utf8MaxBytes(line) + 2);
      ByteBufUtil.writeUtf8(out, line);
      out.writeShort(CRLF);
      channel.write(out, channel.voidPromise());
      if (flush) {
        channel.flush();
      }
    }
  }

  /**
   * How a step is named in a timeout message: its verb (MAIL FROM and RCPT TO with their keyword),
   * never addresses, and never a line that is not a known command: a SASL response relayed during
   * AUTH is a credential.
   */
  static String verbOf(String line) {
    if (line.equals(BANNER) || line.equals(END_OF_DATA)) {
      return line;
    }
    int sp = line.indexOf(' ');
    String v = (sp < 0 ? line : line.substring(0, sp)).toUpperCase(java.util.Locale.ROOT);
    return switch (v) {
      case "MAIL" -> "MAIL FROM";
      case "RCPT" -> "RCPT TO";
      case "EHLO", "HELO", "DATA", "RSET", "QUIT", "NOOP", "STARTTLS", "XCLIENT", "XFORWARD", "AUTH" -> v;
      default -> "an AUTH response";
    };
  }

  /**
   * Awaits a reply due {@code timeout} after {@code now} (the caller's clock reading, to read it
   * once). Returns false, after telling {@code handler}, when the session is closed: nothing is sent.
   */
  private boolean expect(String what, Duration timeout, EventLoop loop, long now, ReplyHandler handler) {
    if (closed && !what.equals(QUIT)) {
      handler.answered(null, new BackendFailure("session to " + backend.name() + " is closed", null));
      return false;
    }
    boolean alone = pending.isEmpty();
    pending.add(new Pending(what, handler, timeout, now, alone));
    if (alone) {
      dueFrom(loop, now, timeout);
    }
    return true;
  }

  /** The oldest awaited reply is now the one with {@code timeout}: it is due {@code timeout} after {@code now}. */
  private void dueFrom(EventLoop loop, long now, Duration timeout) {
    headDeadline = now + timeout.toNanos();
    if (timer == null || timerDeadline - headDeadline > 0) {
      if (timer != null) {
        timer.cancel(false);
      }
      armTimer(loop, now, timeout.toNanos());
    }
  }

  /**
   * One timer per session instead of one per command: scheduling and cancelling a task for every
   * reply costs more than handling the reply. The timer never fires later than {@link
   * #headDeadline}; when it fires early (the deadline moved on with a reply) it re-arms for it.
   */
  private void armTimer(EventLoop loop, long armedAt, long delayNanos) {
    timerDeadline = armedAt + delayNanos;
    timer = loop.schedule(() -> {
      timer = null;
      Pending p = pending.peek();
      if (p == null) {
        return;
      }
      long now = System.nanoTime();
      if (headDeadline - now > 0) {
        armTimer(loop, now, headDeadline - now);
        return;
      }
      closed = true;
      failAll(new BackendFailure("no reply to " + verbOf(p.what()) + " within " + p.timeout().toSeconds() + "s", null));
      if (channel != null) {
        channel.close();
      }
    }, delayNanos, TimeUnit.NANOSECONDS);
  }

  private void failAll(BackendFailure failure) {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
    Pending p;
    while ((p = pending.poll()) != null) {
      p.handler().answered(null, failure);
    }
  }

  /**
   * Reads the backend's replies and completes the oldest pending command. Finds the lines in the
   * received bytes itself (CRLF, or a bare LF, ends a line) and decodes each straight to a string,
   * without a buffer slice per line. A line longer than {@value #MAX_REPLY_LINE} bytes fails the
   * session as soon as that many bytes lack an end of line.
   *
   * <p>A plain inbound handler that keeps its own cumulation, not a {@code ByteToMessageDecoder}:
   * replies produce no messages for a next handler, and the decoder's output list and re-entry
   * bookkeeping cost more per read than the parsing itself (four backend reads per message).
   */
  private final class Replies extends ChannelInboundHandlerAdapter {
    /** Bytes received and not yet parsed: a partial line, or nothing. */
    private ByteBuf received = Unpooled.EMPTY_BUFFER;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      received = ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), received, (ByteBuf) msg);
      parse(ctx, received);
      if (!received.isReadable()) {
        releaseReceived(); // the common case: the read held whole lines
      } else {
        received.discardSomeReadBytes();
      }
      afterReplies.run();
    }

    private void releaseReceived() {
      ByteBuf r = received;
      received = Unpooled.EMPTY_BUFFER;
      r.release();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
      releaseReceived();
    }

    private void parse(ChannelHandlerContext ctx, ByteBuf in) {
      while (in.isReadable()) {
        if (!ctx.channel().isActive()) {
          in.skipBytes(in.readableBytes()); // closed after a failure: the rest means nothing
          return;
        }
        int from = in.readerIndex();
        int eol = in.indexOf(from, in.writerIndex(), (byte) '\n');
        if (eol < 0 ? in.readableBytes() > MAX_REPLY_LINE : eol - from > MAX_REPLY_LINE) {
          in.skipBytes(in.readableBytes());
          fail(ctx, "reply line longer than " + MAX_REPLY_LINE + " bytes");
          return;
        }
        if (eol < 0) {
          return;
        }
        int end = eol > from && in.getByte(eol - 1) == '\r' ? eol - 1 : eol;
        String line = in.toString(from, end - from, StandardCharsets.UTF_8);
        in.readerIndex(eol + 1);
        onLine(ctx, line);
      }
    }

    private void onLine(ChannelHandlerContext ctx, String line) {
      SmtpReply reply;
      try {
        reply = assembler.feed(line);
      } catch (ReplyAssembler.MalformedReplyException e) {
        fail(ctx, "bad reply: " + e.getMessage());
        return;
      }
      if (reply == null) {
        return;
      }
      Pending p = pending.poll();
      if (p == null) {
        // An unsolicited reply is a server giving up on us (typically 421 before closing).
        closed = true;
        ctx.close();
        return;
      }
      long now = System.nanoTime();
      if (p.alone() && !p.what().equals(BANNER) && !p.what().equals(QUIT)) {
        backend.recordLatency(now - p.sentAt());
      }
      Pending next = pending.peek();
      if (next != null) {
        dueFrom(ctx.channel().eventLoop(), now, next.timeout());
      }
      if (reply.code() == 421) {
        // RFC 5321 §3.8: 421 means the server is closing the transmission channel.
        closed = true;
      }
      p.handler().answered(reply, null);
    }

    private void fail(ChannelHandlerContext ctx, String why) {
      closed = true;
      failAll(new BackendFailure(why, null));
      ctx.close();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
      if (ctx.channel().isWritable()) {
        onWritable.run();
      }
      ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      releaseReceived(); // a partial line from a closed connection means nothing
      closed = true;
      failAll(new BackendFailure("backend closed the connection", null));
      // A client paused because this backend's buffer was full must read on (to its end of data)
      // now that nothing more will be written here.
      onWritable.run();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      NetErrors.logClosing(log, "backend session to " + backend.name(), cause);
      closed = true;
      failAll(new BackendFailure(NetErrors.describe(cause), null));
      ctx.close();
    }
  }
}
