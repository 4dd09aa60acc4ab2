package dev.sluice.report;

import static dev.sluice.report.ReportTestSupport.run;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.List;
import javax.imageio.ImageIO;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** The command end to end: exit codes, --sql in every style, --json report, charts. */
class ReportCommandTest {
  @TempDir Path dir;
  private Path logs;

  @BeforeEach
  void logs() throws Exception {
    logs = dir.resolve("logs");
    new LogGenerator(5).exchangeProtocol(logs, List.of("SERVER1", "SERVER2", "SERVER3"), List.of("Internal Relay"),
        new LogGenerator.Clients("10.1.1.12", 0.95, 10), LocalDateTime.of(2025, 3, 4, 0, 0), 4, 50, 0);
  }

  @Test
  void defaultReportExitsOneWithTheNatFindingAndPrintsAlignedTables() {
    ReportTestSupport.Run r = run(logs.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.out()).contains("Traffic per server", "Top client IPs", "Hits per connector/listener", "Balance index",
        "Back-pressure replies", "Findings", "source-nat");
    assertThat(r.err()).contains("finding source-nat: SERVER1: 10.1.1.12 is behind");
  }

  @Test
  void cleanLogsExitZero() {
    assertThat(run(logs.toString(), "--nat-threshold", "1").exit()).isZero();
  }

  @Test
  void sqlInTextCsvAndJson() throws Exception {
    String q = "SELECT remote_ip AS ip, count(*) AS hits FROM events WHERE event = '+' GROUP BY ip ORDER BY hits DESC LIMIT 1";
    ReportTestSupport.Run text = run(logs.toString(), "--sql", q);
    assertThat(text.exit()).isZero();
    assertThat(text.out().lines().toList().get(0)).matches("ip\\s+hits");
    assertThat(text.out()).contains("10.1.1.12");
    ReportTestSupport.Run csv = run(logs.toString(), "--sql", q, "--csv");
    assertThat(csv.out().lines().toList()).hasSize(2).first().isEqualTo("ip,hits");
    JsonNode json = new ObjectMapper().readTree(run(logs.toString(), "--sql", q, "--json").out());
    assertThat(json.get(0).get("ip").asText()).isEqualTo("10.1.1.12");
    assertThat(json.get(0).get("hits").asLong()).isGreaterThan(500);
  }

  @Test
  void jsonReportHasEverySection() throws Exception {
    ReportTestSupport.Run r = run(logs.toString(), "--json");
    JsonNode json = new ObjectMapper().readTree(r.out());
    assertThat(json.get("exit").asInt()).isEqualTo(1);
    assertThat(json.get("servers")).hasSize(3);
    assertThat(json.get("findings").get(0).get("code").asText()).isEqualTo("source-nat");
  }

  @Test
  void badUsageExitsTwo() {
    assertThat(run(dir.resolve("missing").toString()).exit()).isEqualTo(2);
    assertThat(run(logs.toString(), "--sql", "SELECT nope FROM nowhere").exit()).isEqualTo(2);
    assertThat(run(logs.toString(), "--format", "weird").exit()).isEqualTo(2);
    assertThat(run(logs.toString(), "--chart", dir.resolve("c.gif").toString()).exit()).isEqualTo(2);
    assertThat(run(logs.toString(), "--json", "--csv").exit()).isEqualTo(2);
  }

  @Test
  void chartsArePngAndSvgWithOneSeriesPerServer() throws Exception {
    Path png = dir.resolve("traffic.png");
    Path svg = dir.resolve("traffic.svg");
    Path html = dir.resolve("traffic.html");
    run(logs.toString(), "--chart", png.toString());
    run(logs.toString(), "--chart", svg.toString());
    run(logs.toString(), "--chart", html.toString());
    BufferedImage image = ImageIO.read(png.toFile());
    assertThat(image.getWidth()).isEqualTo(1000);
    NodeList lines = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile())
        .getElementsByTagName("polyline");
    assertThat(lines.getLength()).isEqualTo(3);
    assertThat(List.of(0, 1, 2)).extracting(i -> ((Element) lines.item(i)).getAttribute("data-server"))
        .containsExactly("SERVER1", "SERVER2", "SERVER3");
    assertThat(Files.readString(html)).contains("<svg", "data-server=\"SERVER2\"");
    try (ReportDatabase db = ReportTestSupport.load(LogFormat.AUTO, logs)) {
      TrafficChart chart = TrafficChart.from(db);
      assertThat(chart.jfreeChart().getXYPlot().getDataset().getSeriesCount()).isEqualTo(3);
      assertThat(chart.bucketMinutes()).isEqualTo(1);
      assertThat(chart.series().get("SERVER1")).hasSize(chart.times().size());
      assertThat(java.util.Arrays.stream(chart.series().get("SERVER2")).sum()).isEqualTo(200);
    }
  }
}
