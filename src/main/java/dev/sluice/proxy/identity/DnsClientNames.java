package dev.sluice.proxy.identity;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import dev.sluice.config.ConfigValues;
import dev.sluice.config.HostPort;
import dev.sluice.config.ResolverConfig;
import dev.sluice.proxy.identity.ReverseLookup.Answer;
import io.netty.channel.AddressedEnvelope;
import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRecordDecoder;
import io.netty.handler.codec.dns.DnsPtrRecord;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.resolver.dns.DnsNameResolver;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.netty.resolver.dns.DnsNameResolverChannelStrategy;
import io.netty.resolver.dns.SequentialDnsServerAddressStreamProvider;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.net.Inet4Address;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Client names from DNS, asked of the servers in the {@code resolver:} section (or the system's,
 * {@link #nameServers})
 * with Netty's asynchronous resolver: a PTR query, then an A or AAAA query for the name, judged by
 * {@link ReverseLookup}. One resolver per event loop, so queries and their answers stay on the
 * session's loop and never block it. Parallel connections of one client share the lookup under way
 * (each gets the answer on its own loop). Answers are reused for their TTL (at most an hour; a missing
 * name for a minute; failures not at all), shared by all loops. The whole lookup of one client is
 * bounded by the configured timeout: past it the name is {@code [TEMPUNAVAIL]}, as Postfix says
 * when its own lookup times out. Thread-safe.
 */
public final class DnsClientNames implements ClientNames {

  /** Clients remembered at most; a gateway farm is thousands, a botnet more than is worth keeping. */
  static final int MAX_CACHED = 100_000;

  private final ResolverConfig config;
  private final List<InetSocketAddress> servers;
  private final ChannelFactory<? extends DatagramChannel> channels;
  private final ChannelFactory<? extends SocketChannel> tcpChannels;
  private final Map<EventLoop, DnsNameResolver> resolvers = new ConcurrentHashMap<>();
  /** Lookups under way, by client: a client's parallel connections share one. */
  private final Map<InetAddress, CompletableFuture<ClientName>> inFlight = new ConcurrentHashMap<>();
  private final Cache<InetAddress, ClientName> cache = Caffeine.newBuilder()
      .maximumSize(MAX_CACHED)
      .expireAfter(new Expiry<InetAddress, ClientName>() {
        @Override
        public long expireAfterCreate(InetAddress key, ClientName value, long currentTime) {
          return TimeUnit.SECONDS.toNanos(value.ttlSeconds());
        }

        @Override
        public long expireAfterUpdate(InetAddress key, ClientName value, long currentTime, long currentDuration) {
          return expireAfterCreate(key, value, currentTime);
        }

        @Override
        public long expireAfterRead(InetAddress key, ClientName value, long currentTime, long currentDuration) {
          return currentDuration;
        }
      })
      .build();
  private volatile boolean closed;
  /** Index in {@link #servers} of the server that answered last: the first one asked next. */
  private volatile int preferred;

  /**
   * @param config an enabled {@code resolver:} section
   * @param servers the name servers to ask, in order ({@link #nameServers})
   * @param channels makes UDP channels of the event loops' transport
   * @param tcpChannels makes TCP channels of the event loops' transport, to ask again over TCP
   *     when a UDP answer is truncated
   */
  public DnsClientNames(ResolverConfig config, List<InetSocketAddress> servers,
      ChannelFactory<? extends DatagramChannel> channels, ChannelFactory<? extends SocketChannel> tcpChannels) {
    if (servers.isEmpty()) {
      throw new IllegalArgumentException("no name servers");
    }
    this.config = config;
    this.servers = List.copyOf(servers);
    this.channels = channels;
    this.tcpChannels = tcpChannels;
  }

  /**
   * The name servers {@code config} asks: its {@code servers}, or without them the {@code
   * nameserver} lines of {@code resolvConf} (port 53), in order. Empty when neither names any: the
   * caller refuses to start then, rather than fall back to a public resolver as Netty would, which
   * would send every client's address to a third party.
   *
   * @throws IllegalArgumentException when a configured link-local server names an interface this
   *     host does not have
   */
  public static List<InetSocketAddress> nameServers(ResolverConfig config, Path resolvConf) {
    List<InetSocketAddress> out = new ArrayList<>();
    if (!config.servers().isEmpty()) {
      for (HostPort hp : config.servers()) {
        InetSocketAddress a = socketAddress(hp);
        if (a == null) {
          throw new IllegalArgumentException("name server " + hp + ": no interface "
              + hp.host().substring(hp.host().indexOf('%') + 1) + " on this host");
        }
        out.add(a);
      }
      return out;
    }
    List<String> lines;
    try {
      lines = Files.readAllLines(resolvConf);
    } catch (IOException e) {
      return out;
    }
    for (String line : lines) {
      String[] words = line.trim().split("\\s+");
      if (words.length >= 2 && words[0].equals("nameserver")) {
        try {
          InetSocketAddress a = socketAddress(ConfigValues.parseNameServer(words[1]));
          if (a != null) { // else a link-local server on an interface this host does not have
            out.add(a);
          }
        } catch (IllegalArgumentException e) {
          // not an address: the C library skips it too
        }
      }
    }
    return out;
  }

  /** The address of an IP literal (no lookup), or null when its %zone names no interface of this host. */
  private static InetSocketAddress socketAddress(HostPort hp) {
    try {
      return new InetSocketAddress(InetAddress.getByName(hp.host()), hp.port());
    } catch (UnknownHostException e) {
      return null;
    }
  }

  /**
   * Builds the resolvers of {@code loops} now, so the first clients do not wait while the DNS
   * machinery loads (hundreds of milliseconds, measured, on a busy two-core machine).
   */
  public DnsClientNames prepare(Iterable<? extends EventExecutor> loops) {
    for (EventExecutor e : loops) {
      if (e instanceof EventLoop loop) {
        resolvers.computeIfAbsent(loop, this::newResolver);
      }
    }
    return this;
  }

  @Override
  public CompletableFuture<ClientName> lookup(EventLoop loop, InetAddress client) {
    ClientName cached = cache.getIfPresent(client);
    if (cached != null) {
      return CompletableFuture.completedFuture(cached);
    }
    if (closed) {
      return CompletableFuture.completedFuture(ClientName.temporarilyUnavailable("resolver closed"));
    }
    CompletableFuture<ClientName> result = new CompletableFuture<>();
    CompletableFuture<ClientName> shared = inFlight.putIfAbsent(client, result);
    if (shared != null) {
      // Another session of this client (a sender opening connections in parallel) is having it
      // looked up, maybe on another loop: its answer, handed to this session's loop.
      CompletableFuture<ClientName> own = new CompletableFuture<>();
      shared.thenAccept(n -> {
        if (loop.inEventLoop()) {
          own.complete(n);
        } else {
          loop.execute(() -> own.complete(n));
        }
      });
      return own;
    }
    result.whenComplete((name, e) -> inFlight.remove(client, result));
    long timeout = config.timeout().toMillis();
    var deadline = loop.schedule(() -> result.complete(ClientName.temporarilyUnavailable(
        "no answer within " + timeout + " ms")), timeout, TimeUnit.MILLISECONDS);
    result.whenComplete((name, e) -> deadline.cancel(false));
    DnsNameResolver resolver = resolvers.computeIfAbsent(loop, this::newResolver);
    if (closed) {
      // close() ran meanwhile and may have missed this resolver: close it here (twice is harmless).
      resolver.close();
    }
    ask(resolver, ReverseLookup.ptrQuestion(client), DnsRecordType.PTR, ptr -> {
      ReverseLookup.AfterPtr next = ReverseLookup.afterPtr(ptr);
      if (next instanceof ReverseLookup.Named n) {
        finish(client, result, n.name());
      } else if (next instanceof ReverseLookup.Confirm c && !result.isDone()) {
        DnsRecordType type = client instanceof Inet4Address ? DnsRecordType.A : DnsRecordType.AAAA;
        ask(resolver, c.name(), type,
            fwd -> finish(client, result, ReverseLookup.afterForward(client, c.name(), c.ttlSeconds(), fwd)));
      }
    });
    return result;
  }

  private void finish(InetAddress client, CompletableFuture<ClientName> result, ClientName name) {
    if (result.isDone()) {
      return; // timed out (on this same loop)
    }
    if (name.ttlSeconds() > 0) {
      cache.put(client, name); // before the lookup leaves inFlight, so no one starts another meanwhile
    }
    result.complete(name);
  }

  /**
   * Asks {@code name}'s records of {@code type} and hands the answer (never an exception) on. The
   * servers are asked one at a time, as the C library asks the {@code nameserver}s of resolv.conf
   * (and so as Postfix's own lookups go): one that fails (a timeout, SERVFAIL, REFUSED, a malformed
   * answer) is passed over for the next, each with its share of the timeout; the one that answered
   * last is asked first, so a dead server costs its share once, not on every question.
   */
  private void ask(DnsNameResolver resolver, String name, DnsRecordType type, Consumer<Answer> then) {
    ask(resolver, name, type, preferred, 0, then);
  }

  private void ask(DnsNameResolver resolver, String name, DnsRecordType type, int first, int tried, Consumer<Answer> then) {
    int index = (first + tried) % servers.size();
    Consumer<Answer> next = a -> {
      if (a.status() == ReverseLookup.Status.FAILED && tried + 1 < servers.size() && !closed) {
        ask(resolver, name, type, first, tried + 1, then);
        return;
      }
      if (a.status() != ReverseLookup.Status.FAILED) {
        preferred = index;
      }
      then.accept(a);
    };
    Future<AddressedEnvelope<DnsResponse, InetSocketAddress>> q;
    try {
      q = resolver.query(servers.get(index), new DefaultDnsQuestion(name, type));
    } catch (RuntimeException e) {
      next.accept(Answer.failed(e.toString()));
      return;
    }
    q.addListener(f -> {
      if (!f.isSuccess()) {
        next.accept(Answer.failed(describe(f.cause())));
        return;
      }
      @SuppressWarnings("unchecked")
      AddressedEnvelope<DnsResponse, InetSocketAddress> envelope =
          (AddressedEnvelope<DnsResponse, InetSocketAddress>) f.getNow();
      Answer answer;
      try {
        answer = answerOf(envelope.content(), type);
      } finally {
        envelope.release();
      }
      next.accept(answer);
    });
  }

  /** The records of {@code type} in a response's answer section, or why there are none. */
  static Answer answerOf(DnsResponse response, DnsRecordType type) {
    if (response instanceof MalformedAnswers.Response) {
      return Answer.failed("malformed answer");
    }
    DnsResponseCode code = response.code();
    if (code == DnsResponseCode.NXDOMAIN) {
      return Answer.notFound("NXDOMAIN");
    }
    if (code != DnsResponseCode.NOERROR) {
      return Answer.failed(code == DnsResponseCode.SERVFAIL ? "SERVFAIL"
          : code == DnsResponseCode.REFUSED ? "REFUSED" : "response code " + code.intValue());
    }
    // A truncated UDP answer (TC=1) has been asked again over TCP by now; one that is still
    // truncated here had no answer over TCP (none served, refused, timed out).
    if (response.isTruncated() && !type.equals(DnsRecordType.PTR)) {
      // What did not fit may be the client's address: "does not resolve back" would be a guess.
      return Answer.failed("truncated answer");
    }
    List<String> values = new ArrayList<>();
    long ttl = Long.MAX_VALUE;
    for (int i = 0; i < response.count(DnsSection.ANSWER); i++) {
      DnsRecord r = response.recordAt(DnsSection.ANSWER, i);
      if (!r.type().equals(type)) {
        continue; // a CNAME on the way (RFC 2317 classless delegation), or noise
      }
      String value = valueOf(r);
      if (value != null) {
        values.add(value);
        ttl = Math.min(ttl, r.timeToLive());
      }
    }
    if (values.isEmpty() && response.isTruncated()) {
      return Answer.failed("truncated answer"); // TC=1 says "ask over TCP", not "no such record"
    }
    return values.isEmpty() ? Answer.notFound("no " + type.name() + " record") : Answer.found(values, ttl);
  }

  private static String valueOf(DnsRecord r) {
    if (r instanceof DnsPtrRecord ptr) {
      return ptr.hostname();
    }
    if (!(r instanceof DnsRawRecord raw)) {
      return null;
    }
    if (r.type().equals(DnsRecordType.PTR)) {
      return DefaultDnsRecordDecoder.decodeName(raw.content().duplicate());
    }
    byte[] bytes = new byte[raw.content().readableBytes()];
    raw.content().getBytes(raw.content().readerIndex(), bytes);
    try {
      return bytes.length == 4 || bytes.length == 16 ? InetAddress.getByAddress(bytes).getHostAddress() : null;
    } catch (UnknownHostException e) {
      return null;
    }
  }

  private static String describe(Throwable t) {
    if (t instanceof TimeoutException || t.getClass().getSimpleName().contains("Timeout")) {
      return "timed out";
    }
    return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
  }

  private DnsNameResolver newResolver(EventLoop loop) {
    return new DnsNameResolverBuilder(loop)
        .datagramChannelFactory(() -> {
          // A malformed answer fails its query at once rather than at the timeout (MalformedAnswers).
          DatagramChannel ch = channels.newChannel();
          ch.pipeline().addFirst(new MalformedAnswers());
          return ch;
        })
        .nameServerProvider(new SequentialDnsServerAddressStreamProvider(servers))
        // Each server its share of the lookup's time, so that a dead one leaves time for the next.
        .queryTimeoutMillis(Math.max(1, config.timeout().toMillis() / servers.size()))
        .recursionDesired(true)
        // A fresh socket, so a fresh random source port, for every query, as the C library does
        // (RFC 5452 §9.2): from one fixed port only the 16-bit ID stands between a client that
        // triggers its own lookup (it just connects) and a forged answer naming it as it likes.
        .datagramChannelStrategy(DnsNameResolverChannelStrategy.ChannelPerResolution)
        // An answer too big for UDP comes with TC=1, to be asked again over TCP (RFC 2181 §9), of
        // the same server, which must serve TCP (RFC 7766 §5; framing: RFC 1035 §4.2.2): a reverse
        // zone with many PTR records, a host name with many addresses. Not after a UDP timeout
        // (false): a server that does not answer over UDP would cost its share of the time twice.
        .socketChannelFactory(tcpChannels, false)
        .build();
  }

  @Override
  public void close() {
    closed = true;
    resolvers.values().forEach(DnsNameResolver::close);
    resolvers.clear();
  }
}
