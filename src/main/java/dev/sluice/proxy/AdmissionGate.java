package dev.sluice.proxy;

import dev.sluice.config.ListenerConfig;
import dev.sluice.proxy.smtp.ClientSession;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import java.net.InetSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first stage of every client session, in both modes: establishes who the client really is (a
 * PROXY header from a peer in {@code accept_proxy}, else the TCP peer), then applies the ACL ({@code
 * 554 5.7.1}) and the connection limits ({@code 421 4.7.0}) to that address. Sluice writes these
 * answers itself, as a banner, so no backend ever sees a refused client. An admitted session is
 * published as {@link SessionAttributes#SESSION} and the session handler behind the gate is
 * started.
 *
 * <p>Confined to the channel's event loop; removed from the pipeline once the client is admitted.
 */
public final class AdmissionGate extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(AdmissionGate.class);

  private final Listener listener;
  private InetSocketAddress client;

  private AdmissionGate(Listener listener) {
    this.listener = listener;
  }

  /** Installs the gate (and the PROXY header stage for trusted peers) at the head of a session pipeline. */
  public static void install(Listener listener, ChannelPipeline pipeline) {
    AdmissionGate gate = new AdmissionGate(listener);
    InetSocketAddress peer = (InetSocketAddress) pipeline.channel().remoteAddress();
    ListenerConfig config = listener.route().listener();
    if (config.acceptProxy().stream().anyMatch(c -> c.contains(peer.getAddress()))) {
      // An smtp listener may greet before the header (some proxies send it only with the client's
      // first bytes); not over implicit TLS, where the client speaks first anyway.
      boolean greetEarly = config.mode() == ListenerConfig.Mode.SMTP && (config.tls() == null || !config.tls().implicit());
      ProxyHeaderReceiver.install(pipeline, a -> gate.client = a,
          greetEarly ? ClientSession.greeting(config.hostname()) : null, config.limits().idleTimeout());
    }
    pipeline.addLast("gate", gate);
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    ListenerRoute route = listener.route();
    ListenerConfig config = route.listener();
    InetSocketAddress remote = client != null ? client : (InetSocketAddress) ctx.channel().remoteAddress();
    SessionInfo info = new SessionInfo(listener.name(), (InetSocketAddress) ctx.channel().localAddress(), remote);
    if (!config.admits(remote.getAddress())) {
      log.info("{}: refused {} by ACL", listener.name(), remote);
      refuse(ctx, info, "acl", "554 5.7.1 " + config.hostname() + " Access denied");
      return;
    }
    ClientLimiter limiter = listener.limiter();
    ClientLimiter.Admission admission = limiter.admit(remote.getAddress());
    if (admission != ClientLimiter.Admission.ADMITTED) {
      log.info("{}: refused {}: {}", listener.name(), remote, admission);
      refuse(ctx, info, admission.name().toLowerCase(java.util.Locale.ROOT),
          "421 4.7.0 " + config.hostname() + " " + explain(admission) + "; try again later");
      return;
    }
    ctx.channel().closeFuture().addListener(f -> limiter.release(remote.getAddress()));
    ctx.channel().attr(SessionAttributes.SESSION).set(info);
    route.observer().connected(info);
    ctx.channel().closeFuture().addListener(f -> route.observer().disconnected(info));
    ctx.pipeline().remove(this);
    ctx.fireChannelActive();
  }

  private static String explain(ClientLimiter.Admission a) {
    return switch (a) {
      case TOO_MANY_CONNECTIONS -> "Error: too many connections";
      case TOO_MANY_FROM_CLIENT -> "Error: too many connections from your address";
      case RATE_EXCEEDED -> "Error: too many connections from your address in a short time";
      case ADMITTED -> "";
    };
  }

  private void refuse(ChannelHandlerContext ctx, SessionInfo info, String reason, String reply) {
    listener.route().observer().rejected(info, reason);
    ctx.writeAndFlush(ByteBufUtil.writeAscii(ctx.alloc(), reply + "\r\n")).addListener(ChannelFutureListener.CLOSE);
  }
}
