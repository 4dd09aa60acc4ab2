package dev.sluice.proxy;

import dev.sluice.proxy.smtp.SmtpReply;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the PROXY header (v1 or v2, decoded by Netty's {@code HAProxyMessageDecoder} in front of
 * it) that an upstream proxy listed in {@code accept_proxy} must send, and hands the carried client
 * address on; the session starts only after it. {@code LOCAL} (the proxy's own health check) keeps
 * the proxy's address. A malformed header closes the connection: a trusted peer that does not speak
 * PROXY is misconfigured, and guessing would hand out the wrong identity.
 *
 * <p>When the header comes: HAProxy and nginx send it as soon as they connect, and a connection
 * from them that has sent nothing within {@link #TIMEOUT_MS} is closed. Others (AWS's Network Load
 * Balancer, Traefik) send it only in front of the client's first bytes. SMTP's server speaks first
 * (RFC 5321 §3.1), so their client waits for a greeting that would wait for the header. On an smtp
 * listener, a peer that has sent no byte at all after {@link #GREET_AFTER_MS} is therefore greeted
 * ({@code greeting}, recorded in {@link SessionAttributes#GREETED_EARLY}), and its header is then
 * awaited for as long as the listener waits for an idle client. The ACL and the limits still judge
 * the address in the header, before any command is handled; a refusal is then the answer to the
 * client's first command. A peer that sent part of a header is not greeted: its header is late,
 * not missing.
 *
 * <p>Confined to the channel's event loop; removed from the pipeline once done.
 */
final class ProxyHeaderReceiver extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(ProxyHeaderReceiver.class);
  /** How long a peer that sends the header at connect may take to send it. */
  static final long TIMEOUT_MS = 3000;
  /**
   * How long an smtp listener waits for a first byte before it greets: far above a round trip to
   * a proxy that sends the header at connect, far below what SMTP clients wait for a greeting
   * (RFC 5321 §4.5.3.2.1: 5 minutes).
   */
  static final long GREET_AFTER_MS = 1000;

  private final Consumer<InetSocketAddress> clientAddress;
  /** Sent when no byte came within {@link #GREET_AFTER_MS}; null: never greet before the header (tcp mode). */
  private final SmtpReply greeting;
  /** How long a greeted peer may take to send its header (the listener's idle timeout). */
  private final Duration afterGreeting;
  private final FirstBytes firstBytes = new FirstBytes();
  private ScheduledFuture<?> timer;

  private ProxyHeaderReceiver(Consumer<InetSocketAddress> clientAddress, SmtpReply greeting, Duration afterGreeting) {
    this.clientAddress = clientAddress;
    this.greeting = greeting;
    this.afterGreeting = afterGreeting;
  }

  /**
   * Adds the PROXY header stage to {@code pipeline}: {@code clientAddress} gets the client's
   * address before the session's handlers are started. {@code greeting}: what an smtp listener
   * says to a peer that sends nothing at first, or null.
   */
  static void install(ChannelPipeline pipeline, Consumer<InetSocketAddress> clientAddress, SmtpReply greeting,
      Duration afterGreeting) {
    ProxyHeaderReceiver receiver = new ProxyHeaderReceiver(clientAddress, greeting, afterGreeting);
    pipeline.addLast("proxy-first-bytes", receiver.firstBytes);
    pipeline.addLast("proxy-decoder", new HAProxyMessageDecoder());
    pipeline.addLast("proxy-header", receiver);
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    if (greeting != null) {
      timer = ctx.executor().schedule(() -> greetOrClose(ctx), GREET_AFTER_MS, TimeUnit.MILLISECONDS);
    } else {
      timer = ctx.executor().schedule(() -> closeWithoutHeader(ctx, TIMEOUT_MS), TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }
    ctx.channel().config().setAutoRead(true);
  }

  private void greetOrClose(ChannelHandlerContext ctx) {
    if (firstBytes.seen) {
      // Part of a header is in: it comes at connect, just slowly; the usual limit applies.
      long left = TIMEOUT_MS - GREET_AFTER_MS;
      timer = ctx.executor().schedule(() -> closeWithoutHeader(ctx, TIMEOUT_MS), left, TimeUnit.MILLISECONDS);
      return;
    }
    ctx.channel().attr(SessionAttributes.GREETED_EARLY).set(greeting);
    ctx.writeAndFlush(greeting.encode(ctx.alloc()), ctx.voidPromise());
    long wait = afterGreeting.toMillis();
    timer = ctx.executor().schedule(() -> closeWithoutHeader(ctx, GREET_AFTER_MS + wait), wait, TimeUnit.MILLISECONDS);
  }

  private static void closeWithoutHeader(ChannelHandlerContext ctx, long afterMillis) {
    log.info("{}: no PROXY header within {} ms; closing", ctx.channel().remoteAddress(), afterMillis);
    ctx.close();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof HAProxyMessage header)) {
      ctx.fireChannelRead(msg);
      return;
    }
    try {
      timer.cancel(false);
      InetSocketAddress client = header.command() == HAProxyCommand.LOCAL || header.sourceAddress() == null
          ? (InetSocketAddress) ctx.channel().remoteAddress()
          : new InetSocketAddress(header.sourceAddress(), header.sourcePort());
      ctx.channel().config().setAutoRead(false);
      ctx.pipeline().remove(firstBytes);
      ctx.pipeline().remove(this);
      clientAddress.accept(client);
      ctx.fireChannelActive();
    } finally {
      header.release();
    }
  }

  /**
   * The peer left before its header (a load balancer's connect-only health check): nothing to wait
   * for, and no greeting to give. A FIN arrives as the end of input (client channels allow half
   * closure), a reset as the channel going inactive.
   */
  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent) {
      timer.cancel(false);
      ctx.close();
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (timer != null) {
      timer.cancel(false);
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.info("{}: bad PROXY header: {}", ctx.channel().remoteAddress(), NetErrors.describe(cause));
    if (timer != null) {
      timer.cancel(false);
    }
    ctx.close();
  }

  /** Notes that the peer has sent something, ahead of the decoder that keeps a partial header to itself. */
  private static final class FirstBytes extends ChannelInboundHandlerAdapter {
    private boolean seen;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      seen = true;
      ctx.fireChannelRead(msg);
    }
  }
}
