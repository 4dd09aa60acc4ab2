package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class DemoCommandTest {

  @Test
  void demoWithDurationExitsZeroAndEveryBackendServedMessages() {
    PrintStream original = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    int code;
    try {
      System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
      code = Main.execute("demo", "--duration", "6s", "--port", "0", "--every", "3s");
    } finally {
      System.setOut(original);
    }
    String out = buf.toString(StandardCharsets.UTF_8);
    assertThat(code).as(out).isZero();
    String finalTable = out.substring(out.lastIndexOf("backend  address"));
    for (String server : new String[] {"server1", "server2", "server3"}) {
      Matcher m = Pattern.compile(server + "\\s+127\\.0\\.0\\.1:\\d+\\s+\\S+\\s+\\S+\\s+(\\d+)").matcher(finalTable);
      assertThat(m.find()).as(finalTable).isTrue();
      assertThat(Long.parseLong(m.group(1))).as(server + " in\n" + finalTable).isPositive();
    }
    assertThat(out).contains("enters back pressure").contains("recovers").contains("clients saw:");
    assertThat(out).contains("probed every 400ms");
    assertThat(out).containsPattern("Dashboard: +http://127\\.0\\.0\\.1:[0-9]+/");
  }

  @Test
  void probesAreFastEnoughForAShortRunToShowTheEpisodeAndItsEnd() {
    assertThat(DemoCommand.probeInterval(null)).isEqualTo(Duration.ofSeconds(2));
    assertThat(DemoCommand.probeInterval(Duration.ofMinutes(5))).isEqualTo(Duration.ofSeconds(2));
    assertThat(DemoCommand.probeInterval(Duration.ofSeconds(30))).isEqualTo(Duration.ofSeconds(2));
    // 9 s: the last third is 3 s, and a recovery is seen within three intervals.
    assertThat(DemoCommand.probeInterval(Duration.ofSeconds(9))).isEqualTo(Duration.ofMillis(600));
    assertThat(DemoCommand.probeInterval(Duration.ofSeconds(3))).isEqualTo(Duration.ofMillis(300));
  }
}
