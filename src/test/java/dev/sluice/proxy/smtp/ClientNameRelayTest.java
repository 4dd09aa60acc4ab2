package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.testing.ScriptedDnsServer;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * With a {@code resolver:}, backends learn the client's host name through XCLIENT (NAME and
 * REVERSE_NAME) and XFORWARD (NAME), as Postfix would have named the client itself; without one,
 * and when DNS is slow, they are told the name is unavailable, and the mail goes through anyway.
 */
class ClientNameRelayTest {
  static final Duration TIMEOUT = Duration.ofSeconds(20);
  ScriptedDnsServer dns;
  ScriptedPeer backend;
  SluiceFixture sluice;
  final List<String> infos = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    dns = new ScriptedDnsServer("127.0.0.1")
        .ptr("127.0.0.77", "mx.gateway.test").address("mx.gateway.test", "127.0.0.77")
        .ptr("127.0.0.78", "forged.test").address("forged.test", "127.0.0.99")
        .silent("127.0.0.79");
    // Offers XCLIENT as Postfix 3.7 does, to probes and sessions alike; XFORWARD too.
    backend = new ScriptedPeer(c -> {
      c.say("220 mx.scripted ESMTP");
      c.hearUntil("EHLO");
      c.say("250-mx.scripted").say("250-XFORWARD NAME ADDR PROTO HELO")
          .say("250 XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT");
      String line = c.hear();
      if (line != null && line.startsWith("XCLIENT")) {
        c.say("220 mx.scripted ESMTP");
      } else if (line != null) {
        c.say("250 2.0.0 Ok"); // XFORWARD, or the probe's MAIL FROM
      }
      c.serveRest();
    });
  }

  String config(String resolver) {
    return """
        %s
        pools:
          p: { backends: [ "127.0.0.1:%d" ] }
        listeners:
          xclient:  { listen: "127.0.0.1:0", mode: smtp, pool: p, hostname: mx.test, client_identity: xclient }
          xforward: { listen: "127.0.0.2:0", mode: smtp, pool: p, hostname: mx.test, client_identity: xforward }
        """.formatted(resolver, backend.port());
  }

  void startSluice(String resolver) throws Exception {
    sluice = SluiceFixture.start(config(resolver), new SessionObserver() {
          @Override
          public void info(SessionInfo s, String text) {
            infos.add(s.remote().getAddress().getHostAddress() + " " + text);
          }
        });
  }

  @AfterEach
  void stop() throws Exception {
    if (sluice != null) {
      sluice.close();
    }
    backend.close();
    dns.close();
  }

  void send(String listener, int clientHost) throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(sluice.address(listener), client(clientHost), TIMEOUT)) {
      c.command("EHLO gateway.test");
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: hi\n\nbody\n").code()).isEqualTo(250);
    }
  }

  List<String> sent(String command, int clientHost) {
    return backend.received().stream().filter(l -> l.startsWith(command + " ADDR=127.0.0." + clientHost + " ")).toList();
  }

  @Test
  void aVerifiedNameReachesTheBackendAsNameAndReverseName() throws Exception {
    startSluice("resolver: { servers: [ \"127.0.0.1:" + dns.address().getPort() + "\" ], timeout: 20s }");
    send("xclient", 77);
    assertThat(sent("XCLIENT", 77)).singleElement().satisfies(l -> assertThat(l)
        .contains(" NAME=mx.gateway.test ", " REVERSE_NAME=mx.gateway.test ", " HELO=gateway.test"));
    send("xforward", 77);
    assertThat(sent("XFORWARD", 77)).singleElement().satisfies(l -> assertThat(l).contains(" NAME=mx.gateway.test "));
    assertThat(infos).contains("127.0.0.77 client name mx.gateway.test");
    assertThat(namesCounted("xclient", "verified")).isEqualTo(1);
    assertThat(namesCounted("xforward", "verified")).isEqualTo(1);
  }

  double namesCounted(String listener, String result) throws Exception {
    var out = new java.io.ByteArrayOutputStream();
    sluice.server().metrics().write(out);
    return dev.sluice.testing.PrometheusText.parse(out.toString(java.nio.charset.StandardCharsets.UTF_8))
        .sum("sluice_client_names_total", "listener", listener, "result", result);
  }

  @Test
  void aPtrNameThatDoesNotResolveBackIsOnlyTheReverseName() throws Exception {
    startSluice("resolver: { servers: [ \"127.0.0.1:" + dns.address().getPort() + "\" ], timeout: 20s }");
    send("xclient", 78);
    assertThat(sent("XCLIENT", 78)).singleElement().satisfies(l -> assertThat(l)
        .contains(" NAME=[UNAVAILABLE] ", " REVERSE_NAME=forged.test "));
    assertThat(infos).contains("127.0.0.78 client name unknown (PTR forged.test): forged.test does not resolve to 127.0.0.78");
    assertThat(namesCounted("xclient", "unverified")).isEqualTo(1);
  }

  @Test
  void aResolverThatDoesNotAnswerInTimeMakesTheNameTemporarilyUnavailableAndTheMailStillGoes() throws Exception {
    startSluice("resolver: { servers: [ \"127.0.0.1:" + dns.address().getPort() + "\" ], timeout: 300ms }");
    send("xclient", 79);
    assertThat(sent("XCLIENT", 79)).singleElement().satisfies(l -> assertThat(l)
        .contains(" NAME=[TEMPUNAVAIL] ", " REVERSE_NAME=[TEMPUNAVAIL] "));
    assertThat(namesCounted("xclient", "tempfail")).isEqualTo(1);
    send("xforward", 79);
    assertThat(sent("XFORWARD", 79)).singleElement().satisfies(l -> assertThat(l).contains(" NAME=[UNAVAILABLE] "));
  }

  @Test
  void withoutAResolverNoQuestionIsAskedAndTheNameIsUnavailable() throws Exception {
    startSluice("");
    send("xclient", 77);
    assertThat(sent("XCLIENT", 77)).singleElement().satisfies(l -> assertThat(l)
        .contains(" NAME=[UNAVAILABLE] ", " REVERSE_NAME=[UNAVAILABLE] "));
    assertThat(dns.questions()).isEmpty();
  }

  /** Greets, says MAIL and RCPT (the RCPT takes the held MAIL to a backend) and drops the connection without waiting. */
  void leaveDuringRcpt(String listener, int clientHost) throws Exception {
    try (java.net.Socket c = new java.net.Socket()) {
      c.bind(new java.net.InetSocketAddress(client(clientHost), 0));
      c.connect(sluice.address(listener), 5000);
      c.setSoTimeout(20_000);
      var in = new java.io.BufferedReader(new java.io.InputStreamReader(c.getInputStream(), java.nio.charset.StandardCharsets.US_ASCII));
      var out = c.getOutputStream();
      assertThat(in.readLine()).startsWith("220");
      out.write("EHLO gateway.test\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      String line;
      do {
        line = in.readLine();
      } while (line != null && line.startsWith("250-"));
      out.write("MAIL FROM:<a@internet.example>\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      assertThat(in.readLine()).startsWith("250");
      out.write("RCPT TO:<b@corp.example>\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      out.flush();
      c.setSoLinger(true, 0); // a reset: gone, not a half-close whose commands are still answered
    }
  }

  @Test
  void aClientThatLeavesWhileItsNameIsLookedUpCostsTheBackendNothing() throws Exception {
    // A client that hangs up while Sluice waits for DNS (a bot on a slow reverse zone) must not,
    // once the lookup ends, have a backend session opened for it, greeted and XCLIENTed for nothing.
    startSluice("resolver: { servers: [ \"127.0.0.1:" + dns.address().getPort() + "\" ], timeout: 1s }");
    leaveDuringRcpt("xclient", 79);
    org.awaitility.Awaitility.await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(sent("XCLIENT", 79)).isEmpty());
  }

  @Test
  void aLookupIsCountedEvenWhenItsClientHasLeft() throws Exception {
    // sluice_client_names_total counts lookups; during a DNS outage the clients that give up
    // before the timeout are lookups that failed too, and the tempfail count is how it shows.
    startSluice("resolver: { servers: [ \"127.0.0.1:" + dns.address().getPort() + "\" ], timeout: 1s }");
    try (java.net.Socket c = new java.net.Socket()) {
      c.bind(new java.net.InetSocketAddress(client(79), 0));
      c.connect(sluice.address("xclient"), 5000);
    }
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(namesCounted("xclient", "tempfail")).isEqualTo(1));
    assertThat(infos).noneMatch(i -> i.startsWith("127.0.0.79 client name"));
  }

  @Test
  void aReloadThatChangesOrRemovesTheResolverLetsWaitingSessionsFinishAndNewOnesUseTheNewSettings() throws Exception {
    try (ScriptedDnsServer before = new ScriptedDnsServer("127.0.0.1")
        .ptr("127.0.0.77", "old.gateway.test").address("old.gateway.test", "127.0.0.77")) {
      startSluice("resolver: { servers: [ \"127.0.0.1:" + before.address().getPort() + "\" ], timeout: 20s }");
      var yaml = new java.util.concurrent.atomic.AtomicReference<String>();
      sluice.server().configSource(() -> dev.sluice.config.ConfigLoader.parse(yaml.get(), "reload.yaml"));
      send("xclient", 77);
      assertThat(sent("XCLIENT", 77)).last().satisfies(l -> assertThat(l).contains(" NAME=old.gateway.test "));

      yaml.set(config("resolver: { servers: [ \"127.0.0.1:" + dns.address().getPort() + "\" ], timeout: 2s }"));
      assertThat(sluice.server().reload().ok()).isTrue();
      send("xclient", 77);
      assertThat(sent("XCLIENT", 77)).last().satisfies(l -> assertThat(l).contains(" NAME=mx.gateway.test "));

      // A session waiting for a name (its DNS is silent) when the resolver is taken away.
      dns.silent("127.0.0.80");
      try (LabSmtpClient c = LabSmtpClient.connect(sluice.address("xclient"), client(80), TIMEOUT)) {
        c.command("EHLO gateway.test");
        assertThat(c.command("MAIL FROM:<a@internet.example>").code()).isEqualTo(250);
        var rcpt = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            return c.command("RCPT TO:<b@corp.example>").code();
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
        org.awaitility.Awaitility.await().atMost(TIMEOUT).until(() -> dns.questions().contains("PTR 80.0.0.127.in-addr.arpa"));
        yaml.set(config(""));
        assertThat(sluice.server().reload().ok()).isTrue();
        assertThat(rcpt.get(20, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(250);
      }
      assertThat(sent("XCLIENT", 80)).singleElement().satisfies(l -> assertThat(l).contains(" NAME=[TEMPUNAVAIL] "));
      send("xclient", 77);
      assertThat(sent("XCLIENT", 77)).last().satisfies(l -> assertThat(l).contains(" NAME=[UNAVAILABLE] "));
    }
  }

  @Test
  void aReloadReadsTheSystemsNameServersAgain(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    // resolver: without servers asks resolv.conf's; the DNS servers move (DHCP, a migration), the
    // file is rewritten, Sluice is reloaded: new sessions ask the new servers, as a restart would.
    ScriptedDnsServer moved;
    try {
      moved = new ScriptedDnsServer("127.0.53.2", 53);
    } catch (Exception e) {
      org.junit.jupiter.api.Assumptions.abort("cannot bind 127.0.53.2:53 (resolv.conf names servers without ports): " + e);
      return;
    }
    try (moved) {
      moved.ptr("127.0.0.77", "mx.gateway.test").address("mx.gateway.test", "127.0.0.77");
      java.nio.file.Path resolvConf = dir.resolve("resolv.conf");
      java.nio.file.Files.writeString(resolvConf, "nameserver 127.0.53.1\n"); // nothing there any more
      String yaml = config("resolver: { timeout: 2s }");
      dev.sluice.runtime.SluiceServer server = new dev.sluice.runtime.SluiceServer(dev.sluice.config.ConfigLoader.parse(yaml, "t.yaml"));
      server.resolvConf(resolvConf);
      server.start();
      try {
        server.configSource(() -> dev.sluice.config.ConfigLoader.parse(yaml, "t.yaml"));
        java.nio.file.Files.writeString(resolvConf, "nameserver 127.0.53.2\n");
        assertThat(server.reload().ok()).isTrue();
        try (LabSmtpClient c = LabSmtpClient.connect(server.listener("xclient").boundAddress(), client(77), TIMEOUT)) {
          c.command("EHLO gateway.test");
          assertThat(c.send("a@internet.example", "b@corp.example", "Subject: hi\n\nbody\n").code()).isEqualTo(250);
        }
        assertThat(sent("XCLIENT", 77)).singleElement().satisfies(l -> assertThat(l).contains(" NAME=mx.gateway.test "));
      } finally {
        server.shutdown(Duration.ZERO);
      }
    }
  }
}
