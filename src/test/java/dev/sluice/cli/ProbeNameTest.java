package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.ScriptedDnsServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sluice probe name}: what a listener with a resolver: would tell the backends about a client. */
class ProbeNameTest {
  ScriptedDnsServer dns;
  String out;
  String err;

  @BeforeEach
  void start() throws Exception {
    dns = new ScriptedDnsServer("127.0.0.1")
        .ptr("127.0.0.77", "mx.gateway.test").address("mx.gateway.test", "127.0.0.77")
        .ptr("127.0.0.78", "forged.test").address("forged.test", "127.0.0.99")
        .silent("127.0.0.79");
  }

  @AfterEach
  void stop() {
    dns.close();
  }

  int run(String... args) {
    PrintStream o = System.out;
    PrintStream e = System.err;
    ByteArrayOutputStream ob = new ByteArrayOutputStream();
    ByteArrayOutputStream eb = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(ob, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(eb, true, StandardCharsets.UTF_8));
      String[] all = new String[args.length + 2];
      all[0] = "probe";
      all[1] = "name";
      System.arraycopy(args, 0, all, 2, args.length);
      return Main.execute(all);
    } finally {
      System.setOut(o);
      System.setErr(e);
      out = ob.toString(StandardCharsets.UTF_8);
      err = eb.toString(StandardCharsets.UTF_8);
    }
  }

  String server() {
    return "127.0.0.1:" + dns.address().getPort();
  }

  @Test
  void aVerifiedNameExitsZero() {
    assertThat(run("127.0.0.77", "--server", server())).as(out + err).isZero();
    assertThat(out).contains("XCLIENT NAME=mx.gateway.test REVERSE_NAME=mx.gateway.test", "client name mx.gateway.test");
  }

  @Test
  void anUnverifiedNameExitsOneAndSaysWhy() {
    assertThat(run("127.0.0.78", "--server", server())).isEqualTo(1);
    assertThat(out).contains("XCLIENT NAME=[UNAVAILABLE] REVERSE_NAME=forged.test",
        "forged.test does not resolve to 127.0.0.78");
  }

  @Test
  void aTruncatedAnswerIsAskedAgainOverTcpOnTheProcessTransport() {
    // The probe runs on Transport.best() (epoll on Linux): its TCP channels must suit those loops.
    dns.ptr("127.0.0.80", "big.gateway.test").address("big.gateway.test", "127.0.0.80")
        .truncate("127.0.0.80").truncate("big.gateway.test");
    assertThat(run("127.0.0.80", "--server", server())).as(out + err).isZero();
    assertThat(out).contains("XCLIENT NAME=big.gateway.test REVERSE_NAME=big.gateway.test");
    assertThat(dns.tcpQuestions()).hasSize(2);
  }

  @Test
  void aMalformedAnswerExitsTwoAtOnceOnTheProcessTransport() {
    // With epoll the resolver's sockets are dual-stack: the answer's sender must still be known
    // for the server the query went to, or the lookup would wait out its 10 s.
    dns.malform("127.0.0.81");
    long start = System.nanoTime();
    assertThat(run("127.0.0.81", "--server", server(), "--timeout", "10s")).as(out + err).isEqualTo(2);
    assertThat(out).contains("NAME=[TEMPUNAVAIL]", "malformed answer");
    assertThat((System.nanoTime() - start) / 1_000_000).as("ms, of a 10 s timeout").isLessThan(5000);
  }

  @Test
  void aServerThatDoesNotAnswerExitsTwo() {
    assertThat(run("127.0.0.79", "--server", server(), "--timeout", "300ms")).isEqualTo(2);
    assertThat(out).contains("NAME=[TEMPUNAVAIL]");
  }

  @Test
  void theConfigsResolverIsUsed(@TempDir Path dir) throws Exception {
    Path config = dir.resolve("sluice.yaml");
    Files.writeString(config, """
        resolver: { servers: [ "%s" ], timeout: 5s }
        pools: { p: { backends: [ "127.0.0.1:10025" ] } }
        listeners: { l: { listen: "127.0.0.1:2525", pool: p, client_identity: xclient } }
        """.formatted(server()));
    assertThat(run("127.0.0.77", "-c", config.toString())).as(out + err).isZero();
    assertThat(out).contains("asked: " + server());
  }

  @Test
  void badInputIsAUsageError() {
    assertThat(run("mx.example")).isEqualTo(2);
    assertThat(err).contains("'mx.example' is not an IP address");
    assertThat(run("127.0.0.77", "--server", "dns.example:53")).isEqualTo(2);
    assertThat(err).contains("--server");
  }
}
