package dev.sluice.testing;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.dns.DefaultDnsResponse;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.TcpDnsQueryDecoder;
import io.netty.handler.codec.dns.TcpDnsResponseEncoder;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsPtrRecord;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A DNS server on loopback, UDP and TCP on one port, that answers from a script: PTR and A/AAAA
 * records by name, a response code (SERVFAIL, REFUSED) for names told to fail, silence for names
 * told to time out, a truncated UDP answer for names told to be too big, NXDOMAIN for the rest.
 * Records every question, so tests can count queries (and see caching).
 * For unit tests of Sluice's own lookups; the integration tests ask dnsmasq.
 */
public final class ScriptedDnsServer implements AutoCloseable {
  private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final Channel channel;
  private final Channel tcpChannel;
  private final Map<String, List<String>> ptr = new ConcurrentHashMap<>();
  private final Map<String, List<String>> addresses = new ConcurrentHashMap<>();
  private final Map<String, DnsResponseCode> failing = new ConcurrentHashMap<>();
  private final Map<String, Boolean> silent = new ConcurrentHashMap<>();
  private final Map<String, Boolean> truncated = new ConcurrentHashMap<>();
  private final Map<String, Boolean> malformed = new ConcurrentHashMap<>();
  private final Map<String, InetAddress> spoofedFrom = new ConcurrentHashMap<>();
  private final List<String> questions = new CopyOnWriteArrayList<>();
  private final List<Integer> sourcePorts = new CopyOnWriteArrayList<>();
  private final List<String> tcpQuestions = new CopyOnWriteArrayList<>();
  private volatile long ttl = 300;

  public ScriptedDnsServer(String bindAddress) throws InterruptedException {
    this(bindAddress, 0);
  }

  /**
   * On a given port: 53 for tests of name servers from resolv.conf, which has no ports (needs root).
   * UDP and TCP on the same port, as a name server serves both (RFC 7766 §5); with port 0, TCP
   * takes the port UDP got, and should it be taken for TCP, both try another.
   */
  public ScriptedDnsServer(String bindAddress, int port) throws InterruptedException {
    Bootstrap udpBootstrap = new Bootstrap().group(group).channel(NioDatagramChannel.class)
        .handler(new io.netty.channel.ChannelInitializer<NioDatagramChannel>() {
          @Override
          protected void initChannel(NioDatagramChannel ch) {
            ch.pipeline().addLast(new DatagramDnsQueryDecoder(), new DatagramDnsResponseEncoder(), new Answerer(false));
          }
        });
    ServerBootstrap tcpBootstrap = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new io.netty.channel.ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            // Each message with a two-byte length before it (RFC 1035 §4.2.2).
            ch.pipeline().addLast(new TcpDnsQueryDecoder(), new TcpDnsResponseEncoder(), new Answerer(true));
          }
        });
    for (int attempt = 1; ; attempt++) {
      Channel udp = udpBootstrap.bind(bindAddress, port).sync().channel();
      ChannelFuture tcp = tcpBootstrap.bind(bindAddress, ((InetSocketAddress) udp.localAddress()).getPort()).await();
      if (tcp.isSuccess()) {
        channel = udp;
        tcpChannel = tcp.channel();
        return;
      }
      udp.close().sync();
      if (port != 0 || attempt == 10) {
        group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
        throw new IllegalStateException("no TCP listener on the UDP port", tcp.cause());
      }
    }
  }

  /** Where to send queries. */
  public InetSocketAddress address() {
    return (InetSocketAddress) channel.localAddress();
  }

  /** {@code address}'s PTR record names {@code name}. */
  public ScriptedDnsServer ptr(String address, String name) {
    try {
      ptr.put(dev.sluice.proxy.identity.ReverseLookup.ptrQuestion(InetAddress.getByName(address)), List.of(name));
    } catch (java.net.UnknownHostException e) {
      throw new IllegalArgumentException(e);
    }
    return this;
  }

  /** {@code name} has these A/AAAA addresses. */
  public ScriptedDnsServer address(String name, String... ips) {
    addresses.put(key(name), List.of(ips));
    return this;
  }

  /** Questions about {@code name} (a host name, or a client address for its PTR) get {@code code}. */
  public ScriptedDnsServer fail(String nameOrAddress, DnsResponseCode code) {
    failing.put(questionKey(nameOrAddress), code);
    return this;
  }

  /** Questions about {@code name} (or a client address) are never answered. */
  public ScriptedDnsServer silent(String nameOrAddress) {
    silent.put(questionKey(nameOrAddress), true);
    return this;
  }

  /**
   * Questions about {@code name} (or a client address) get a UDP answer with the TC bit set and no
   * records, as a server says its answer did not fit (RFC 1035 §4.1.1); over TCP, where the client
   * should ask again (RFC 2181 §9), the answer as scripted.
   */
  public ScriptedDnsServer truncate(String nameOrAddress) {
    truncated.put(questionKey(nameOrAddress), true);
    return this;
  }

  /**
   * Questions about {@code name} (or a client address) get a response that cannot be decoded: its
   * answer record's name is a compression pointer to itself.
   */
  public ScriptedDnsServer malform(String nameOrAddress) {
    malformed.put(questionKey(nameOrAddress), true);
    return this;
  }

  /**
   * Questions about {@code name} (or a client address) are answered as scripted, but first a
   * malformed response with the query's ID reaches the asker from {@code from} (a loopback address
   * other than this server's), on this server's port: what an attacker off the path who guessed
   * the ID and port would send to cut a lookup short.
   */
  public ScriptedDnsServer spoofMalformed(String nameOrAddress, String from) {
    try {
      spoofedFrom.put(questionKey(nameOrAddress), InetAddress.getByName(from));
    } catch (java.net.UnknownHostException e) {
      throw new IllegalArgumentException(e);
    }
    return this;
  }

  /**
   * Stops serving TCP: connections to the port are refused from now on, as from a server that
   * serves UDP only (or behind a firewall that lets only UDP through).
   */
  public ScriptedDnsServer withoutTcp() {
    tcpChannel.close().syncUninterruptibly();
    return this;
  }

  /** The questions asked over TCP so far (also in {@link #questions()}), as {@code TYPE name}. */
  public List<String> tcpQuestions() {
    return List.copyOf(tcpQuestions);
  }

  /** TTL of the records served from now on. */
  public ScriptedDnsServer ttl(long seconds) {
    this.ttl = seconds;
    return this;
  }

  /** The UDP source port of every question so far, in order. */
  public List<Integer> sourcePorts() {
    return List.copyOf(sourcePorts);
  }

  /** Every question so far, over UDP or TCP, as {@code TYPE name}. */
  public List<String> questions() {
    return List.copyOf(questions);
  }

  private static String questionKey(String nameOrAddress) {
    if (nameOrAddress.chars().allMatch(c -> Character.isDigit(c) || c == '.') || nameOrAddress.contains(":")) {
      try {
        return dev.sluice.proxy.identity.ReverseLookup.ptrQuestion(InetAddress.getByName(nameOrAddress));
      } catch (java.net.UnknownHostException e) {
        throw new IllegalArgumentException(e);
      }
    }
    return key(nameOrAddress);
  }

  private static String key(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
  }

  /**
   * A response no decoder can take: a header that promises one answer record, the question, and
   * the record, whose owner name is a compression pointer to itself (RFC 1035 §4.1.4 allows
   * pointers only to a prior occurrence of a name).
   */
  private static io.netty.buffer.ByteBuf malformedAnswer(int id, DnsQuestion q) {
    io.netty.buffer.ByteBuf b = Unpooled.buffer();
    b.writeShort(id).writeShort(0x8180).writeShort(1).writeShort(1).writeShort(0).writeShort(0);
    for (String label : q.name().split("\\.")) {
      if (!label.isEmpty()) {
        b.writeByte(label.length()).writeBytes(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      }
    }
    b.writeByte(0).writeShort(q.type().intValue()).writeShort(1);
    b.writeShort(0xc000 | b.writerIndex()).writeShort(q.type().intValue()).writeShort(1).writeInt(60).writeShort(0);
    return b;
  }

  /** Answers the queries of one transport: UDP (one answerer for the socket) or a TCP connection. */
  private final class Answerer extends SimpleChannelInboundHandler<DnsQuery> {
    private final boolean tcp;

    Answerer(boolean tcp) {
      this.tcp = tcp;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, DnsQuery query) throws Exception {
      DnsQuestion q = query.recordAt(DnsSection.QUESTION);
      String name = key(q.name());
      questions.add(q.type().name() + " " + name);
      if (tcp) {
        tcpQuestions.add(q.type().name() + " " + name);
      }
      if (silent.containsKey(name)) {
        return;
      }
      if (malformed.containsKey(name)) {
        // Raw bytes, so from the first handler's context: past the response encoder, which would
        // take them for a DNS response and fail the write.
        io.netty.buffer.ByteBuf bytes = malformedAnswer(query.id(), q);
        ctx.pipeline().firstContext().writeAndFlush(tcp
            ? Unpooled.wrappedBuffer(Unpooled.buffer(2).writeShort(bytes.readableBytes()), bytes)
            : new io.netty.channel.socket.DatagramPacket(bytes, ((DatagramDnsQuery) query).sender()));
        return;
      }
      if (!tcp) {
        udp(ctx, (DatagramDnsQuery) query, q, name);
      }
      ctx.writeAndFlush(response(query, q, name));
    }

    private void udp(ChannelHandlerContext ctx, DatagramDnsQuery query, DnsQuestion q, String name) throws Exception {
      sourcePorts.add(query.sender().getPort());
      InetAddress spoofer = spoofedFrom.get(name);
      if (spoofer != null) {
        // Sent (to loopback, so delivered) before the real answer below is written.
        try (java.net.DatagramSocket s = new java.net.DatagramSocket(new InetSocketAddress(spoofer, address().getPort()))) {
          byte[] bytes = io.netty.buffer.ByteBufUtil.getBytes(malformedAnswer(query.id(), q));
          s.send(new java.net.DatagramPacket(bytes, bytes.length, query.sender()));
        }
      }
    }

    private DnsResponse response(DnsQuery query, DnsQuestion q, String name) throws Exception {
      DnsResponseCode code = failing.get(name);
      DnsResponse response = query instanceof DatagramDnsQuery d
          ? new DatagramDnsResponse(d.recipient(), d.sender(), query.id())
          : new DefaultDnsResponse(query.id());
      response.setRecursionAvailable(true);
      response.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion(q.name(), q.type()));
      if (truncated.containsKey(name) && !tcp) {
        response.setTruncated(true);
      } else if (code != null) {
        response.setCode(code);
      } else if (q.type().equals(DnsRecordType.PTR) && ptr.containsKey(name)) {
        for (String target : ptr.get(name)) {
          response.addRecord(DnsSection.ANSWER, new DefaultDnsPtrRecord(q.name(), 1, ttl, target + "."));
        }
      } else if (addresses.containsKey(name)) {
        int wanted = q.type().equals(DnsRecordType.AAAA) ? 16 : 4;
        for (String ip : addresses.get(name)) {
          byte[] raw = InetAddress.getByName(ip).getAddress();
          if (raw.length == wanted) {
            response.addRecord(DnsSection.ANSWER, new DefaultDnsRawRecord(q.name(), q.type(), ttl, Unpooled.wrappedBuffer(raw)));
          }
        }
        // A name with addresses of the other family only: NOERROR with no data (RFC 2308 NODATA).
      } else if (!ptr.containsKey(name)) {
        response.setCode(DnsResponseCode.NXDOMAIN);
      }
      return response;
    }
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
    tcpChannel.close().syncUninterruptibly();
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
  }
}
