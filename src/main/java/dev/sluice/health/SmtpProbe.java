package dev.sluice.health;

import dev.sluice.config.ConfigValues;
import dev.sluice.config.HealthProfile;
import dev.sluice.config.HealthProfile.Step;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.proxy.identity.ClientInfo;
import dev.sluice.proxy.NetErrors;
import dev.sluice.proxy.identity.ProxyHeaders;
import dev.sluice.proxy.smtp.ReplyAssembler;
import dev.sluice.proxy.smtp.SmtpReply;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import javax.net.ssl.SSLException;

/**
 * Runs one health probe: a real SMTP dialogue with a backend following a {@link HealthProfile}'s
 * steps, judged as a sender would experience it. A probe always ends politely with RSET (when a
 * transaction was opened) and QUIT, so backends log a clean session instead of a lost connection.
 *
 * <p>Each step's reply must arrive within the profile's {@code timeout}. Thread-safe: each probe runs
 * on one event loop of the given group and completes its future there.
 */
public final class SmtpProbe {
  private static final int MAX_LINE = 4096;

  private final EventLoopGroup group;
  private final Function<InetSocketAddress, ChannelFactory<SocketChannel>> channels;
  private final SslContext probeTls;

  /** @param channels makes the channel for a connection to an address (the transport's factory) */
  public SmtpProbe(EventLoopGroup group, Function<InetSocketAddress, ChannelFactory<SocketChannel>> channels) {
    this.group = group;
    this.channels = channels;
    try {
      // The probe reports the certificate (subject, expiry) rather than trusting it: chain
      // validation is the backend_tls setting's job, not the health check's.
      this.probeTls = SslContextBuilder.forClient().trustManager(InsecureTrustManagerFactory.INSTANCE).build();
    } catch (SSLException e) {
      throw new IllegalStateException("cannot initialise TLS for probes", e);
    }
  }

  /**
   * Probes {@code backend} from {@code key}'s source address, setting the session up as the
   * listener's traffic does (see {@link ProbeKey}): a PROXY header naming the probe's own
   * connection first (a port that expects PROXY waits for it before greeting); after the first
   * positive EHLO, STARTTLS with the listener's {@code backend_tls} context, then XCLIENT (with a
   * fresh EHLO) or XFORWARD naming the probe's own address, so the server judges the probe as it
   * judged it without them. Then the profile's remaining steps.
   *
   * @return a future that always completes normally with the result
   */
  public CompletableFuture<ProbeResult> probe(InetSocketAddress backend, ProbeKey key, HealthProfile profile) {
    CompletableFuture<ProbeResult> result = new CompletableFuture<>();
    long start = System.nanoTime();
    int proxyVersion = key.proxyVersion();
    InetAddress source = key.source();
    Dialogue dialogue = new Dialogue(profile, key, backend, result, start);
    Bootstrap b =
        new Bootstrap()
            .group(group)
            .channelFactory(channels.apply(backend))
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, profile.timeout().toMillis()))
            .handler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    if (proxyVersion != 0) {
                      ch.pipeline().addLast("proxy", HAProxyMessageEncoder.INSTANCE);
                    }
                    ch.pipeline().addLast("lines", new LineBasedFrameDecoder(MAX_LINE, true, true));
                    ch.pipeline().addLast("dialogue", dialogue);
                  }
                });
    if (key.identity() == ClientIdentity.TRANSPARENT) {
      // Only `sluice probe backend --transparent` (ProbeKey.of never gives it): from a client's
      // address, to check the route back, as a transparent listener's sessions connect.
      b.option(EpollChannelOption.IP_TRANSPARENT, true);
    }
    ChannelFuture connect =
        source == null ? b.connect(backend) : b.connect(backend, new InetSocketAddress(source, 0));
    connect.addListener(
        f -> {
          if (!f.isSuccess()) {
            dialogue.transcript.add("*: connect to " + backend + " failed: " + describe(f.cause()));
            dialogue.complete(ProbeOutcome.FAILED, "connect failed: " + describe(f.cause()));
          }
        });
    return result;
  }

  private static String describe(Throwable t) {
    return NetErrors.describe(t);
  }

  /** The state of one probe's SMTP dialogue; lives on one channel's event loop. */
  private final class Dialogue extends SimpleChannelInboundHandler<ByteBuf> {
    final HealthProfile profile;
    final InetSocketAddress backend;
    final CompletableFuture<ProbeResult> result;
    final long start;
    final List<String> transcript = new ArrayList<>();
    final ReplyAssembler assembler = new ReplyAssembler();
    /** Steps still to run, after CONNECT. */
    final List<Step> todo = new ArrayList<>();
    Channel channel;
    String awaiting = "banner";
    boolean inTransaction;
    boolean closing;
    ProbeOutcome verdict;
    String reason;
    ProbeResult.CertificateInfo certificate;
    ScheduledFuture<?> timer;
    final ProbeKey key;
    /** The session runs over TLS (the listener's backend_tls or the profile's starttls step). */
    boolean tlsUp;
    /** XCLIENT or XFORWARD, when the listener uses one, has been accepted. */
    boolean identitySent;
    /** What the last EHLO reply after the session setup offered with AUTH; null before it. */
    List<String> authMechanisms;

    Dialogue(HealthProfile profile, ProbeKey key, InetSocketAddress backend, CompletableFuture<ProbeResult> result,
        long start) {
      this.key = key;
      this.profile = profile;
      this.backend = backend;
      this.result = result;
      this.start = start;
      for (Step s : profile.steps()) {
        if (s != Step.CONNECT && s != Step.QUIT) {
          todo.add(s);
        }
      }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      channel = ctx.channel();
      if (key.proxyVersion() != 0) {
        InetSocketAddress local = (InetSocketAddress) channel.localAddress();
        transcript.add("C: PROXY header v" + key.proxyVersion() + " (" + local.getAddress().getHostAddress() + ":"
            + local.getPort() + " -> " + backend + ")");
        channel.writeAndFlush(ProxyHeaders.of(key.proxyVersion() == 2, local, (InetSocketAddress) channel.remoteAddress()));
      }
      boolean implicitTls = !todo.isEmpty() && todo.get(0) == Step.TLS;
      if (implicitTls) {
        todo.remove(0);
      }
      if (todo.isEmpty() || todo.get(0) != Step.BANNER) {
        // A connect-only probe still reads the banner silently so QUIT is not sent into nothing.
        todo.add(0, Step.BANNER);
      }
      todo.remove(0);
      if (implicitTls) {
        // Port 465: the server greets only inside TLS (RFC 8314 §3.3); the PROXY header went before it.
        startTls(() -> awaitReply("banner"));
      } else {
        awaitReply("banner");
      }
    }

    private void awaitReply(String what) {
      awaiting = what;
      cancelTimer();
      long ms = profile.timeout().toMillis();
      timer =
          channel.eventLoop().schedule(
              () -> {
                transcript.add("*: no reply to " + what + " within " + ConfigValues.formatDuration(profile.timeout()));
                fail(ProbeOutcome.FAILED, "timeout waiting for " + what + " reply", false);
              },
              ms,
              TimeUnit.MILLISECONDS);
    }

    private void cancelTimer() {
      if (timer != null) {
        timer.cancel(false);
        timer = null;
      }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
      String line = msg.toString(StandardCharsets.UTF_8);
      transcript.add("S: " + line);
      SmtpReply reply;
      try {
        reply = assembler.feed(line);
      } catch (ReplyAssembler.MalformedReplyException e) {
        fail(ProbeOutcome.FAILED, "bad reply to " + awaiting + ": " + e.getMessage(), false);
        return;
      }
      if (reply != null) {
        onReply(reply);
      }
    }

    private void onReply(SmtpReply reply) {
      cancelTimer();
      if (closing) {
        if (awaiting.equals("RSET")) {
          send("QUIT", "QUIT");
        } else {
          channel.close();
          finish();
        }
        return;
      }
      switch (awaiting) {
        case "banner", "EHLO" -> {
          if (!reply.isPositive()) {
            fail(ProbeOutcome.FAILED, awaiting + " refused: " + reply, true);
            return;
          }
          if (awaiting.equals("EHLO")) {
            if (setUp(reply)) {
              return; // a setup command is on its way
            }
            authMechanisms = reply.ehloParameters("AUTH"); // as a live session set up like this sees them
          }
        }
        case "STARTTLS" -> {
          if (reply.code() != 220) {
            fail(ProbeOutcome.FAILED, "STARTTLS refused: " + reply, true);
            return;
          }
          // RFC 3207 §4.2: after TLS the client must discard what it knew and EHLO again.
          startTls(() -> send("EHLO " + profile.helo(), "EHLO"));
          return;
        }
        case "XCLIENT" -> {
          // Success is a fresh greeting: the session restarts as the client named, and greets again.
          if (reply.code() != 220) {
            fail(ProbeOutcome.FAILED, "XCLIENT refused: " + reply, true);
            return;
          }
          identitySent = true;
          send("EHLO " + profile.helo(), "EHLO");
          return;
        }
        case "XFORWARD" -> {
          if (!reply.isPositive()) {
            fail(ProbeOutcome.FAILED, "XFORWARD refused: " + reply, true);
            return;
          }
          identitySent = true;
        }
        case "MAIL FROM", "RCPT TO" -> {
          inTransaction = true;
          if (reply.isTransient()) {
            fail(ProbeOutcome.BACK_PRESSURE, "back pressure at " + awaiting + ": " + reply, true);
            return;
          }
          if (!reply.isPositive()) {
            fail(
                ProbeOutcome.MISCONFIGURED,
                "probe misconfigured: profile '" + profile.name() + "' " + awaiting + " refused: " + reply,
                true);
            return;
          }
        }
        default -> throw new IllegalStateException("unexpected reply while awaiting " + awaiting);
      }
      next();
    }

    /** Runs the next step, or ends the dialogue when none is left. */
    private void next() {
      if (todo.isEmpty()) {
        verdict = ProbeOutcome.OK;
        reason = "all steps answered";
        goodbye();
        return;
      }
      Step step = todo.remove(0);
      switch (step) {
        case BANNER -> next(); // the banner was already awaited on connect
        case EHLO -> send("EHLO " + profile.helo(), "EHLO");
        case STARTTLS -> {
          if (tlsUp) {
            next(); // the listener's backend_tls has done it
          } else {
            send("STARTTLS", "STARTTLS");
          }
        }
        case MAIL_FROM -> send("MAIL FROM:<" + profile.mailFrom() + ">", "MAIL FROM");
        case RCPT_TO -> send("RCPT TO:<" + profile.rcptTo() + ">", "RCPT TO");
        default -> next();
      }
    }

    /**
     * After a positive EHLO, takes the next step of the listener's session setup, as a live backend
     * session does it ({@code BackendSession.open}): STARTTLS for {@code backend_tls}, then XCLIENT
     * or XFORWARD. Returns false when the setup is complete (or failed and the dialogue is ending).
     */
    private boolean setUp(SmtpReply ehlo) {
      List<String> offered = ehlo.ehloKeywords();
      if (key.backendTls() != BackendTls.NONE && !tlsUp) {
        if (offered.contains("STARTTLS")) {
          send("STARTTLS", "STARTTLS");
          return true;
        }
        if (key.backendTls() == BackendTls.REQUIRE) {
          fail(ProbeOutcome.FAILED, "backend does not offer STARTTLS (backend_tls: require)", true);
          return true;
        }
      }
      ClientIdentity identity = key.identity();
      if (identitySent || (identity != ClientIdentity.XCLIENT && identity != ClientIdentity.XFORWARD)) {
        return false;
      }
      String command = identity.name();
      if (!offered.contains(command)) {
        fail(ProbeOutcome.FAILED, "backend does not offer " + command + " to " + localAddress()
            + " (Postfix: add it to smtpd_authorized_" + command.toLowerCase(java.util.Locale.ROOT) + "_hosts)", true);
        return true;
      }
      // The probe names itself: the server judges it as it would without XCLIENT.
      InetSocketAddress local = (InetSocketAddress) channel.localAddress();
      ClientInfo self = new ClientInfo(local, backend, profile.helo(), true, null);
      List<String> attributes = ehlo.ehloParameters(command);
      send(identity == ClientIdentity.XCLIENT ? self.xclient(attributes) : self.xforward(attributes), command);
      return true;
    }

    private String localAddress() {
      return ((InetSocketAddress) channel.localAddress()).getAddress().getHostAddress();
    }

    /** Shakes hands over TLS, then runs {@code then}. */
    private void startTls(Runnable then) {
      // The listener's own TLS context when it has backend_tls: a certificate that live sessions
      // would refuse fails the probe too. Otherwise (a profile's starttls step) the certificate is
      // only reported.
      SslHandler ssl = key.tls() != null
          ? key.tls().newHandler(channel.alloc(), backend.getHostString(), backend.getPort())
          : probeTls.newHandler(channel.alloc(), backend.getHostString(), backend.getPort());
      channel.pipeline().addFirst("tls", ssl);
      awaitReply("TLS handshake");
      ssl.handshakeFuture()
          .addListener(
              f -> {
                cancelTimer();
                if (!f.isSuccess()) {
                  transcript.add("*: TLS handshake failed: " + describe(f.cause()));
                  fail(ProbeOutcome.FAILED, "TLS handshake failed: " + describe(f.cause()), false);
                  return;
                }
                tlsUp = true;
                recordCertificate(ssl);
                then.run();
              });
    }

    private void recordCertificate(SslHandler ssl) {
      try {
        Certificate[] chain = ssl.engine().getSession().getPeerCertificates();
        if (chain.length > 0 && chain[0] instanceof X509Certificate x) {
          // Recorded, not judged: an expired certificate still carries mail for clients that do
          // not verify it, so expiry is warned about (cert_warn_days), never a health failure.
          certificate = ProbeResult.CertificateInfo.of(x, Instant.now());
          transcript.add("*: TLS " + ssl.engine().getSession().getProtocol() + ", certificate " + certificate.subject()
              + ", " + certificate.describeExpiry());
        }
      } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
        transcript.add("*: TLS without a peer certificate");
      }
    }

    private void send(String command, String awaitingWhat) {
      transcript.add("C: " + command);
      channel.writeAndFlush(ByteBufUtil.writeAscii(channel.alloc(), command + "\r\n"));
      awaitReply(awaitingWhat);
    }

    /** Records a verdict; when the server is still talking, ends the session politely first. */
    private void fail(ProbeOutcome outcome, String why, boolean polite) {
      if (verdict == null) {
        verdict = outcome;
        reason = why;
      }
      if (polite && channel != null && channel.isActive()) {
        goodbye();
      } else {
        if (channel != null) {
          channel.close();
        }
        finish();
      }
    }

    private void goodbye() {
      closing = true;
      if (inTransaction) {
        send("RSET", "RSET");
      } else {
        send("QUIT", "QUIT");
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      cancelTimer();
      if (verdict == null) {
        transcript.add("*: connection closed by server while waiting for " + awaiting);
        verdict = ProbeOutcome.FAILED;
        reason = "connection closed while waiting for " + awaiting;
      }
      finish();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      transcript.add("*: " + describe(cause));
      fail(ProbeOutcome.FAILED, "error while waiting for " + awaiting + ": " + describe(cause), false);
    }

    void complete(ProbeOutcome outcome, String why) {
      verdict = outcome;
      reason = why;
      finish();
    }

    private void finish() {
      if (!result.isDone()) {
        result.complete(new ProbeResult(verdict, reason, transcript, System.nanoTime() - start, certificate, authMechanisms));
      }
    }
  }
}
