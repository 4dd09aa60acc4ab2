package dev.sluice.runtime;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.Inet4Address;
import java.net.InetSocketAddress;

/**
 * The Netty transport Sluice runs on: native epoll when the platform offers it (fewer copies and
 * syscalls on Linux), NIO otherwise. Chosen once per process; stateless and thread-safe.
 */
public enum Transport {
  EPOLL,
  NIO;

  /**
   * How much a socket read asks for: adaptive between 2 KiB and 64 KiB. Netty's default shrinks to
   * 64 bytes after a few short reads, which is what SMTP commands and replies are; the next message
   * body, even a 1 KB one, then took two reads and was forwarded in two writes. 2 KiB holds any
   * command line (RFC 5321 §4.5.3.1.4: 512 octets) and a small message in one read; large bodies
   * grow the size. Buffers are released as soon as a read is handled, so this costs no memory at
   * rest. Shared: the allocator keeps its state in a per-channel handle.
   */
  public static final RecvByteBufAllocator READ_SIZING = new AdaptiveRecvByteBufAllocator(2048, 2048, 65536);

  /** The best transport available here; {@code -Dsluice.transport=nio} forces NIO. */
  public static Transport best() {
    if ("nio".equalsIgnoreCase(System.getProperty("sluice.transport"))) {
      return NIO;
    }
    return Epoll.isAvailable() ? EPOLL : NIO;
  }

  public EventLoopGroup newGroup(int threads) {
    IoHandlerFactory factory = this == EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    return new MultiThreadIoEventLoopGroup(threads, factory);
  }

  /**
   * Event loops for sessions: one per CPU this process may use. Every loop is busy only while it
   * has work, and more loops than CPUs only add context switches.
   */
  public EventLoopGroup newSessionGroup() {
    return newGroup(Runtime.getRuntime().availableProcessors());
  }

  /**
   * Whether a listener can have one listening socket per event loop on the same port
   * ({@code SO_REUSEPORT}, native epoll only), so each loop accepts the connections it serves.
   */
  public boolean listensPerLoop() {
    return this == EPOLL;
  }

  /** Sets {@code SO_REUSEPORT} on {@code b}'s listening socket; only when {@link #listensPerLoop()}. */
  public void shareListeningPort(ServerBootstrap b) {
    b.option(EpollChannelOption.SO_REUSEPORT, true);
  }

  /**
   * Why connections from clients' own addresses ({@code client_identity: transparent}) cannot be
   * made here, or null when they can: that needs Linux's {@code IP_TRANSPARENT}, through the epoll
   * transport, and the right to set it (CAP_NET_ADMIN). Tried once on a throwaway socket, so a
   * missing capability stops a start or a reload instead of failing every session.
   */
  public String transparentUnavailable() {
    if (this != EPOLL) {
      return "it needs Linux's IP_TRANSPARENT, and the native epoll transport is not available here";
    }
    EpollSocketChannel probe = new EpollSocketChannel();
    try {
      probe.config().setOption(EpollChannelOption.IP_TRANSPARENT, true);
      return null;
    } catch (RuntimeException e) {
      return "setting IP_TRANSPARENT failed (" + e.getMessage() + "); run Sluice with CAP_NET_ADMIN"
          + " (systemd: AmbientCapabilities=CAP_NET_ADMIN) or as root";
    } finally {
      probe.unsafe().closeForcibly();
    }
  }

  /** Makes UDP channels for this transport's event loops (DNS lookups of client names). */
  public ChannelFactory<DatagramChannel> datagramChannelFactory() {
    return this == EPOLL ? EpollDatagramChannel::new : NioDatagramChannel::new;
  }

  public Class<? extends ServerSocketChannel> serverChannel() {
    return this == EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
  }

  /**
   * Makes channels for connections to {@code remote} (backends, health probes), without reflection
   * (a backend connection is opened per session). With epoll, an IPv4 address gets an IPv4 socket:
   * Netty's default is a dual-stack IPv6 socket, which costs an extra system call to set up.
   */
  public ChannelFactory<SocketChannel> clientChannelFactory(InetSocketAddress remote) {
    return this == EPOLL && remote.getAddress() instanceof Inet4Address
        ? () -> new EpollSocketChannel(SocketProtocolFamily.INET)
        : socketChannelFactory();
  }

  /**
   * Makes TCP channels for this transport's event loops that connect to IPv4 or IPv6 addresses
   * alike (with epoll, dual-stack sockets): for the DNS resolver, which asks a truncated answer
   * again over TCP of whichever name server gave it.
   */
  public ChannelFactory<SocketChannel> socketChannelFactory() {
    return this == EPOLL ? EpollSocketChannel::new : NioSocketChannel::new;
  }
}
