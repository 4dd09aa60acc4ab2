package dev.sluice.proxy.tcp;

import dev.sluice.balance.Backend;
import dev.sluice.proxy.NetErrors;
import dev.sluice.proxy.smtp.ReplyAssembler;
import dev.sluice.proxy.smtp.SmtpReply;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Reads a backend's greeting before the client is joined to it: a 2xx banner is accepted; a 4xx or
 * 5xx banner (a server in trouble or shutting down), garbage, a close or a timeout sends the session
 * on to the next backend. Confined to the session's event loop.
 */
final class BannerGate extends SimpleChannelInboundHandler<ByteBuf> {
  private final TcpSession session;
  private final Backend backend;
  private final Duration timeout;
  private final ReplyAssembler assembler = new ReplyAssembler();
  private ScheduledFuture<?> timer;
  private long connectedAt;
  private boolean done;

  BannerGate(TcpSession session, Backend backend, Duration timeout) {
    this.session = session;
    this.backend = backend;
    this.timeout = timeout;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    connectedAt = System.nanoTime();
    timer =
        ctx.executor()
            .schedule(() -> fail(ctx, "no banner within " + timeout.toSeconds() + "s"), timeout.toMillis(), TimeUnit.MILLISECONDS);
    ctx.fireChannelActive();
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, ByteBuf line) {
    if (done) {
      return;
    }
    SmtpReply reply;
    try {
      reply = assembler.feed(line.toString(StandardCharsets.UTF_8));
    } catch (ReplyAssembler.MalformedReplyException e) {
      fail(ctx, e.getMessage());
      return;
    }
    if (reply == null) {
      return;
    }
    done = true;
    timer.cancel(false);
    if (reply.isPositive()) {
      session.join(ctx.channel(), backend, reply, System.nanoTime() - connectedAt);
    } else {
      // Be polite to a server that refused us: it expects QUIT (RFC 5321 §3.1).
      ctx.writeAndFlush(ByteBufUtil.writeAscii(ctx.alloc(), "QUIT\r\n"));
      session.bannerFailed(ctx.channel(), backend, "banner " + reply);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    fail(ctx, "closed the connection before its banner");
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    fail(ctx, NetErrors.describe(cause));
  }

  /**
   * Claims the one failure report of this attempt for a failed connect; false when the gate has
   * already reported (an attempt must move on to the next backend once, not twice).
   */
  boolean claimFailure() {
    if (done) {
      return false;
    }
    done = true;
    if (timer != null) {
      timer.cancel(false);
    }
    return true;
  }

  private void fail(ChannelHandlerContext ctx, String why) {
    if (!claimFailure()) {
      return;
    }
    session.bannerFailed(ctx.channel(), backend, why);
  }
}
