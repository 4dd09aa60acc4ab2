package dev.sluice.lab;

import dev.sluice.config.Cidr;
import dev.sluice.runtime.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * A small SMTP server for the demo and the lab: it accepts and counts messages (discarding their
 * bodies) and can be switched into back pressure, answering {@code 452 4.3.1 Insufficient system
 * resources} at MAIL FROM as Exchange does when its queue disk fills. Senders in the {@code
 * exemptDomain} are still accepted then, like Exchange keeping internal mail flowing.
 *
 * <p>Optionally it guards relaying like an Exchange relay connector ({@link #relayControl}): a
 * recipient outside the local domains is accepted only from a trusted client address, the address
 * the server sees (behind a balancer, the balancer's source address), else {@code 554 5.7.1 Relay
 * access denied}. Without relay control it accepts every recipient, as before.
 *
 * <p>Speaks enough RFC 5321 for real clients: EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET,
 * NOOP, QUIT, PIPELINING. Thread-safe counters; sessions live on Netty event loops.
 */
public final class EmbeddedSmtpServer implements AutoCloseable {
  private static final int MAX_LINE = 64 * 1024;

  private final String name;
  private final String exemptDomain;
  private final AtomicBoolean backPressure = new AtomicBoolean();
  private final AtomicLong messages = new AtomicLong();
  private final AtomicLong sessions = new AtomicLong();
  private final java.util.concurrent.atomic.AtomicInteger openSessions = new java.util.concurrent.atomic.AtomicInteger();
  private final AtomicLong refusedAtMailFrom = new AtomicLong();
  private final AtomicLong relayDenied = new AtomicLong();
  private final AtomicLong greylisted = new AtomicLong();
  /** Sender and recipient pairs seen once; null when greylisting is off. */
  private volatile Set<String> greylistSeen;
  /** Null when relaying is not controlled (every recipient accepted). */
  private volatile RelayControl relayControl;
  private Channel server;

  /** Trusted client networks and local domains; immutable. */
  private record RelayControl(List<Cidr> trusted, Set<String> localDomains) {
    boolean allows(InetAddress client, String recipientDomain) {
      return localDomains.contains(recipientDomain) || trusted.stream().anyMatch(c -> c.contains(client));
    }
  }

  /**
   * @param exemptDomain sender domain still accepted under back pressure, or null for none
   */
  public EmbeddedSmtpServer(String name, String exemptDomain) {
    this.name = name;
    this.exemptDomain = exemptDomain == null ? null : exemptDomain.toLowerCase(Locale.ROOT);
  }

  /** Binds {@code address} (port 0 picks a free port) on the given event loops. */
  public EmbeddedSmtpServer start(InetSocketAddress address, EventLoopGroup group, Transport transport)
      throws InterruptedException {
    server =
        new ServerBootstrap()
            .group(group)
            .channel(transport.serverChannel())
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    ch.pipeline().addLast(new LineBasedFrameDecoder(MAX_LINE, true, false));
                    ch.pipeline().addLast(new Session());
                  }
                })
            .bind(address)
            .sync()
            .channel();
    return this;
  }

  public String name() {
    return name;
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) server.localAddress();
  }

  public int port() {
    return address().getPort();
  }

  /**
   * Turns on relay control: a recipient outside {@code localDomains} is accepted only from a client
   * address in {@code trustedNetworks}, like an Exchange receive connector whose remote IP ranges
   * grant relay. Takes effect at the next RCPT TO.
   */
  public EmbeddedSmtpServer relayControl(Collection<Cidr> trustedNetworks, Collection<String> localDomains) {
    relayControl = new RelayControl(List.copyOf(trustedNetworks),
        localDomains.stream().map(d -> d.toLowerCase(Locale.ROOT)).collect(Collectors.toUnmodifiableSet()));
    return this;
  }

  /**
   * Turns on greylisting as postgrey does it, without the delay: the first RCPT TO of a sender and
   * recipient pair gets {@code 450 4.2.0 … Greylisted}, and the pair passes from then on. This
   * server's memory only, as each real backend keeps its own. Called again, it forgets every pair.
   */
  public EmbeddedSmtpServer greylist() {
    greylistSeen = java.util.concurrent.ConcurrentHashMap.newKeySet();
    return this;
  }

  /** Recipients deferred by greylisting so far. */
  public long greylisted() {
    return greylisted.get();
  }

  /** Switches back pressure on or off; takes effect at the next MAIL FROM. */
  public void setBackPressure(boolean on) {
    backPressure.set(on);
  }

  public boolean backPressure() {
    return backPressure.get();
  }

  /** Messages accepted (250 after end of data) so far. */
  public long messages() {
    return messages.get();
  }

  public long sessions() {
    return sessions.get();
  }

  /** Sessions connected now. */
  public int openSessions() {
    return openSessions.get();
  }

  public long refusedAtMailFrom() {
    return refusedAtMailFrom.get();
  }

  /** Recipients refused with {@code 554 5.7.1 Relay access denied}. */
  public long relayDenied() {
    return relayDenied.get();
  }

  @Override
  public void close() {
    if (server != null) {
      server.close().syncUninterruptibly();
    }
  }

  /** One client session; confined to its event loop. */
  private final class Session extends SimpleChannelInboundHandler<ByteBuf> {
    private boolean greeted;
    private boolean mail;
    private String sender;
    private int recipients;
    private boolean data;

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      sessions.incrementAndGet();
      openSessions.incrementAndGet();
      reply(ctx, "220 " + name + " ESMTP Sluice lab server");
      ctx.flush();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      openSessions.decrementAndGet();
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
      String line = msg.toString(StandardCharsets.ISO_8859_1);
      if (line.length() > 0 && line.charAt(line.length() - 1) == '\r') {
        line = line.substring(0, line.length() - 1);
      }
      if (data) {
        if (line.equals(".")) {
          data = false;
          mail = false;
          recipients = 0;
          long n = messages.incrementAndGet();
          reply(ctx, "250 2.0.0 Ok: queued as " + name + "-" + n);
        }
        return;
      }
      String upper = line.toUpperCase(Locale.ROOT);
      if (upper.startsWith("EHLO ")) {
        greeted = true;
        reset();
        reply(ctx, "250-" + name + "\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES");
      } else if (upper.startsWith("HELO ")) {
        greeted = true;
        reset();
        reply(ctx, "250 " + name);
      } else if (upper.startsWith("MAIL FROM:")) {
        mailFrom(ctx, line.substring(10));
      } else if (upper.startsWith("RCPT TO:")) {
        if (!mail) {
          reply(ctx, "503 5.5.1 Error: need MAIL command");
        } else if (!relayAllowed(ctx, line.substring(8))) {
          relayDenied.incrementAndGet();
          reply(ctx, "554 5.7.1 Relay access denied");
        } else if (greylistedNow(line.substring(8))) {
          greylisted.incrementAndGet();
          reply(ctx, "450 4.2.0 " + line.substring(8).trim() + ": Recipient address rejected: Greylisted");
        } else {
          recipients++;
          reply(ctx, "250 2.1.5 Ok");
        }
      } else if (upper.equals("DATA")) {
        if (recipients == 0) {
          reply(ctx, "503 5.5.1 Error: need RCPT command");
        } else {
          data = true;
          reply(ctx, "354 End data with <CR><LF>.<CR><LF>");
        }
      } else if (upper.equals("RSET")) {
        reset();
        reply(ctx, "250 2.0.0 Ok");
      } else if (upper.equals("NOOP")) {
        reply(ctx, "250 2.0.0 Ok");
      } else if (upper.equals("QUIT")) {
        ctx.writeAndFlush(ByteBufUtil.writeAscii(ctx.alloc(), "221 2.0.0 Bye\r\n"))
            .addListener(f -> ctx.close());
      } else {
        reply(ctx, "502 5.5.2 Error: command not recognized");
      }
    }

    private void mailFrom(ChannelHandlerContext ctx, String arg) {
      if (!greeted) {
        reply(ctx, "503 5.5.1 Error: send HELO/EHLO first");
      } else if (mail) {
        reply(ctx, "503 5.5.1 Error: nested MAIL command");
      } else if (backPressure.get() && !exempt(arg)) {
        refusedAtMailFrom.incrementAndGet();
        reply(ctx, "452 4.3.1 Insufficient system resources");
      } else {
        mail = true;
        sender = arg.trim().toLowerCase(Locale.ROOT);
        reply(ctx, "250 2.1.0 Ok");
      }
    }

    /** Whether greylisting defers this recipient of the current sender: the pair's first time. */
    private boolean greylistedNow(String recipient) {
      Set<String> seen = greylistSeen;
      return seen != null && seen.add(sender + " " + recipient.trim().toLowerCase(Locale.ROOT));
    }

    private boolean relayAllowed(ChannelHandlerContext ctx, String arg) {
      RelayControl rc = relayControl;
      if (rc == null) {
        return true;
      }
      // The address this server sees: behind a balancer that is the balancer's source address,
      // which is exactly how the seed's internet mail came to be trusted.
      InetAddress client = ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress();
      return rc.allows(client, domainOf(arg));
    }

    /** The domain of {@code <local@domain> params}, lower case; empty when there is none. */
    private static String domainOf(String arg) {
      String a = arg.trim();
      int end = a.indexOf('>');
      a = (end >= 0 ? a.substring(0, end) : a.split(" ", 2)[0]).replace("<", "");
      int at = a.lastIndexOf('@');
      return at < 0 ? "" : a.substring(at + 1).toLowerCase(Locale.ROOT);
    }

    private boolean exempt(String arg) {
      return exemptDomain != null && arg.toLowerCase(Locale.ROOT).contains("@" + exemptDomain + ">");
    }

    private void reset() {
      mail = false;
      recipients = 0;
    }

    private void reply(ChannelHandlerContext ctx, String text) {
      ctx.write(ByteBufUtil.writeAscii(ctx.alloc(), text + "\r\n"));
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      ctx.flush();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (cause instanceof io.netty.handler.codec.TooLongFrameException) {
        ctx.writeAndFlush(ByteBufUtil.writeAscii(ctx.alloc(), "500 5.5.2 Line too long\r\n"));
      }
      ctx.close();
    }
  }
}
