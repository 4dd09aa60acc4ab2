package dev.sluice.proxy;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the PROXY header (v1 or v2, decoded by Netty's {@code HAProxyMessageDecoder} in front of
 * it) that an upstream proxy listed in {@code accept_proxy} must send, and hands the carried client
 * address on; the session starts only after it. {@code LOCAL} (the proxy's own health check) keeps
 * the proxy's address. No header within {@link #TIMEOUT_MS}, or a malformed one, closes the
 * connection: a trusted peer that does not speak PROXY is misconfigured, and guessing would hand
 * out the wrong identity.
 *
 * <p>Confined to the channel's event loop; removed from the pipeline once done.
 */
final class ProxyHeaderReceiver extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(ProxyHeaderReceiver.class);
  static final long TIMEOUT_MS = 3000;

  private final Consumer<InetSocketAddress> clientAddress;
  private ScheduledFuture<?> timer;

  ProxyHeaderReceiver(Consumer<InetSocketAddress> clientAddress) {
    this.clientAddress = clientAddress;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    timer = ctx.executor().schedule(() -> {
      log.info("{}: no PROXY header within {} ms; closing", ctx.channel().remoteAddress(), TIMEOUT_MS);
      ctx.close();
    }, TIMEOUT_MS, TimeUnit.MILLISECONDS);
    ctx.channel().config().setAutoRead(true);
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
      ctx.pipeline().remove(this);
      clientAddress.accept(client);
      ctx.fireChannelActive();
    } finally {
      header.release();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    log.info("{}: bad PROXY header: {}", ctx.channel().remoteAddress(), NetErrors.describe(cause));
    if (timer != null) {
      timer.cancel(false);
    }
    ctx.close();
  }
}
