package dev.sluice.proxy;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Ends a client session so that its last reply (a {@code 421}, a {@code 554}) actually reaches
 * the client, however much the client had pipelined.
 *
 * <p>Closing a TCP socket that still holds unread input makes the kernel send a reset, and a
 * reset makes the peer's kernel drop replies it has received but its application has not read
 * yet (RFC 1122 §4.2.2.13 allows exactly that). A client that pipelined thousands of commands
 * would then see "connection reset" instead of the {@code 421} that explains why. So after the
 * last write Sluice sends its FIN (after a TLS {@code close_notify} where TLS is active), keeps
 * reading and discarding whatever still arrives, and closes when the client closes or after
 * {@link #LINGER_MILLIS}, whichever comes first — what web servers call a lingering close.
 *
 * <p>Threading: runs on the channel's event loop; the handler is added to the front of the
 * pipeline so nothing behind it sees the discarded bytes.
 */
public final class LingeringClose extends ChannelInboundHandlerAdapter {
  /** How long a client that keeps sending after the final reply is still read from. */
  public static final long LINGER_MILLIS = 2_000;

  private LingeringClose() {}

  /** Flushes what {@code ctx} has written so far, then closes the channel gracefully. */
  public static void afterFlush(ChannelHandlerContext ctx) {
    ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> begin(ctx.channel()));
  }

  private static void begin(Channel ch) {
    if (!ch.isActive() || ch.pipeline().get(LingeringClose.class) != null) {
      return;
    }
    if (!(ch instanceof DuplexChannel duplex)) {
      ch.close();
      return;
    }
    ch.pipeline().addFirst(new LingeringClose());
    Future<?> timer = ch.eventLoop().schedule(() -> ch.close(), LINGER_MILLIS, TimeUnit.MILLISECONDS);
    ch.closeFuture().addListener(f -> timer.cancel(false));
    SslHandler ssl = ch.pipeline().get(SslHandler.class);
    ChannelFuture outboundDone = ssl != null ? ssl.closeOutbound() : ch.newSucceededFuture();
    outboundDone.addListener(f -> {
      if (ch.isActive()) {
        duplex.shutdownOutput().addListener(done -> {
          if (!done.isSuccess()) {
            ch.close();
          }
        });
      }
    });
    ch.config().setAutoRead(true);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ReferenceCountUtil.release(msg);
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    // nothing behind this handler needs to know
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent) {
      ctx.close(); // the client has closed too: the close is now clean on both sides
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
