package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.load;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SmtplibResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed's source-NAT signature in real Postfix logs, as {@code sluice report} reads them: three
 * clients send through a balancer that hides them (a tcp listener without a client identity) to
 * one Postfix, and through one that passes them on (an smtp listener with XCLIENT) to another. The
 * first Postfix logs every session from the balancer's address, and the report says so; the second
 * logs the clients, and the report says nothing.
 */
@Tag("integration")
class SourceNatPostfixIT {
  static final List<String> CLIENTS = List.of("127.0.0.81", "127.0.0.82", "127.0.0.83");
  static final int PER_CLIENT = 10;

  @TempDir Path dir;

  @Test
  void theReportFindsTheBalancerBehindEverySessionOnlyWhereItHidTheClients() throws Exception {
    try (PostfixInstance hidden = PostfixInstance.builder("hidden").build().start();
        PostfixInstance passed = PostfixInstance.builder("passed").build().start();
        SluiceFixture sluice = SluiceFixture.start("""
            health:
              basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s }
            pools:
              h: { backends: [ "%s:%d" ] }
              p: { backends: [ "%s:%d" ] }
            listeners:
              nat: { listen: "127.0.0.1:0", mode: tcp, pool: h, health: basic, client_identity: none }
              xclient: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, client_identity: xclient }
            """.formatted(hidden.address(), hidden.port(), passed.address(), passed.port()))) {
      for (String listener : List.of("nat", "xclient")) {
        for (String client : CLIENTS) {
          SmtplibResult r = SmtpClients.smtplib("127.0.0.1", sluice.address(listener).getPort(), client, PER_CLIENT, 1,
              "app@internet.example", "user@example.test");
          assertThat(r.accepted()).as(r.output()).isEqualTo(PER_CLIENT);
        }
      }
      int total = CLIENTS.size() * PER_CLIENT;
      assertThat(hidden.awaitDelivered(total)).isEqualTo(total);
      assertThat(passed.awaitDelivered(total)).isEqualTo(total);
      Files.createDirectories(dir.resolve("hidden"));
      Files.createDirectories(dir.resolve("passed"));
      Files.copy(hidden.maillogFile(), dir.resolve("hidden/maillog"));
      Files.copy(passed.maillogFile(), dir.resolve("passed/maillog"));
    }

    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      TrafficReport r = TrafficReport.build(db, Thresholds.DEFAULTS);
      assertThat(r.findings()).filteredOn(f -> f.code().equals("source-nat")).singleElement()
          .satisfies(f -> assertThat(f.toString()).contains("hidden").contains("127.0.0.1"));
      // Postfix saw each client through XCLIENT: its sessions are theirs.
      assertThat(ReportTestSupport.counts(db, "SELECT client_ip, count(*) FROM sessions WHERE server = 'passed'"
          + " AND client_ip <> '127.0.0.1' GROUP BY 1")).containsOnlyKeys(CLIENTS).allSatisfy((ip, n) ->
          assertThat(n).isEqualTo(PER_CLIENT));
    }
  }
}
