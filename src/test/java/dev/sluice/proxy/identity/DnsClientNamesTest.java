package dev.sluice.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.HostPort;
import dev.sluice.config.Location;
import dev.sluice.config.ResolverConfig;
import dev.sluice.testing.ScriptedDnsServer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.dns.DnsResponseCode;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Lookups over UDP against a scripted DNS server on loopback: the answers, the timeout, the cache. */
class DnsClientNamesTest {
  EventLoopGroup group;
  EventLoop loop;
  ScriptedDnsServer dns;
  DnsClientNames names;

  @BeforeEach
  void start() throws Exception {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    loop = group.next();
    dns = new ScriptedDnsServer("127.0.0.1")
        .ptr("127.0.0.77", "mx.gateway.test").address("mx.gateway.test", "127.0.0.77")
        .ptr("127.0.0.78", "forged.test").address("forged.test", "127.0.0.99")
        .ptr("127.0.0.80", "flaky.test").fail("flaky.test", DnsResponseCode.SERVFAIL)
        .fail("127.0.0.81", DnsResponseCode.SERVFAIL)
        .silent("127.0.0.82")
        .ptr("2001:db8::7", "v6.gateway.test").address("v6.gateway.test", "127.0.0.7", "2001:db8::7");
    // Generous: a loaded two-core machine can take a while over the first query's class loading.
    names = resolver(Duration.ofSeconds(10));
  }

  DnsClientNames resolver(Duration timeout) {
    return resolver(timeout, dns.address());
  }

  /** Asking {@code servers} in order, over NIO (UDP, and TCP for truncated answers). */
  static DnsClientNames resolver(Duration timeout, InetSocketAddress... servers) {
    List<HostPort> hostPorts = Arrays.stream(servers).map(a -> new HostPort(a.getHostString(), a.getPort())).toList();
    ResolverConfig config = new ResolverConfig(true, hostPorts, timeout, java.util.Map.of(), Location.NONE);
    return new DnsClientNames(config, DnsClientNames.nameServers(config, Path.of("/nonexistent")), NioDatagramChannel::new,
        NioSocketChannel::new);
  }

  @AfterEach
  void stop() {
    names.close();
    dns.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  ClientName lookup(String ip) throws Exception {
    return lookup(names, ip);
  }

  ClientName lookup(DnsClientNames with, String ip) throws Exception {
    InetAddress a = InetAddress.getByName(ip);
    return loop.submit(() -> with.lookup(loop, a)).get().get(30, TimeUnit.SECONDS);
  }

  @Test
  void aConfirmedNameIsTheNameAndTheReverseName() throws Exception {
    ClientName n = lookup("127.0.0.77");
    assertThat(n.name()).isEqualTo("mx.gateway.test");
    assertThat(n.reverseName()).isEqualTo("mx.gateway.test");
    assertThat(dns.questions()).containsExactly("PTR 77.0.0.127.in-addr.arpa", "A mx.gateway.test");
  }

  @Test
  void ipv6ClientsAreCheckedAgainstAaaaRecords() throws Exception {
    assertThat(lookup("2001:db8::7").name()).isEqualTo("v6.gateway.test");
    assertThat(dns.questions()).last().isEqualTo("AAAA v6.gateway.test");
  }

  @Test
  void aPtrNameThatPointsElsewhereIsOnlyTheReverseName() throws Exception {
    ClientName n = lookup("127.0.0.78");
    assertThat(n.reason()).isEqualTo("forged.test does not resolve to 127.0.0.78");
    assertThat(n.name()).isEqualTo("[UNAVAILABLE]");
    assertThat(n.reverseName()).isEqualTo("forged.test");
  }

  @Test
  void noPtrRecordMeansNoName() throws Exception {
    ClientName n = lookup("127.0.0.79");
    assertThat(n.name()).isEqualTo("[UNAVAILABLE]");
    assertThat(n.reverseName()).isEqualTo("[UNAVAILABLE]");
    assertThat(n.reason()).isEqualTo("no PTR record");
  }

  @Test
  void serverFailuresAndSilenceAreTemporary() throws Exception {
    ClientName servfail = lookup("127.0.0.81");
    assertThat(servfail.name()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(servfail.reverseName()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(servfail.reason()).contains("SERVFAIL");
    ClientName forwardFails = lookup("127.0.0.80");
    assertThat(forwardFails.name()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(forwardFails.reverseName()).isEqualTo("flaky.test");
    try (DnsClientNames impatient = resolver(Duration.ofMillis(300))) {
      ClientName silence = lookup(impatient, "127.0.0.82");
      assertThat(silence.name()).isEqualTo("[TEMPUNAVAIL]");
      assertThat(silence.reason()).isEqualTo("no answer within 300 ms");
    }
  }

  @Test
  void answersAreReusedForTheirTtlAndFailuresAreAskedAgain() throws Exception {
    lookup("127.0.0.77");
    lookup("127.0.0.79");
    lookup("127.0.0.81");
    int asked = dns.questions().size();
    assertThat(lookup("127.0.0.77").name()).isEqualTo("mx.gateway.test");
    assertThat(lookup("127.0.0.79").reason()).isEqualTo("no PTR record");
    assertThat(dns.questions()).as("answered from the cache").hasSize(asked);
    lookup("127.0.0.81");
    assertThat(dns.questions()).as("a failure is asked again").hasSize(asked + 1);
  }

  @Test
  void withoutServersTheSystemsNameServersAreAskedAndNeverAPublicFallback(@TempDir Path dir) throws Exception {
    Path conf = dir.resolve("resolv.conf");
    Files.writeString(conf, """
        # generated
        search corp.example
        nameserver 127.0.0.53
        nameserver fe80::1%1
        nameserver fe80::2%no-such-interface
        nameserver not-an-address
        options edns0
        nameserver 10.0.0.2
        """);
    ResolverConfig system = new ResolverConfig(true, List.of(), Duration.ofSeconds(5), java.util.Map.of(), Location.NONE);
    assertThat(DnsClientNames.nameServers(system, conf)).extracting(a -> a.getAddress().getHostAddress() + " " + a.getPort())
        .containsExactly("127.0.0.53 53", "fe80:0:0:0:0:0:0:1%1 53", "10.0.0.2 53");
    Files.writeString(conf, "search corp.example\n");
    assertThat(DnsClientNames.nameServers(system, conf)).as("the caller refuses to start").isEmpty();
    assertThat(DnsClientNames.nameServers(system, dir.resolve("missing"))).isEmpty();
  }

  @Test
  void aLinkLocalServerMustNameAnInterfaceOfThisHost() {
    ResolverConfig config = new ResolverConfig(true, List.of(new HostPort("fe80::1%no-such-if", 53)), Duration.ofSeconds(5),
        java.util.Map.of(), Location.NONE);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> DnsClientNames.nameServers(config, Path.of("/nonexistent")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no interface no-such-if on this host");
  }

  @Test
  void aClosedResolverAnswersTemporarilyUnavailable() throws Exception {
    names.close();
    assertThat(lookup("127.0.0.77").name()).isEqualTo("[TEMPUNAVAIL]");
  }

  @Test
  void aDeadFirstServerIsNotTheEndOfTheLookup() throws Exception {
    // resolv.conf lists two servers and one is down for maintenance: the C library (and so Postfix
    // itself) asks the next one after a per-server timeout; every client keeps its name.
    dns.ptr("127.0.0.90", "a.gateway.test").address("a.gateway.test", "127.0.0.90")
        .ptr("127.0.0.91", "b.gateway.test").address("b.gateway.test", "127.0.0.91")
        .ptr("127.0.0.92", "c.gateway.test").address("c.gateway.test", "127.0.0.92");
    try (java.net.DatagramSocket dead = new java.net.DatagramSocket(0, InetAddress.getByName("127.0.0.1"));
        DnsClientNames twoServers = resolver(Duration.ofSeconds(4), (InetSocketAddress) dead.getLocalSocketAddress(),
            dns.address())) {
      for (String ip : List.of("127.0.0.90", "127.0.0.91", "127.0.0.92")) {
        assertThat(lookup(twoServers, ip).name()).as(ip).endsWith(".gateway.test");
      }
    }
  }

  @Test
  void aTruncatedAnswerIsAskedAgainOverTcp() throws Exception {
    // TC=1: the answer did not fit in a datagram (many PTR records, many addresses); the client asks
    // again over TCP (RFC 2181 §9), as the C library does, and gets the whole answer.
    dns.ptr("127.0.0.85", "big.gateway.test").address("big.gateway.test", "127.0.0.85")
        .truncate("127.0.0.85").truncate("big.gateway.test");
    assertThat(lookup("127.0.0.85").describe()).isEqualTo("client name big.gateway.test");
    assertThat(dns.tcpQuestions()).containsExactly("PTR 85.0.0.127.in-addr.arpa", "A big.gateway.test");
    assertThat(dns.questions()).as("each over UDP, then TCP").hasSize(4);
  }

  @Test
  void aTruncatedAnswerWithoutTcpIsATemporaryFailureNotNoName() throws Exception {
    // TC=1 with an empty answer section says "ask again over TCP", not "no PTR record": taking it for
    // NXDOMAIN tells the backend [UNAVAILABLE] (a 5xx under reject_unknown_client_hostname) and
    // caches that for a minute. With no TCP to ask (refused), it is a failure for now, at once.
    dns.truncate("127.0.0.83").withoutTcp();
    long start = System.nanoTime();
    ClientName n = lookup("127.0.0.83");
    assertThat(n.name()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(n.reason()).isEqualTo("temporary DNS failure looking up the PTR record: truncated answer");
    assertThat((System.nanoTime() - start) / 1_000_000).as("ms, of a 10 s timeout").isLessThan(3000);
    lookup("127.0.0.83");
    assertThat(dns.questions()).as("a failure, not cached").hasSize(2);
  }

  @Test
  void aTruncatedForwardAnswerWithoutTcpLeavesTheNameUnverifiedForNow() throws Exception {
    // The part that did not fit may hold the client's address: "does not resolve back" would be a
    // guess, and a 5xx under reject_unknown_client_hostname.
    dns.ptr("127.0.0.86", "many.gateway.test").address("many.gateway.test", "127.0.0.86")
        .truncate("many.gateway.test").withoutTcp();
    ClientName n = lookup("127.0.0.86");
    assertThat(n.name()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(n.reverseName()).isEqualTo("many.gateway.test");
    assertThat(n.reason()).endsWith("truncated answer");
  }

  @Test
  void eachQueryGoesFromItsOwnSourcePort() throws Exception {
    // An answer is believed when its 16-bit ID matches; from one fixed port, a client that triggers
    // its own lookup (it just connects) knows when to flood forged answers, one per ID, and gets a
    // verified name of its choosing into XCLIENT NAME (past check_client_access whitelists). The C
    // library, and so Postfix itself, asks from a fresh random port each time (RFC 5452 §9.2).
    for (int i = 100; i < 110; i++) {
      lookup("127.0.0." + i);
    }
    assertThat(new java.util.HashSet<>(dns.sourcePorts())).as("source ports of %s queries", dns.sourcePorts().size())
        .hasSizeGreaterThan(dns.sourcePorts().size() / 2);
  }

  @Test
  void concurrentLookupsOfOneClientShareTheirQueries() throws Exception {
    // A big sender opens 20 connections at once from one address (Gmail and Outlook do): one PTR
    // and one A query do, not 20 of each (as it was: every connection asked until the first answer
    // was cached, and for a silent reverse zone each waited out its own query).
    dns.ptr("127.0.0.120", "burst.gateway.test").address("burst.gateway.test", "127.0.0.120");
    InetAddress a = InetAddress.getByName("127.0.0.120");
    EventLoopGroup more = new MultiThreadIoEventLoopGroup(4, NioIoHandler.newFactory());
    try {
      List<java.util.concurrent.CompletableFuture<String>> all = new java.util.ArrayList<>();
      for (int i = 0; i < 20; i++) {
        EventLoop l = more.next();
        // Each session's future completes on the session's own loop, wherever the queries ran.
        all.add(l.submit(() -> names.lookup(l, a).thenApply(n -> n.name() + (l.inEventLoop() ? "" : " OFF ITS LOOP"))).get());
      }
      for (var f : all) {
        assertThat(f.get(30, TimeUnit.SECONDS)).isEqualTo("burst.gateway.test");
      }
      assertThat(dns.questions()).filteredOn(q -> q.startsWith("PTR 120.")).hasSize(1);
    } finally {
      more.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  @Test
  void aMalformedAnswerIsATemporaryFailureAtOnce() throws Exception {
    // A response that breaks off mid-record (a mangling middlebox, a broken server) is an answer:
    // the C library gives up on it (or asks the next server) at once. Netty's resolver drops it and
    // waited out the whole timeout, and so did every session of every client while the server
    // answered that way.
    dns.malform("127.0.0.84");
    long start = System.nanoTime();
    ClientName n = lookup("127.0.0.84");
    assertThat(n.name()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(n.reason()).contains("malformed answer");
    assertThat((System.nanoTime() - start) / 1_000_000).as("ms, of a 10 s timeout").isLessThan(3000);
    lookup("127.0.0.84");
    assertThat(dns.questions()).as("a failure, not cached").filteredOn(q -> q.startsWith("PTR 84.")).hasSize(2);
  }

  @Test
  void aServerThatAnswersMalformedIsPassedOverForTheNext() throws Exception {
    dns.ptr("127.0.0.93", "d.gateway.test").address("d.gateway.test", "127.0.0.93");
    try (ScriptedDnsServer broken = new ScriptedDnsServer("127.0.0.1").malform("127.0.0.93");
        DnsClientNames twoServers = resolver(Duration.ofSeconds(10), broken.address(), dns.address())) {
      long start = System.nanoTime();
      assertThat(lookup(twoServers, "127.0.0.93").name()).isEqualTo("d.gateway.test");
      assertThat(broken.questions()).containsExactly("PTR 93.0.0.127.in-addr.arpa");
      assertThat((System.nanoTime() - start) / 1_000_000).as("ms; the broken server's share is 5 s").isLessThan(3000);
    }
  }

  @Test
  void aMalformedDatagramFromAnotherAddressDoesNotEndTheLookup() throws Exception {
    // Only the queried server (its address and port) can end a query with garbage, as only it can
    // with a well-formed SERVFAIL; else anyone who guessed a source port and ID could cut client
    // name lookups short. Here 127.0.0.2 sends garbage with the right ID first; the answer follows.
    dns.ptr("127.0.0.94", "e.gateway.test").address("e.gateway.test", "127.0.0.94")
        .spoofMalformed("127.0.0.94", "127.0.0.2");
    assertThat(lookup("127.0.0.94").describe()).isEqualTo("client name e.gateway.test");
  }
}
