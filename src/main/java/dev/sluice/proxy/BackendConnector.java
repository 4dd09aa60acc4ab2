package dev.sluice.proxy;

import dev.sluice.balance.Backend;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.runtime.Transport;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens connections to backends on the caller's event loop (so both halves of a session share one
 * thread and need no locking), from the listener's {@code source_address} when it has one, or with
 * {@code client_identity: transparent} from the client's own address ({@link #sourceFor}).
 * Thread-safe; its only state is when it last logged the return-route hint.
 */
public final class BackendConnector {
  private static final Logger log = LoggerFactory.getLogger(BackendConnector.class);
  private static final long ROUTE_HINT_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final Transport transport;
  /** When the last return-route hint was logged ({@link System#nanoTime}), 0 for never. */
  private final AtomicLong lastRouteHint = new AtomicLong();

  public BackendConnector(Transport transport) {
    this.transport = transport;
  }

  /**
   * A transparent connection that times out most likely lacks its return route (the server's
   * SYN-ACK went to the client's address by another way): said once a minute at most, since
   * without the route every session fails the same way while the probes, from Sluice's own
   * address, still find the servers UP.
   */
  private void hintReturnRoute(Backend backend, InetAddress client) {
    long now = System.nanoTime();
    long last = lastRouteHint.get();
    if (last != 0 && now - last < ROUTE_HINT_EVERY_NANOS || !lastRouteHint.compareAndSet(last, now)) {
      return;
    }
    log.warn("transparent connection from {} to backend {} timed out: if transparent connections keep timing out"
        + " while the probes pass, the servers' answers to client addresses do not come back through this host"
        + " (check: sluice probe backend {} --source {} --transparent; docs/security.md, Transparent mode)",
        client.getHostAddress(), backend, backend.address(), client.getHostAddress());
  }

  /**
   * The local address of a session's connections to {@code backend}: the client's own when the
   * backend takes {@code client_identity: transparent} from {@code l} (it then sees the client as if
   * it had connected directly), else the listener's {@code source_address} (null: the host picks).
   */
  public static InetAddress sourceFor(ListenerConfig l, Backend backend, InetSocketAddress client) {
    return backend.clientIdentityFrom(l) == ClientIdentity.TRANSPARENT ? client.getAddress() : l.sourceAddress();
  }

  /**
   * Whether a session of {@code client} can reach {@code backend} through listener {@code l}: always,
   * except that a transparent connection cannot go to a backend of the other address family from
   * the client's address (an IPv6 client's connection cannot come from an IPv4 address). Such a
   * backend is passed over for that client, never counted as failed.
   */
  public static boolean reachable(ListenerConfig l, InetSocketAddress client, Backend backend) {
    if (backend.clientIdentityFrom(l) != ClientIdentity.TRANSPARENT) {
      return true;
    }
    InetSocketAddress remote = backend.socketAddress();
    return remote.isUnresolved() || remote.getAddress().getClass() == client.getAddress().getClass();
  }

  /**
   * Connects to {@code backend}; the future gives the connected channel.
   *
   * <p>The socket is created by a task on {@code loop}, never inside the event loop's processing of
   * ready I/O events. Netty's epoll loop looks channels up by file descriptor number, and a batch of
   * ready events can still hold an event for a descriptor that a session closed earlier in the same
   * batch. A socket created in between may get that number and receive the stale event: a read on a
   * socket whose connect is still in progress then fails with {@code NotYetConnectedException}.
   * Tasks run after the batch, when no stale event is left.
   *
   * @param source the local address ({@link #sourceFor}), or null for the host's choice
   * @param transparent {@code source} is the client's address, which need not be one of this host's:
   *     the socket is bound with {@code IP_TRANSPARENT} (Linux, CAP_NET_ADMIN; checked at start)
   * @param halfClosure whether an end of input from the backend leaves the channel open (a byte relay
   *     must pass a half-close on; an SMTP session treats it as the end)
   */
  public Future<Channel> connect(EventLoop loop, Backend backend, InetAddress source, boolean transparent,
      boolean halfClosure, Duration timeout, ChannelHandler handler) {
    InetSocketAddress remote = backend.socketAddress();
    if (remote.isUnresolved()) {
      // Never resolved here: a lookup would block the event loop (BackendNames resolves names).
      return loop.newFailedFuture(new UnknownHostException("backend name " + backend.address().host() + " does not resolve"));
    }
    // No TCP_NODELAY option: Netty's socket channels set it by default (and setting it again is a
    // system call per connection).
    Bootstrap b =
        new Bootstrap()
            .group(loop)
            .channelFactory(transport.clientChannelFactory(remote))
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()))
            .option(ChannelOption.ALLOW_HALF_CLOSURE, halfClosure)
            .option(ChannelOption.RECVBUF_ALLOCATOR, Transport.READ_SIZING)
            .handler(handler);
    if (transparent) {
      if (transport != Transport.EPOLL) {
        return loop.newFailedFuture(new IllegalStateException("client_identity transparent needs Linux (epoll)"));
      }
      b.option(EpollChannelOption.IP_TRANSPARENT, true);
    }
    Promise<Channel> connected = loop.newPromise();
    try {
      loop.execute(() -> {
        ChannelFuture f = source == null ? b.connect(remote) : b.connect(remote, new InetSocketAddress(source, 0));
        f.addListener(done -> {
          if (done.isSuccess()) {
            connected.trySuccess(f.channel());
          } else {
            if (transparent && done.cause() instanceof ConnectTimeoutException) {
              hintReturnRoute(backend, source);
            }
            connected.tryFailure(done.cause());
          }
        });
      });
    } catch (RejectedExecutionException e) {
      connected.tryFailure(e); // the event loop is shutting down
    }
    return connected;
  }
}
