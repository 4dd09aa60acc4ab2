package dev.sluice.proxy;

import dev.sluice.runtime.RegisterAfterBatch;
import dev.sluice.runtime.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
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
  private volatile AuthFailureLimiter authFailures;
  private volatile boolean draining;
  private final ChannelGroup sessions = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private List<Channel> serverChannels = List.of();

  public Listener(ListenerRoute route) {
    this.route = new AtomicReference<>(route);
    this.limiter = new ClientLimiter(route.listener().limits(), System::nanoTime);
    this.authFailures = new AuthFailureLimiter(route.listener().limits().authFailures(), System::nanoTime);
  }

  /** Failed logins per client of this listener; kept across reloads unless {@code auth_failures} changes. */
  public AuthFailureLimiter authFailures() {
    return authFailures;
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
    if (!java.util.Objects.equals(previous.listener().limits().authFailures(), next.listener().limits().authFailures())) {
      authFailures = new AuthFailureLimiter(next.listener().limits().authFailures(), System::nanoTime);
    }
  }

  /**
   * Binds the listen address; {@code sessionPipeline} installs the session handlers of each
   * accepted channel.
   *
   * <p>With a transport that can share a port ({@link Transport#listensPerLoop()}), every event
   * loop gets its own listening socket on the address ({@code SO_REUSEPORT}): the kernel spreads
   * new connections over them, and each connection is accepted and served by the same thread. A
   * single shared socket would accept on one thread and hand every connection to another, which
   * costs a wake-up and a context switch per connection. Before binding, the address is taken once
   * without {@code SO_REUSEPORT}, so another process already listening there (another Sluice with
   * the same port, say) is an "address in use" error rather than a silent share of its traffic.
   */
  public void bind(EventLoopGroup workers, Transport transport, BiConsumer<Listener, ChannelPipeline> sessionPipeline)
      throws InterruptedException, IOException {
    InetSocketAddress at = route.get().listener().listen().toSocketAddress();
    List<Channel> bound = new ArrayList<>();
    try {
      if (transport.listensPerLoop()) {
        if (at.getPort() != 0) {
          refuseSharedPort(at);
        }
        InetSocketAddress next = at;
        for (EventExecutor loop : workers) {
          ServerBootstrap b = bootstrap((EventLoop) loop, (EventLoop) loop, transport, sessionPipeline);
          transport.shareListeningPort(b);
          Channel ch = b.bind(next).sync().channel();
          bound.add(ch);
          // With port 0 the first socket gets a port from the kernel; the others join it.
          next = new InetSocketAddress(at.getAddress(), ((InetSocketAddress) ch.localAddress()).getPort());
        }
      } else {
        bound.add(bootstrap(workers, workers, transport, sessionPipeline).bind(at).sync().channel());
      }
    } catch (Exception e) {
      // Includes a bind failure, which Netty's sync() rethrows unchecked: release what is bound.
      bound.forEach(Channel::close);
      throw e;
    }
    serverChannels = List.copyOf(bound);
  }

  private ServerBootstrap bootstrap(EventLoopGroup acceptor, EventLoopGroup sessions, Transport transport,
      BiConsumer<Listener, ChannelPipeline> sessionPipeline) {
    return new ServerBootstrap()
        .group(acceptor, sessions)
        .channel(transport.serverChannel())
        .handler(RegisterAfterBatch.INSTANCE)
        .option(ChannelOption.SO_BACKLOG, 1024)
        .option(ChannelOption.SO_REUSEADDR, true)
        // Reads start only once a backend has answered: until then the client's bytes wait in
        // the kernel, which is the flow control we want.
        .childOption(ChannelOption.AUTO_READ, false)
        // TCP_NODELAY is on by default in Netty's socket channels; no option, no extra system call.
        .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
        .childOption(ChannelOption.RECVBUF_ALLOCATOR, Transport.READ_SIZING)
        .childHandler(
            new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                Listener.this.sessions.add(ch);
                AdmissionGate.install(Listener.this, ch.pipeline());
                sessionPipeline.accept(Listener.this, ch.pipeline());
              }
            });
  }

  /** Fails with "Address already in use" when any other socket listens on {@code at}. */
  private static void refuseSharedPort(InetSocketAddress at) throws IOException {
    try (ServerSocket probe = new ServerSocket()) {
      probe.setReuseAddress(true);
      probe.bind(at);
    }
  }

  /** The bound address (useful when the config asked for port 0). */
  public InetSocketAddress boundAddress() {
    return (InetSocketAddress) serverChannels.get(0).localAddress();
  }

  /** Open client sessions right now. */
  public int activeSessions() {
    return sessions.size();
  }

  /** Stops accepting; sessions in flight go on. */
  public void stopAccepting() {
    serverChannels.forEach(ch -> ch.close().syncUninterruptibly());
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

  /**
   * Tells every open session that the operator has drained or disabled a backend, so sessions
   * that cannot move off it by themselves (smtp mode, authenticated) end at a transaction boundary.
   * Any thread; each session handles it on its own event loop.
   */
  public void backendTakenOutOfService() {
    sessions.forEach(ch -> ch.pipeline().fireUserEventTriggered(BackendOutOfService.INSTANCE));
  }

  /** Fired into each session when a backend was drained or disabled ({@link #backendTakenOutOfService}). */
  public enum BackendOutOfService {
    INSTANCE
  }
}
