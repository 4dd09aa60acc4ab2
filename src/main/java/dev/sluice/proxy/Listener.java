package dev.sluice.proxy;

import dev.sluice.runtime.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;

/**
 * One bound listener socket. Holds the current {@link ListenerRoute} (swapped atomically on reload)
 * and the group of open client sessions (for graceful shutdown).
 *
 * <p>Thread-safe.
 */
public final class Listener {
  private final AtomicReference<ListenerRoute> route;
  private volatile ClientLimiter limiter;
  private volatile boolean draining;
  private final ChannelGroup sessions = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private Channel serverChannel;

  public Listener(ListenerRoute route) {
    this.route = new AtomicReference<>(route);
    this.limiter = new ClientLimiter(route.listener().limits(), System::nanoTime);
  }

  /** Admission limits of this listener; kept across reloads unless the limits change. */
  public ClientLimiter limiter() {
    return limiter;
  }

  public String name() {
    return route.get().listener().name();
  }

  public ListenerRoute route() {
    return route.get();
  }

  public void swap(ListenerRoute next) {
    ListenerRoute previous = route.getAndSet(next);
    if (!previous.listener().limits().equals(next.listener().limits())) {
      limiter = new ClientLimiter(next.listener().limits(), System::nanoTime);
    }
  }

  /**
   * Binds the listen address; {@code sessionPipeline} installs the session handlers of each
   * accepted channel.
   */
  public void bind(
      EventLoopGroup boss,
      EventLoopGroup workers,
      Transport transport,
      BiConsumer<Listener, ChannelPipeline> sessionPipeline)
      throws InterruptedException {
    InetSocketAddress at = route.get().listener().listen().toSocketAddress();
    ServerBootstrap b =
        new ServerBootstrap()
            .group(boss, workers)
            .channel(transport.serverChannel())
            .option(ChannelOption.SO_BACKLOG, 1024)
            .option(ChannelOption.SO_REUSEADDR, true)
            // Reads start only once a backend has answered: until then the client's bytes wait in
            // the kernel, which is the flow control we want.
            .childOption(ChannelOption.AUTO_READ, false)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    sessions.add(ch);
                    AdmissionGate.install(Listener.this, ch.pipeline());
                    sessionPipeline.accept(Listener.this, ch.pipeline());
                  }
                });
    serverChannel = b.bind(at).sync().channel();
  }

  /** The bound address (useful when the config asked for port 0). */
  public InetSocketAddress boundAddress() {
    return (InetSocketAddress) serverChannel.localAddress();
  }

  /** Open client sessions right now. */
  public int activeSessions() {
    return sessions.size();
  }

  /** Stops accepting; sessions in flight go on. */
  public void stopAccepting() {
    if (serverChannel != null) {
      serverChannel.close().syncUninterruptibly();
    }
  }

  /**
   * Shutdown has begun: smtp sessions finish the transaction in flight and are then asked to go
   * ({@code 421} at their next MAIL FROM), so long-lived connections drain quickly.
   */
  public void drain() {
    draining = true;
    stopAccepting();
  }

  public boolean draining() {
    return draining;
  }

  /**
   * Ends every open session (the end of a graceful shutdown's grace period): smtp sessions are told
   * {@code 421} first, so their senders know to retry.
   */
  public void closeSessions() {
    sessions.forEach(ch -> ch.pipeline().fireUserEventTriggered(SessionEnd.INSTANCE));
    sessions.close().awaitUninterruptibly();
  }

  /** Fired into each session when Sluice ends it at the end of a shutdown's grace period. */
  public enum SessionEnd {
    INSTANCE
  }
}
