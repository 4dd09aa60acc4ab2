package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.counts;
import static dev.sluice.report.ReportTestSupport.load;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExchangeProtocolReportTest {
  private static final LocalDateTime START = LocalDateTime.of(2025, 3, 4, 9, 0);

  @TempDir Path dir;

  @Test
  void countsByServerIpConnectorAndHourEqualTheTruth() throws Exception {
    LogGenerator.Truth truth = new LogGenerator(42).exchangeProtocol(dir, List.of("EX1", "EX2"),
        List.of("Default {server}", "Internal Relay"), new LogGenerator.Clients("10.1.1.12", 0.3, 40), START, 3, 200, 25);
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      assertThat(db.count("SELECT count(*) FROM events")).isEqualTo(truth.lines);
      assertThat(counts(db, "SELECT server, count(*) FROM sessions GROUP BY 1")).isEqualTo(truth.sessionsByServer);
      assertThat(counts(db, "SELECT remote_ip, count(*) FROM events WHERE event = '+' GROUP BY 1"))
          .isEqualTo(truth.sessionsByIp);
      assertThat(counts(db, "SELECT connector, count(*) FROM events GROUP BY 1")).isEqualTo(truth.linesByConnector);
      assertThat(counts(db, "SELECT server || '|' || strftime(date_trunc('hour', started), '%Y-%m-%d %H:00'), count(*)"
          + " FROM sessions GROUP BY 1")).isEqualTo(truth.sessionsByServerHour);

      TrafficReport report = TrafficReport.build(db, Thresholds.DEFAULTS);
      Map<String, Long> pressure = new TreeMap<>();
      report.section("back_pressure").rows().forEach(r -> pressure.merge((String) r.get(1), (Long) r.get(2), Long::sum));
      assertThat(pressure).isEqualTo(truth.backPressureByServer);
      assertThat(report.findings()).extracting(Finding::code).containsOnly("back-pressure");
      // one episode per server: three consecutive hours with replies
      assertThat(report.findings()).hasSize(2);
      assertThat(report.section("top_clients").value(0, "client_ip")).isEqualTo("10.1.1.12");
    }
  }

  @Test
  void natFindingFiresWhenOneAddressCarriesNinetyPercentAndNotOnABalancedLog() throws Exception {
    Path nat = dir.resolve("nat");
    Path balanced = dir.resolve("balanced");
    new LogGenerator(1).exchangeProtocol(nat, List.of("SERVER1"), List.of("Internal Relay"),
        new LogGenerator.Clients("10.1.1.12", 0.95, 20), START, 1, 300, 0);
    new LogGenerator(2).exchangeProtocol(balanced, List.of("SERVER1", "SERVER2"), List.of("Internal Relay"),
        new LogGenerator.Clients("10.1.1.12", 0.0, 50), START, 1, 300, 0);
    try (ReportDatabase db = load(LogFormat.EXCHANGE_PROTOCOL, nat)) {
      List<Finding> f = TrafficReport.build(db, Thresholds.DEFAULTS).findings();
      assertThat(f).extracting(Finding::code).containsExactly("source-nat");
      assertThat(f.get(0).subject()).isEqualTo("SERVER1");
      assertThat(f.get(0).message()).contains("10.1.1.12").containsPattern("9\\d\\.\\d% of 300 sessions");
    }
    try (ReportDatabase db = load(LogFormat.EXCHANGE_PROTOCOL, balanced)) {
      assertThat(TrafficReport.build(db, Thresholds.DEFAULTS).findings()).isEmpty();
    }
  }

  @Test
  void aConnectorPresentOnOneServerButSilentOnAnotherIsIdleAndImbalanceIsMeasured() throws Exception {
    LogGenerator g = new LogGenerator(3);
    g.exchangeProtocol(dir, List.of("SERVER1"), List.of("Default {server}", "Internet via Gateway"),
        new LogGenerator.Clients("x", 0, 50), START, 1, 300, 0);
    g.exchangeProtocol(dir, List.of("SERVER2"), List.of("Default {server}"),
        new LogGenerator.Clients("x", 0, 50), START, 1, 60, 0);
    try (ReportDatabase db = load(LogFormat.AUTO, dir)) {
      TrafficReport r = TrafficReport.build(db, new Thresholds(0.9, 20, 1.5, List.of("SERVER1\\Client SERVER1")));
      assertThat(r.findings()).extracting(Finding::subject)
          .containsExactlyInAnyOrder("SERVER2\\Internet via Gateway", "SERVER1\\Client SERVER1", "servers");
      // 300 vs 60 sessions: max/mean = 300 / 180
      assertThat((Double) r.section("balance").value(0, "max_over_mean")).isEqualTo(1.667);
      assertThat((Double) r.section("balance").value(0, "coefficient_of_variation")).isEqualTo(0.667);
    }
  }
}
