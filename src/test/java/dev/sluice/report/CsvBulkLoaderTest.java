package dev.sluice.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The DuckDB CSV fast path must load exactly what the Java parser loads: same rows, same rejects
 * with file:line, same per-file accounting. It must take plain files and decline everything the
 * parser treats specially.
 */
class CsvBulkLoaderTest {
  private static final String HEAD = """
      #Software: Microsoft Exchange Server
      #Version: 15.01.2375.007
      #Log-type: SMTP Receive Protocol Log
      #Date: 2025-03-04T10:00:00.012Z
      #Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context
      """;
  private static final String GOOD = "2025-03-04T10:00:01.101Z,EX1\\Default EX1,08DD5A1B2C3D4E5F,0,10.0.0.21:25,10.0.0.5:40112,+,,\n";

  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', quoteCharacter = '\'', value = {
      // name | line after the header (\n added) | fast path?
      "plain | 2025-03-04T10:00:01.101Z,EX1\\Default EX1,S1,1,10.0.0.21:25,10.0.0.5:40112,>,\"220 a, \"\"b\"\"\",x | true",
      "v6 and space time | 2025-03-04 10:00:01,EX1\\R,S1,1,[::1]:25,[2001:db8::7]:40113,<,EHLO,  | true",
      "no fraction no Z, empty seq and endpoints | 2025-03-04T10:00:01,EX1,S1,,,,*,, | true",
      "quoted empty | 2025-03-04T10:00:01Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,\"\",\"\" | true",
      "text after closing quote | 2025-03-04T10:00:01Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,\"a\" b, | false",
      "quote inside unquoted | 2025-03-04T10:00:01Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,a \"b\", | false",
      "unterminated quote | 2025-03-04T10:00:01Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,\"a, | false",
      "quoted time | \"2025-03-04T10:00:01Z\",EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "offset | 2025-03-04T10:00:01+02:00,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "hour 24 | 2025-03-04T24:00:00Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "second 60 | 2025-03-04T23:59:60Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "Feb 30 passes the scan; the cast fails, the parser loads it | 2025-02-30T10:00:00Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,a, | true",
      "seven fraction digits | 2025-03-04T10:00:00.1234567Z,EX1\\R,S1,2,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "ten digit seq | 2025-03-04T10:00:00Z,EX1\\R,S1,1000000000,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "bad seq | 2025-03-04T10:00:00Z,EX1\\R,S1,x,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "missing session | 2025-03-04T10:00:00Z,EX1\\R,,1,10.0.0.21:25,10.0.0.5:1,<,a, | false",
      "missing event | 2025-03-04T10:00:00Z,EX1\\R,S1,1,10.0.0.21:25,10.0.0.5:1,,a, | false",
      "bare v6 endpoint | 2025-03-04T10:00:00Z,EX1\\R,S1,1,10.0.0.21:25,::1,<,a, | false",
      "endpoint without port | 2025-03-04T10:00:00Z,EX1\\R,S1,1,10.0.0.21:25,10.0.0.5,<,a, | false",
      "six digit port | 2025-03-04T10:00:00Z,EX1\\R,S1,1,10.0.0.21:25,10.0.0.5:655360,<,a, | false",
      "too few fields | 2025-03-04T10:00:00Z,EX1\\R,S1,1 | false",
      "too many fields | 2025-03-04T10:00:00Z,EX1\\R,S1,1,10.0.0.21:25,10.0.0.5:1,<,a,b,c | false",
      "empty line | '' | false",
      "header mid-file | #Fields: date-time,session-id,event | false",
  })
  void takesPlainFilesDeclinesSpecialOnesAndLoadsWhatTheParserLoads(String name, String line, boolean fast)
      throws Exception {
    Path f = dir.resolve("RECV2025030410-1.LOG");
    Files.writeString(f, HEAD + GOOD + line + "\n" + GOOD, StandardCharsets.UTF_8);
    assertThat(scan(f) != null).as(name).isEqualTo(fast);
    assertSameAsParser(f);
  }

  @Test
  void bomBareCrAndMissingColumnsAreDeclinedCrlfAndNoFinalNewlineAreTaken() throws Exception {
    assertThat(scan(write("bom.LOG", "\uFEFF" + HEAD + GOOD))).isNull();
    assertThat(scan(write("cr.LOG", HEAD + GOOD.replace("\n", "\r") + GOOD))).isNull();
    assertThat(scan(write("nofields.LOG", HEAD.replace("session-id", "sid") + GOOD))).isNull();
    assertThat(scan(write("data-first.LOG", GOOD + HEAD + GOOD))).isNull();
    assertThat(scan(write("headers-only.LOG", HEAD))).isNull();
    assertThat(scan(write("crlf.LOG", (HEAD + GOOD + GOOD).replace("\n", "\r\n")))).isNotNull();
    assertThat(scan(write("nonl.LOG", HEAD + GOOD + GOOD.strip()))).isNotNull();
    assertThat(scan(write("send.LOG", HEAD.replace("Receive", "Send") + GOOD)).logType()).isEqualTo("send");
    assertSameAsParser(dir);
  }

  @Test
  void spacesNulAndInvalidUtf8LoadAsTheParserLoadsThem() throws Exception {
    Path spaces = write("spaces.LOG", HEAD + GOOD
        + "2025-03-04T10:00:01Z,EX1\\R,S1,1,10.0.0.21:25,10.0.0.5:1,<, EHLO  a ,  \n" + GOOD);
    assertThat(scan(spaces)).isNotNull();
    assertSameAsParser(spaces);
    Files.delete(spaces);
    Path nul = write("nul.LOG", HEAD + GOOD + GOOD.replace(",,\n", ",\"a\u0000b\",\n"));
    assertThat(scan(nul)).isNull();
    assertSameAsParser(nul);
    Files.delete(nul);
    byte[] bad = (HEAD + GOOD + GOOD.replace(",,\n", ",x\u00e9y,\n")).getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < bad.length - 1; i++) {
      if (bad[i] == (byte) 0xC3 && bad[i + 1] == (byte) 0xA9) {
        bad[i] = (byte) 0xFF; // invalid UTF-8: the parser reads U+FFFD, DuckDB's reader refuses the file
      }
    }
    Path utf = Files.write(dir.resolve("utf.LOG"), bad);
    assertSameAsParser(utf);
  }

  @Test
  void generatedLogsFixturesAndGzipLoadIdentically() throws Exception {
    LogGenerator g = new LogGenerator(5);
    LocalDateTime t = LocalDateTime.of(2025, 3, 4, 9, 0);
    g.exchangeProtocol(dir.resolve("ex"), List.of("EX1", "EX2"), List.of("Default {server}", "Internal Relay"),
        new LogGenerator.Clients("10.1.1.12", 0.5, 20), t, 2, 100, 10);
    g.sluice(dir.resolve("sl/sluice-20250304.log"), List.of("external"), List.of("mx1", "mx2"),
        new LogGenerator.Clients("x", 0, 10), t, 200);
    Path fixtures = Path.of(getClass().getResource("/report").toURI());
    try (var files = Files.list(fixtures)) {
      for (Path p : files.toList()) {
        Files.copy(p, dir.resolve(p.getFileName().toString()));
      }
    }
    byte[] plain = Files.readAllBytes(LogLoader.expand(List.of(dir.resolve("ex"))).get(0));
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(dir.resolve("ex/plain.LOG.gz")))) {
      out.write(plain);
    }
    for (Path p : LogLoader.expand(List.of(dir.resolve("ex"), dir.resolve("sl")))) {
      assertThat(scan(p)).as(p.toString()).isNotNull();
    }
    assertSameAsParser(dir);
  }

  /**
   * Sluice's rows outside any session (a backend's state change, a note of dropped events) have no
   * session-id: both paths leave them out, without calling them malformed. Any other line without
   * one is malformed, and the fast path hands such a file to the parser, which says so.
   */
  @Test
  void sluiceRowsOutsideASessionAreLeftOutAndOnlyThey() throws Exception {
    String head = """
        #Software: Sluice
        #Version: 0.1.0
        #Log-type: Sluice Protocol Log
        #Date: 2026-11-30T10:00:00.000Z
        #Fields: date-time,listener,session-id,sequence-number,local-endpoint,remote-endpoint,backend,event,data,context
        """;
    String session = """
        2026-11-30T10:00:00.100Z,internet,18C1F2A3B4C50001,0,127.0.0.1:2525,192.0.2.7:40001,,+,,
        2026-11-30T10:00:00.300Z,internet,18C1F2A3B4C50001,1,127.0.0.1:2525,192.0.2.7:40001,,-,,
        """;
    String state = "2026-11-30T10:00:00.200Z,internet,,,,,server1,*,\"health up -> degraded: 452 4.3.1 full, later\",state\n"
        + "2026-11-30T10:00:00.250Z,,,,,,,*,3 events dropped,protocol-log\n";
    Path ok = write("sluice-ok.log", head + session + state);
    assertThat(scan(ok)).isNotNull();
    assertSameAsParser(ok);
    try (ReportDatabase db = new ReportDatabase()) {
      new LogLoader(db, LogFormat.AUTO, 2, true).load(List.of(ok), n -> {});
      assertThat(db.count("SELECT count(*) FROM events")).isEqualTo(2);
      assertThat(db.count("SELECT count(*) FROM rejects")).isZero();
    }
    Path bad = write("sluice-bad.log",
        head + session + "2026-11-30T10:00:00.200Z,internet,,,,,,<,EHLO x,\n");
    assertSameAsParser(bad);
    try (ReportDatabase db = new ReportDatabase()) {
      new LogLoader(db, LogFormat.AUTO, 2, true).load(List.of(bad), n -> {});
      assertThat(db.count("SELECT count(*) FROM rejects")).isEqualTo(1);
    }
  }

  private Path write(String name, String text) throws Exception {
    return Files.writeString(dir.resolve(name), text, StandardCharsets.UTF_8);
  }

  private static CsvBulkLoader.Plan scan(Path f) throws Exception {
    LogFormat format = LogLoader.detect(f).orElse(LogFormat.EXCHANGE_PROTOCOL);
    byte[] bytes = Files.readAllBytes(f);
    if (CsvBulkLoader.gzip(f)) {
      bytes = new java.util.zip.GZIPInputStream(new ByteArrayInputStream(bytes)).readAllBytes();
    }
    return new CsvBulkLoader.Scanner(format).scan(new ByteArrayInputStream(bytes));
  }

  /** Every table, row for row, with and without the fast path. */
  private static void assertSameAsParser(Path path) throws Exception {
    List<String> tables = List.of(
        "SELECT * FROM events ORDER BY source_file, source_line",
        "SELECT * FROM messages ORDER BY source_file, source_line, event",
        "SELECT * FROM rejects ORDER BY source_file, line",
        "SELECT * FROM files ORDER BY source_file");
    List<Path> files = LogLoader.expand(List.of(path));
    try (ReportDatabase fast = new ReportDatabase(); ReportDatabase java = new ReportDatabase()) {
      new LogLoader(fast, LogFormat.AUTO, 2, true).load(files, n -> {});
      new LogLoader(java, LogFormat.AUTO, 2, false).load(files, n -> {});
      for (String q : tables) {
        assertThat(fast.query("q", "", q).rows()).as(q).isEqualTo(java.query("q", "", q).rows());
      }
      assertThat(java.count("SELECT count(*) FROM events")).isPositive();
    }
  }
}
