package dev.sluice.proxy.tcp;

import dev.sluice.balance.Backend;
import dev.sluice.balance.SelectionKey;
import dev.sluice.config.ListenerConfig;
import dev.sluice.proxy.BackendConnector;
import dev.sluice.proxy.Listener;
import dev.sluice.proxy.ListenerRoute;
import dev.sluice.proxy.NetErrors;
import dev.sluice.proxy.SessionAttributes;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.identity.ProxyHeaders;
import dev.sluice.proxy.smtp.SmtpReply;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GenericFutureListener;
import java.net.InetSocketAddress;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client session of a tcp-mode listener (DESIGN §4): ACL, then pick a backend, connect from the
 * listener's source address, read the backend's banner. A failed connect or a 4xx/5xx banner moves
 * on to the next eligible backend (never the same one twice for this client) before the client sees
 * anything; the first 2xx banner is passed to the client and from then on bytes are relayed both
 * ways. With {@code implicit_tls} (port 465) the server's banner comes only inside TLS, so the
 * client is joined as soon as a connection is up, and only a failed connect moves on. With no
 * eligible backend left Sluice itself answers {@code 421 4.3.2} and closes, so the sender retries
 * later and nothing is lost.
 *
 * <p>Threading: the client channel and its backend channel share one event loop; all state here is
 * confined to it.
 */
public final class TcpSession extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(TcpSession.class);
  /** SMTP reply lines are at most 512 octets (RFC 5321 §4.5.3.1.5); allow generous slack. */
  private static final int MAX_BANNER_LINE = 4096;
  /** Bytes an early talker may send before the banner; a real SMTP client sends none. */
  private static final int MAX_EARLY_BYTES = 64 * 1024;

  private final Listener listener;
  private final BackendConnector connector;
  private final Set<Backend> tried = new HashSet<>(4);
  private ListenerRoute route;
  private Channel client;
  private SelectionKey key;
  private Channel backendChannel;
  private SessionInfo info;
  /** Backends not to choose now: those tried, and those a transparent listener cannot reach from this client. */
  private final Predicate<Backend> passedOver =
      b -> tried.contains(b) || !BackendConnector.reachable(config(), info.remote(), b);
  /** Bytes the client sent before a backend was joined (SMTP clients should wait for the banner). */
  private CompositeByteBuf early;
  private boolean clientInputEnded;

  public TcpSession(Listener listener, BackendConnector connector) {
    this.listener = listener;
    this.connector = connector;
  }

  private ListenerConfig config() {
    return route.listener();
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    route = listener.route();
    client = ctx.channel();
    info = SessionAttributes.session(client);
    key = new SelectionKey(info.remote().getAddress().getAddress());
    tryNextBackend();
  }

  private void tryNextBackend() {
    if (!client.isActive()) {
      return;
    }
    Backend backend = route.balancer().select(key, route.eligibility(), passedOver);
    if (backend == null) {
      log.warn("{}: no eligible backend for {} (tried {})", listener.name(), info.remote(), tried);
      route.observer().info(info, "no eligible backend; answered 421 4.3.2");
      answerAndClose("421 4.3.2 " + config().hostname() + " Service not available, no backend server available; try again later");
      return;
    }
    tried.add(backend);
    ListenerConfig.ClientIdentity identity = backend.clientIdentityFrom(config());
    // implicit_tls: the server says nothing before the client's TLS handshake, so there is no banner
    // to wait for; the client is joined as soon as the connection is up.
    BannerGate gate = config().implicitTls() ? null : new BannerGate(this, backend, config().timeouts().banner());
    long connectStart = System.nanoTime();
    connector
        .connect(
            client.eventLoop(),
            backend,
            BackendConnector.sourceFor(config(), backend, info.remote()),
            identity == ListenerConfig.ClientIdentity.TRANSPARENT,
            true,
            config().timeouts().connect(),
            new ChannelInitializer<Channel>() {
              @Override
              protected void initChannel(Channel ch) {
                if (identity.proxyVersion() != 0) {
                  ch.pipeline().addLast("proxy", HAProxyMessageEncoder.INSTANCE);
                }
                if (gate != null) {
                  ch.pipeline().addLast("lines", new LineBasedFrameDecoder(MAX_BANNER_LINE, true, true));
                  ch.pipeline().addLast("banner", gate);
                }
              }
            })
        .addListener(
            (GenericFutureListener<Future<Channel>>)
                f -> {
                  if (!f.isSuccess()) {
                    if (gate != null && !gate.claimFailure()) {
                      // The gate already failed this attempt (an error on the channel before the
                      // connect completed, which then closed it) and moved on to the next backend.
                      return;
                    }
                    log.warn("{}: backend {} connect failed: {}", listener.name(), backend, NetErrors.describe(f.cause()));
                    route.liveFailure(info, backend, "connect failed: " + NetErrors.describe(f.cause()), true,
                        passedOver);
                    tryNextBackend();
                  } else {
                    backendChannel = f.getNow();
                    if (!client.isActive()) {
                      backendChannel.close();
                    } else {
                      if (identity.proxyVersion() != 0) {
                        // PROXY protocol: one header before any other byte; the backend waits for it.
                        backendChannel.writeAndFlush(ProxyHeaders.of(identity.proxyVersion() == 2,
                            info.remote(), info.local()),
                            backendChannel.voidPromise());
                      }
                      if (gate == null) {
                        join(backendChannel, backend, null, System.nanoTime() - connectStart);
                      }
                    }
                  }
                });
  }

  /**
   * Joins the client to {@code backend} and starts relaying, after passing on its {@code banner}:
   * the 2xx {@link BannerGate} accepted, or null with implicit_tls, where the server has sent
   * nothing yet. {@code latencyNanos}: until the banner, or with implicit_tls until the connection
   * was up.
   */
  void join(Channel backend, Backend chosen, SmtpReply banner, long latencyNanos) {
    if (!client.isActive()) {
      backend.close();
      return;
    }
    chosen.recordLatency(latencyNanos);
    route.passive().success(chosen);
    info.backend(chosen.name());
    route.observer().backendChosen(info, chosen);
    chosen.acquire();
    if (banner != null) {
      client.write(banner.encode(client.alloc()));
    }
    ByteBuf pending = early;
    early = null; // handed to the backend below, not released with this handler
    client.pipeline().remove(this);
    Relay.join(client, backend, (fromClient, toClient) -> {
      chosen.release();
      route.observer().bytes(info, chosen, fromClient, toClient);
    }, clientInputEnded, config().limits().idleTimeout());
    if (banner != null) {
      // Removing the line decoder hands any bytes that arrived after the banner to the relay.
      backend.pipeline().remove("banner");
      backend.pipeline().remove("lines");
    }
    client.flush();
    if (pending != null && ProxyHeaders.looksLikeHeader(pending)) {
      log.info("{}: {} sent a PROXY header but is not in accept_proxy; closing", listener.name(), info.remote());
      pending.release();
      client.close();
      backend.close();
      return;
    }
    if (pending != null) {
      backend.write(pending);
    }
    if (clientInputEnded) {
      Relay.endOutput(backend);
    } else {
      backend.flush();
    }
    log.debug("{}: {} -> {}", listener.name(), info.remote(), chosen);
  }

  /** The backend failed before or at its banner: try the next one. */
  void bannerFailed(Channel backend, Backend chosen, String why) {
    log.warn("{}: backend {} refused session from {}: {}", listener.name(), chosen, info.remote(), why);
    route.liveFailure(info, chosen, why, true, passedOver);
    backend.close();
    backendChannel = null;
    tryNextBackend();
  }

  private void answerAndClose(String line) {
    client.writeAndFlush(ByteBufUtil.writeAscii(client.alloc(), line + "\r\n")).addListener(ChannelFutureListener.CLOSE);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    // Reads are off until the join, but a transport may still deliver what arrived together with
    // the client's end of input; keep it (bounded) for the backend.
    ByteBuf buf = (ByteBuf) msg;
    if (early == null) {
      early = ctx.alloc().compositeBuffer();
    }
    early.addComponent(true, buf);
    if (early.readableBytes() > MAX_EARLY_BYTES) {
      log.info("{}: {} sent {} bytes before any banner; closing", listener.name(), info.remote(), early.readableBytes());
      ctx.close();
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent) {
      clientInputEnded = true;
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    if (early != null) {
      early.release();
      early = null;
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    // The client left before a backend was joined.
    if (backendChannel != null) {
      backendChannel.close();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    NetErrors.logClosing(log, listener.name() + ": client " + ctx.channel().remoteAddress() + " (before relay)", cause);
    ctx.close();
  }
}
