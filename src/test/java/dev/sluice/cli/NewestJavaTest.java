package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.RecordingSmtpBackend;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sluice on the newest JDK installed here, when it is Java 24 or later: there Netty may give
 * off-heap buffers a memory address while {@code sun.misc.Unsafe} is not usable (JEP 498), which
 * Java 17 never shows. Smtp mode's body search once read such memory through Unsafe and closed
 * every session at its first body byte. Run as a separate process, both as {@code java -jar}
 * with no flags and with the launcher's flags for that JDK, and every body must arrive byte for
 * byte. Skipped when no such JDK is installed (the build machine has Java 25: docs/testing.md).
 */
class NewestJavaTest {
  private static final Pattern JAVA_VERSION = Pattern.compile("(?m)^JAVA_VERSION=\"(\\d+)");

  @TempDir Path dir;
  RecordingSmtpBackend backend;
  Process process;

  @AfterEach
  void tearDown() throws Exception {
    if (process != null) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    if (backend != null) {
      backend.close();
    }
  }

  /** The home of the newest JDK under /usr/lib/jvm with a feature version of 24 or more. */
  static Optional<Path> newestJdk() throws IOException {
    Path jvms = Path.of("/usr/lib/jvm");
    if (!Files.isDirectory(jvms)) {
      return Optional.empty();
    }
    try (Stream<Path> homes = Files.list(jvms)) {
      return homes.filter(h -> Files.isExecutable(h.resolve("bin/java")) && feature(h) >= 24)
          .max(Comparator.comparingInt(NewestJavaTest::feature));
    }
  }

  private static int feature(Path home) {
    try {
      Matcher m = JAVA_VERSION.matcher(Files.readString(home.resolve("release")));
      return m.find() ? Integer.parseInt(m.group(1)) : 0;
    } catch (IOException e) {
      return 0;
    }
  }

  @ParameterizedTest(name = "launcher flags: {0}")
  @ValueSource(booleans = {false, true})
  void smtpModeRelaysEveryBodyByteForByte(boolean launcherFlags) throws Exception {
    Optional<Path> jdk = newestJdk();
    Assumptions.assumeTrue(jdk.isPresent(), "no JDK 24 or later under /usr/lib/jvm");
    backend = new RecordingSmtpBackend("newest");
    int port = Loopback.freePort();
    Path cfg = dir.resolve("sluice.yaml");
    Files.writeString(cfg, """
        pools: { hub: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { mx: { listen: "127.0.0.1:%d", mode: smtp, pool: hub, hostname: mx.test } }
        """.formatted(backend.port(), port));
    List<String> cmd = new ArrayList<>(List.of(jdk.get().resolve("bin/java").toString()));
    if (launcherFlags) {
      cmd.addAll(List.of(launcherOutput(jdk.get(), "SLUICE_PRINT_JVM_FLAGS").split(" ")));
    }
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "run", "-c", cfg.toString()));
    process = new ProcessBuilder(cmd).redirectOutput(dir.resolve("out.txt").toFile())
        .redirectError(dir.resolve("err.txt").toFile()).start();
    await().atMost(Duration.ofSeconds(30)).until(() -> Files.readString(dir.resolve("out.txt")).contains("listener mx"));

    List<String> bodies = bodies();
    try (LabSmtpClient c = LabSmtpClient.connect(new InetSocketAddress("127.0.0.1", port), null, Duration.ofSeconds(10))) {
      c.command("EHLO newest.test");
      for (String body : bodies) {
        assertThat(c.send("a@internet.example", "b@corp.example", body).code()).as("stderr:%n%s", err()).isEqualTo(250);
      }
    }
    List<String> received = new ArrayList<>();
    for (RecordingSmtpBackend.Message m : backend.messages().values()) {
      assertThat(m.cleanWire()).isTrue();
      received.add(new String(m.body(), StandardCharsets.ISO_8859_1)); // as LabSmtpClient writes it
    }
    List<String> sent = bodies.stream().map(b -> b.replace("\n", "\r\n") + "\r\n").toList();
    assertThat(received).containsExactlyInAnyOrderElementsOf(sent);
    assertThat(err()).doesNotContain("unexpected error");
  }

  /** Bodies that take every path of the body search: long lines, dots, empty lines, 8-bit text. */
  private static List<String> bodies() {
    String longLine = "x".repeat(200);
    StringBuilder big = new StringBuilder("Subject: big\n\n");
    for (int i = 0; i < 2000; i++) {
      big.append(i % 50 == 0 ? "." : "").append("line ").append(i).append(' ').append("y".repeat(70)).append('\n');
    }
    return List.of(
        "Subject: short\n\nhello",
        "Subject: long lines\n\n" + longLine + "\n" + longLine + "\n",
        "Subject: dots\n\n.\n..\n.hidden\nend",
        "Subject: blank lines\n\n\n\n\nafter",
        "Subject: 8-bit\n\nGrüße aus Köln, ça va, naïve café",
        big.toString());
  }

  private String launcherOutput(Path javaHome, String what) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(LauncherTest.LAUNCHER.toString());
    pb.environment().put("JAVA_HOME", javaHome.toString());
    pb.environment().put(what, "1");
    Process p = pb.start();
    assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
    return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
  }

  private String err() throws IOException {
    return Files.readString(dir.resolve("err.txt"));
  }
}
