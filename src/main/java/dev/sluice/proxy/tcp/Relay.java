package dev.sluice.proxy.tcp;

import dev.sluice.proxy.IdleWatch;
import dev.sluice.proxy.NetErrors;
import dev.sluice.proxy.identity.ProxyHeaders;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Byte relay between a client and its backend: one instance per direction, installed once the
 * backend's banner has been accepted.
 *
 * <p>Flow control: when the peer's outbound buffer passes its high-water mark this side stops
 * reading, and resumes when the peer drains, so a slow side never makes Sluice buffer without
 * bound. Half-close: end of input on one side shuts down output towards the other (SMTP peers rarely
 * half-close, but a transparent relay must not lose the last bytes); when both directions have
 * ended, or either side closes, both are closed. Writes are flushed once per read batch.
 *
 * <p>Threading: both channels live on one event loop, so the shared {@link Ends} needs no locking.
 */
final class Relay extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(Relay.class);
  private final Channel peer;
  private final Ends ends;
  private final boolean clientSide;

  private Relay(Channel peer, Ends ends, boolean clientSide) {
    this.peer = peer;
    this.ends = ends;
    this.clientSide = clientSide;
  }

  /** Joins client and backend: installs a relay on each and starts reading both. */
  /** Told, once, how many bytes went each way when the pair closes. */
  interface Closed {
    void closed(long fromClient, long toClient);
  }

  /**
   * @param idle close the pair when no byte has moved either way this long; zero: never
   */
  static Ends join(Channel client, Channel backend, Closed onClose, boolean clientInputEnded, Duration idle) {
    Ends ends = new Ends(client, backend, onClose);
    ends.clientInputEnded = clientInputEnded;
    backend.pipeline().addLast("relay", new Relay(client, ends, false));
    client.pipeline().addLast("relay", new Relay(backend, ends, true));
    client.closeFuture().addListener(f -> ends.closeBoth());
    backend.closeFuture().addListener(f -> ends.closeBoth());
    // Resuming reads on an input that has already ended makes the transport close the channel.
    if (!clientInputEnded) {
      client.config().setAutoRead(true);
    }
    backend.config().setAutoRead(true);
    // Idle: no byte either way. The byte counts are kept anyway, so the watch costs nothing per read.
    ends.idleWatch = IdleWatch.start(client.eventLoop(), idle, () -> ends.fromClient + ends.toClient, () -> {
      ends.closeBoth();
      return true;
    });
    return ends;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    io.netty.buffer.ByteBuf buf = (io.netty.buffer.ByteBuf) msg;
    if (clientSide && ends.fromClient == 0 && ProxyHeaders.looksLikeHeader(buf)) {
      // Only peers in accept_proxy may say who the client is (their header is consumed earlier).
      buf.release();
      ends.closeBoth();
      return;
    }
    ends.count(clientSide, buf.readableBytes());
    peer.write(msg, peer.voidPromise());
    if (!peer.isWritable()) {
      ctx.channel().config().setAutoRead(false);
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    peer.flush();
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    // Our outbound buffer drained: the peer may read again.
    if (ctx.channel().isWritable() && !ends.inputEnded(!clientSide)) {
      peer.config().setAutoRead(true);
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent) {
      ends.inputEnded(clientSide, true);
      if (ends.inputEnded(!clientSide)) {
        // Both directions have ended: the close sends the peer its FIN after the pending bytes,
        // so a separate half-close first would only cost a system call.
        ends.closeBoth();
      } else {
        endOutput(peer);
      }
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  /** Flushes what is pending towards {@code ch}, then shuts down its output (TCP half-close). */
  static void endOutput(Channel ch) {
    ch.writeAndFlush(Unpooled.EMPTY_BUFFER)
        .addListener(
            f -> {
              if (ch instanceof DuplexChannel d && ch.isActive()) {
                d.shutdownOutput();
              }
            });
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    ends.closeBoth();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    // Resets and broken pipes are normal ends of TCP sessions: logged at debug only.
    NetErrors.logClosing(log, (clientSide ? "client " : "backend ") + ctx.channel().remoteAddress() + " (relay)", cause);
    ends.closeBoth();
  }

  /** Shared end-of-stream state of one relayed pair. */
  static final class Ends {
    final Channel client;
    final Channel backend;
    final Closed onClose;
    boolean clientInputEnded;
    long fromClient;
    long toClient;
    boolean backendInputEnded;
    boolean closed;
    IdleWatch idleWatch;

    Ends(Channel client, Channel backend, Closed onClose) {
      this.client = client;
      this.backend = backend;
      this.onClose = onClose;
    }

    /** Whether an idle check is scheduled (tests: none may be left once the pair has closed). */
    boolean idleCheckPending() {
      return idleWatch != null && idleWatch.pending();
    }

    void count(boolean clientSide, int n) {
      if (clientSide) {
        fromClient += n;
      } else {
        toClient += n;
      }
    }

    boolean inputEnded(boolean clientSide) {
      return clientSide ? clientInputEnded : backendInputEnded;
    }

    void inputEnded(boolean clientSide, boolean value) {
      if (clientSide) {
        clientInputEnded = value;
      } else {
        backendInputEnded = value;
      }
    }

    /** Flushes what is pending towards each side, then closes both; runs the hook once. */
    void closeBoth() {
      if (closed) {
        return;
      }
      closed = true;
      if (idleWatch != null) {
        idleWatch.cancel();
      }
      flushAndClose(client);
      flushAndClose(backend);
      onClose.closed(fromClient, toClient);
    }

    private static void flushAndClose(Channel ch) {
      if (ch.isActive()) {
        ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      } else {
        ch.close();
      }
    }
  }
}
