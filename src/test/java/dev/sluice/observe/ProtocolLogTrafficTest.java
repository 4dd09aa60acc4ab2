package dev.sluice.observe;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.cli.ReportCommand;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.SluiceFixture;
import io.netty.channel.EventLoopGroup;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Real sessions through Sluice, logged at verbose level, read back by a CSV parser and by {@code sluice report}. */
class ProtocolLogTrafficTest {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  @TempDir Path dir;

  @Test
  void sessionsInBothModesAreLoggedAndReadableBySluiceReport() throws Exception {
    EventLoopGroup group = Transport.NIO.newGroup(1);
    Path logs = dir.resolve("logs");
    try (EmbeddedSmtpServer a = new EmbeddedSmtpServer("a", "corp.example").start(new InetSocketAddress("127.0.0.1", 0),
        group, Transport.NIO)) {
      String yaml = "log:\n  protocol_dir: " + logs + "\n  protocol_level: verbose\n"
          + "health:\n  deep:\n    steps: [connect, banner, ehlo, mail_from, quit]\n    mail_from: probe@internet.example\n"
          + "    interval: 60s\n    timeout: 5s\n"
          + "pools:\n  p:\n    backends:\n      - { name: a, address: 127.0.0.1:" + a.port() + " }\n"
          + "listeners:\n  l:\n    listen: 127.0.0.1:0\n    mode: smtp\n    pool: p\n    health: deep\n    hostname: mx.test\n"
          + "  t:\n    listen: 127.0.0.1:0\n    mode: tcp\n    pool: p\n    health: deep\n";
      try (SluiceFixture f = SluiceFixture.start(yaml)) {
        for (String listener : List.of("l", "t")) {
          try (LabSmtpClient c = LabSmtpClient.connect(f.address(listener), client(77), TIMEOUT)) {
            c.command("EHLO logged");
            assertThat(c.send("x@internet.example", "y@corp.example", "Subject: s\r\n\r\nsecret body text").code())
                .isEqualTo(250);
            c.command("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
          }
        }
        await().atMost(TIMEOUT).until(() -> f.server().listeners().stream().allMatch(l -> l.activeSessions() == 0));
      } // closing flushes the log
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
    Path file = logs.resolve("sluice-" + LocalDate.now(ZoneOffset.UTC) + ".log");
    String text = Files.readString(file);
    assertThat(text).doesNotContain("secret body text").doesNotContain("AGFsaWNlAHNlY3JldA==");
    List<List<String>> rows;
    try (Stream<String> lines = Files.lines(file)) {
      rows = lines.filter(l -> !l.startsWith("#")).map(ProtocolLogTest::parseCsv).toList();
    }
    assertThat(rows).allSatisfy(r -> assertThat(r).hasSize(10));
    List<List<String>> smtp = rows.stream().filter(r -> r.get(1).equals("l")).toList();
    List<List<String>> tcp = rows.stream().filter(r -> r.get(1).equals("t")).toList();
    assertThat(smtp).extracting(r -> r.get(7)).startsWith("+", ">").contains("<", "*").endsWith("-");
    assertThat(smtp).extracting(r -> r.get(8)).contains("EHLO logged", "MAIL FROM:<x@internet.example>",
        "AUTH PLAIN ****").anyMatch(d -> d.startsWith("accepted "));
    // Every line of the multi-line EHLO reply is its own '>' event.
    assertThat(smtp).extracting(r -> r.get(8)).contains("250-mx.test", "250-PIPELINING");
    assertThat(smtp).filteredOn(r -> r.get(9).equals("backend")).singleElement()
        .satisfies(r -> assertThat(r.get(6)).isEqualTo("a"));
    // tcp mode: connect, backend chosen, then the disconnect and the byte totals (reported when both
    // sides of the relay have closed, so possibly just after the client's disconnect).
    assertThat(tcp).extracting(r -> r.get(7)).startsWith("+", "*").containsExactlyInAnyOrder("+", "*", "*", "-");
    assertThat(tcp).extracting(r -> r.get(9)).containsExactlyInAnyOrder("", "backend", "bytes", "");

    StringWriter out = new StringWriter();
    CommandLine cl = new CommandLine(new ReportCommand());
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(new StringWriter()));
    int exit = cl.execute(file.toString(), "--format", "sluice", "--csv", "--sql",
        "SELECT connector, server, count(*) AS n FROM events WHERE event = '*' AND context = 'backend' GROUP BY ALL ORDER BY connector");
    assertThat(exit).isZero();
    assertThat(out.toString().lines().toList()).containsExactly("connector,server,n", "l,a,1", "t,a,1");
    StringWriter json = new StringWriter();
    cl.setOut(new PrintWriter(json));
    cl.execute(file.toString(), "--format", "sluice", "--json", "--sql", "SELECT count(*) AS lines FROM events");
    JsonNode n = new ObjectMapper().readTree(json.toString());
    assertThat(n.get(0).get("lines").asLong()).isEqualTo(rows.size());

    // The default report counts the message smtp mode delivered to a (tcp mode relays bytes and
    // logs no transactions): Sluice's accepted transactions are the messages per server.
    StringWriter report = new StringWriter();
    cl.setOut(new PrintWriter(report));
    cl.execute(file.toString(), "--format", "sluice", "--json");
    JsonNode servers = new ObjectMapper().readTree(report.toString()).get("servers");
    assertThat(servers).hasSize(1);
    assertThat(servers.get(0).get("server").asText()).isEqualTo("a");
    assertThat(servers.get(0).get("sessions").asLong()).isEqualTo(2);
    assertThat(servers.get(0).get("messages").asLong()).isEqualTo(1);
  }
  /**
   * A backend's state changes as a listener sees them (its health under the listener's profile,
   * its admin state) are rows of their own, with the listener and the backend but no session, so
   * a shift in traffic has its cause beside it; {@code sluice report} loads the file around them.
   */
  @Test
  void backendStateChangesAreRowsOfTheirOwnThatTheReportLeavesAside() throws Exception {
    EventLoopGroup group = Transport.NIO.newGroup(1);
    Path logs = dir.resolve("logs");
    try (EmbeddedSmtpServer a = new EmbeddedSmtpServer("a", "corp.example").start(new InetSocketAddress("127.0.0.1", 0),
        group, Transport.NIO)) {
      String yaml = "log:\n  protocol_dir: " + logs + "\n  protocol_level: basic\n"
          + "health:\n  deep:\n    steps: [connect, banner, ehlo, mail_from, quit]\n    mail_from: probe@internet.example\n"
          + "    interval: 1s\n    timeout: 900ms\n    rise: 1\n    fall: 1\n"
          + "pools:\n  p:\n    backends:\n      - { name: a, address: 127.0.0.1:" + a.port() + " }\n"
          + "listeners:\n  l:\n    listen: 127.0.0.1:0\n    mode: smtp\n    pool: p\n    health: deep\n    hostname: mx.test\n";
      try (SluiceFixture f = SluiceFixture.start(yaml)) {
        try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(78), TIMEOUT)) {
          c.command("EHLO logged");
          assertThat(c.send("x@internet.example", "y@corp.example", "Subject: s\r\n\r\nhi").code()).isEqualTo(250);
        }
        a.setBackPressure(true);
        var target = f.server().health().all().get(0);
        await().atMost(TIMEOUT).until(() -> target.state() == dev.sluice.health.HealthState.DEGRADED);
        assertThat(f.server().setAdminState("p", "a", dev.sluice.balance.Backend.AdminState.DRAINING)).isTrue();
      } // closing flushes the log
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
    Path file = logs.resolve("sluice-" + LocalDate.now(ZoneOffset.UTC) + ".log");
    List<List<String>> rows;
    try (Stream<String> lines = Files.lines(file)) {
      rows = lines.filter(l -> !l.startsWith("#")).map(ProtocolLogTest::parseCsv).toList();
    }
    List<List<String>> state = rows.stream().filter(r -> r.get(9).equals("state")).toList();
    assertThat(state).allSatisfy(r -> {
      assertThat(r.subList(1, 8)).containsExactly("l", "", "", "", "", "a", "*");
    });
    assertThat(state).extracting(r -> r.get(8)).satisfiesExactly(
        d -> assertThat(d).startsWith("health up -> degraded: ").contains("452"),
        d -> assertThat(d).isEqualTo("admin state draining (admin API)"));

    StringWriter json = new StringWriter();
    CommandLine cl = new CommandLine(new ReportCommand());
    cl.setOut(new PrintWriter(json));
    cl.setErr(new PrintWriter(new StringWriter()));
    assertThat(cl.execute(file.toString(), "--format", "sluice", "--json", "--sql",
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT sum(malformed) FROM files) AS malformed,"
            + " (SELECT count(DISTINCT session_id) FROM events) AS sessions")).isZero();
    JsonNode n = new ObjectMapper().readTree(json.toString()).get(0);
    assertThat(n.get("events").asLong()).isEqualTo(rows.size() - state.size());
    assertThat(n.get("malformed").asLong()).isZero();
    assertThat(n.get("sessions").asLong()).isEqualTo(1);
  }
}
