package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.Loopback;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sluice run} as a separate process: startup output, SIGTERM drain and exit codes. */
class RunCommandTest {
  @TempDir Path dir;
  EventLoopGroup group;
  EmbeddedSmtpServer backend;
  Process process;

  @BeforeEach
  void setUp() throws Exception {
    group = Transport.NIO.newGroup(1);
    backend = new EmbeddedSmtpServer("b1", null).start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO);
  }

  @AfterEach
  void tearDown() {
    if (process != null) {
      process.destroyForcibly();
    }
    backend.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  Process start(String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectOutput(dir.resolve("out.txt").toFile())
        .redirectError(dir.resolve("err.txt").toFile()).start();
  }

  String out() throws IOException {
    return Files.readString(dir.resolve("out.txt"));
  }

  String err() throws IOException {
    return Files.readString(dir.resolve("err.txt"));
  }

  @Test
  void printsStateAtStartupDrainsOnSigtermAndExitsZero() throws Exception {
    int port = Loopback.freePort();
    Path cfg = dir.resolve("sluice.yaml");
    Files.writeString(cfg, """
        pools:
          hub:
            backends:
              - { name: b1, address: 127.0.0.1:%d }
        listeners:
          relay:
            listen: 127.0.0.1:%d
            mode: tcp
            pool: hub
        """.formatted(backend.port(), port));
    process = start("run", "-c", cfg.toString(), "--grace", "20s");
    await().atMost(Duration.ofSeconds(20)).until(() -> out().contains("b1"));
    assertThat(out()).contains("listener relay").contains("127.0.0.1:" + port).contains("pool hub").contains("UP");

    try (LabSmtpClient inFlight = LabSmtpClient.connect(new InetSocketAddress("127.0.0.1", port), null, Duration.ofSeconds(10))) {
      assertThat(inFlight.banner().code()).isEqualTo(220);
      inFlight.command("EHLO drain.test");
      process.destroy(); // SIGTERM
      // New sessions are refused once Sluice stops accepting ...
      await().atMost(Duration.ofSeconds(10)).until(() -> refused(port));
      // ... while the session in flight finishes its message.
      assertThat(inFlight.send("a@internet.example", "b@corp.example", "Subject: x\n\nbody\n").code()).isEqualTo(250);
    }
    assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(process.exitValue()).isZero();
    assertThat(backend.messages()).isEqualTo(1);
    assertThat(err()).contains("INFO  RunCommand: stopping: no new sessions", "INFO  RunCommand: stopped");
  }

  @Test
  void sigtermUnderLoadDrainsWithOnlyDocumentedRepliesAndLosesNothing() throws Exception {
    int port = Loopback.freePort();
    Path cfg = dir.resolve("load.yaml");
    Files.writeString(cfg, """
        pools: { hub: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { mx: { listen: "127.0.0.1:%d", mode: smtp, pool: hub, hostname: mx.test } }
        """.formatted(backend.port(), port));
    process = start("run", "-c", cfg.toString(), "--grace", "15s");
    await().atMost(Duration.ofSeconds(20)).until(() -> out().contains("listener mx"));
    java.util.concurrent.atomic.AtomicInteger accepted = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger drained = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger refusedConnections = new java.util.concurrent.atomic.AtomicInteger();
    List<String> unexpected = new java.util.concurrent.CopyOnWriteArrayList<>();
    InetSocketAddress at = new InetSocketAddress("127.0.0.1", port);
    List<Thread> clients = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      Thread t = new Thread(() -> {
        while (true) {
          LabSmtpClient c;
          try {
            c = LabSmtpClient.connect(at, null, Duration.ofSeconds(20));
          } catch (IOException e) {
            refusedConnections.incrementAndGet(); // Sluice stopped accepting: the documented end
            return;
          }
          try (c) {
            c.command("EHLO load.test");
            for (int m = 0; m < 5; m++) {
              var r = c.send("a@internet.example", "b@corp.example", "Subject: load\n\nhello\n");
              if (r.isPositive()) {
                accepted.incrementAndGet();
              } else if (r.code() == 421) {
                drained.incrementAndGet();
                return;
              } else {
                unexpected.add(r.toString());
              }
            }
          } catch (IOException e) {
            unexpected.add(e.toString());
            return;
          }
        }
      });
      clients.add(t);
      t.start();
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> accepted.get() >= 50);
    process.destroy(); // SIGTERM under load
    assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(process.exitValue()).isZero();
    for (Thread t : clients) {
      t.join(30_000);
    }
    assertThat(unexpected).as("replies other than 250, a drain 421 or a refused connection").isEmpty();
    assertThat(drained.get() + refusedConnections.get()).isGreaterThan(0);
    assertThat(backend.messages()).as("delivered == accepted").isEqualTo(accepted.get());
  }

  private static boolean refused(int port) {
    try (Socket s = new Socket("127.0.0.1", port)) {
      return false;
    } catch (ConnectException e) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  @Test
  void badConfigExitsTwoWithLocationAndNoStackTrace() throws Exception {
    String err = runExpectingExitTwo("bad.yaml",
        "pools:\n  hub:\n    algoritm: round_robin\n    backends: [127.0.0.1:25]\nlisteners: {}\n");
    assertThat(err).contains("bad.yaml:3:5").contains("algorithm").doesNotContain("Exception").doesNotContain("\tat ");
  }

  @Test
  void sourceAddressNotOfThisHostExitsTwo() throws Exception {
    String err = runExpectingExitTwo("src.yaml", """
        pools: { hub: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { relay: { listen: "127.0.0.1:0", mode: tcp, pool: hub, source_address: 192.0.2.7 } }
        """.formatted(backend.port()));
    assertThat(err).contains("src.yaml:2:").contains("source_address 192.0.2.7 is not an address of this host");
  }

  @Test
  void listenAddressInUseExitsTwoNamingTheListener() throws Exception {
    try (java.net.ServerSocket busy = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      String err = runExpectingExitTwo("busy.yaml", """
          pools: { hub: { backends: [ "127.0.0.1:%d" ] } }
          listeners: { relay: { listen: "127.0.0.1:%d", mode: tcp, pool: hub } }
          """.formatted(backend.port(), busy.getLocalPort()));
      assertThat(err).contains("listener 'relay' cannot listen on 127.0.0.1:" + busy.getLocalPort()).doesNotContain("\tat ");
    }
  }

  /** The first listener is bound when the second fails: what was started is stopped once, cleanly. */
  @Test
  void secondListenerInUseExitsTwoWithoutAStackTrace() throws Exception {
    try (java.net.ServerSocket busy = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      String err = runExpectingExitTwo("busy2.yaml", """
          pools: { hub: { backends: [ "127.0.0.1:%d" ] } }
          listeners:
            first: { listen: "127.0.0.1:0", mode: smtp, pool: hub, hostname: mx.test }
            second: { listen: "127.0.0.1:%d", mode: tcp, pool: hub }
          """.formatted(backend.port(), busy.getLocalPort()));
      assertThat(err).contains("listener 'second' cannot listen on 127.0.0.1:" + busy.getLocalPort())
          .doesNotContain("\tat ").doesNotContain("Exception");
    }
  }

  @Test
  void sighupReloadsAValidFileAndRefusesABadOneWhileServing() throws Exception {
    int port = Loopback.freePort();
    int second = Loopback.freePort();
    Path cfg = dir.resolve("sluice.yaml");
    String base = """
        pools:
          hub:
            backends:
              - { name: b1, address: 127.0.0.1:%d }
        listeners:
          relay:
            listen: 127.0.0.1:%d
            mode: tcp
            pool: hub
        """.formatted(backend.port(), port);
    Files.writeString(cfg, base);
    process = start("run", "-c", cfg.toString());
    await().atMost(Duration.ofSeconds(20)).until(() -> out().contains("b1"));

    Files.writeString(cfg, base + "  second:\n    listen: 127.0.0.1:" + second + "\n    mode: tcp\n    pool: hub\n");
    hangUp();
    await().atMost(Duration.ofSeconds(20)).until(() -> err().contains("reloaded"));
    assertThat(err()).contains("added listener second on 127.0.0.1:" + second);
    sendThrough(second);

    Files.writeString(cfg, base.replace("mode: tcp", "mode: teleport"));
    hangUp();
    await().atMost(Duration.ofSeconds(20)).until(() -> err().contains("reload refused"));
    assertThat(err()).contains("sluice.yaml:8:").contains("teleport").doesNotContain("\tat ");
    assertThat(err().split("sluice.yaml:8:", -1)).as("the error, once").hasSize(2);
    sendThrough(port);
    sendThrough(second);
    process.destroy();
    assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(process.exitValue()).isZero();
  }

  @Test
  void aDrainMadeWithCurlOutlivesARestartWithAStateFile() throws Exception {
    EmbeddedSmtpServer b2 = new EmbeddedSmtpServer("b2", null).start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO);
    try {
      int port = Loopback.freePort();
      int adminPort = Loopback.freePort();
      Path cfg = dir.resolve("sluice.yaml");
      Files.writeString(cfg, """
          admin:
            listen: 127.0.0.1:%d
            state_file: state/sluice-state.json
          pools:
            hub:
              backends:
                - { name: b1, address: 127.0.0.1:%d }
                - { name: b2, address: 127.0.0.1:%d }
          listeners:
            mx:
              listen: 127.0.0.1:%d
              mode: smtp
              pool: hub
          """.formatted(adminPort, backend.port(), b2.port(), port));
      Files.createDirectory(dir.resolve("state")); // relative to the config file
      process = start("run", "-c", cfg.toString());
      await().atMost(Duration.ofSeconds(20)).until(() -> out().contains("b2"));
      assertThat(curl("-X", "POST", "http://127.0.0.1:" + adminPort + "/api/pools/hub/backends/b1/drain"))
          .contains("\"adminState\":\"draining\"");
      process.destroy();
      assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
      assertThat(Files.readString(dir.resolve("state/sluice-state.json"))).contains("\"backend\" : \"b1\"", "draining");

      process = start("run", "-c", cfg.toString());
      await().atMost(Duration.ofSeconds(20)).until(() -> out().contains("b2"));
      assertThat(out()).containsPattern("b1 .* draining");
      assertThat(err()).contains("restored from " + dir.resolve("state/sluice-state.json") + ": hub/b1 draining");
      assertThat(curl("http://127.0.0.1:" + adminPort + "/api/state")).contains("\"adminState\":\"draining\"");
      long b1Before = backend.messages();
      for (int i = 0; i < 4; i++) {
        sendThrough(port);
      }
      assertThat(backend.messages()).isEqualTo(b1Before);
      assertThat(b2.messages()).isEqualTo(4);
    } finally {
      b2.close();
    }
  }

  /** What curl prints for {@code args} (a real HTTP client, as operators drive the API). */
  private static String curl(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("curl", "-sS", "--max-time", "10"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("curl %s: %s", args, out).isZero();
    return out;
  }

  @Test
  void adminOffLoopbackWithoutATokenExitsTwo() throws Exception {
    String err = runExpectingExitTwo("admin.yaml", """
        admin: { listen: "0.0.0.0:0" }
        pools: { hub: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { relay: { listen: "127.0.0.1:0", mode: tcp, pool: hub } }
        """.formatted(backend.port()));
    assertThat(err).contains("admin.yaml:1:").contains("is not a loopback address").contains("token_file");
  }

  /** Writes {@code yaml} to {@code file}, runs {@code sluice run} on it, expects exit 2; returns stderr. */
  private String runExpectingExitTwo(String file, String yaml) throws Exception {
    Path cfg = dir.resolve(file);
    Files.writeString(cfg, yaml);
    process = start("run", "-c", cfg.toString());
    assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
    assertThat(process.exitValue()).as("exit status; stderr:%n%s", err()).isEqualTo(2);
    return err();
  }

  /** Under nohup the JVM inherits SIGHUP ignored: Sluice says that kill -HUP will not reload. */
  @Test
  void underNohupSighupIsIgnoredAndSluiceSaysSo() throws Exception {
    int port = Loopback.freePort();
    Path cfg = dir.resolve("nohup.yaml");
    Files.writeString(cfg, """
        pools: { hub: { backends: [ "127.0.0.1:%d" ] } }
        listeners: { relay: { listen: "127.0.0.1:%d", mode: tcp, pool: hub } }
        """.formatted(backend.port(), port));
    List<String> cmd = new ArrayList<>(List.of("nohup", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName(), "run", "-c", cfg.toString()));
    process = new ProcessBuilder(cmd).redirectOutput(dir.resolve("out.txt").toFile())
        .redirectError(dir.resolve("err.txt").toFile()).start();
    await().atMost(Duration.ofSeconds(20)).until(() -> err().contains("SIGHUP is ignored"));
    assertThat(err()).contains("POST /api/reload");
    process.destroy();
    assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
  }

  private void hangUp() throws Exception {
    assertThat(new ProcessBuilder("kill", "-HUP", Long.toString(process.pid())).start().waitFor()).isZero();
  }

  private void sendThrough(int port) throws Exception {
    try (LabSmtpClient c = LabSmtpClient.connect(new InetSocketAddress("127.0.0.1", port), null, Duration.ofSeconds(10))) {
      c.command("EHLO reload.test");
      assertThat(c.send("a@internet.example", "b@corp.example", "Subject: x\n\nbody\n").code()).isEqualTo(250);
    }
  }
}
