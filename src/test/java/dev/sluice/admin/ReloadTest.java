package dev.sluice.admin;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.balance.Backend;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.SluiceConfig;
import dev.sluice.health.ProbeTarget;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.AdminClient;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.SluiceFixture;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** POST /api/reload under traffic: valid reloads take effect, an invalid one changes nothing, no client sees an error. */
class ReloadTest extends AdminTestBase {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  static final ObjectMapper JSON = new ObjectMapper();

  /** A config: pool {@code p} with {@code backends} ("name:weight"), listeners l (smtp) and t (tcp), plus {@code extra}. */
  static String config(List<EmbeddedSmtpServer> all, List<String> backends, String algorithm, String extra) {
    StringBuilder y = new StringBuilder("admin:\n  listen: 127.0.0.1:0\n");
    y.append("health:\n  deep:\n    steps: [connect, banner, ehlo, mail_from, quit]\n    mail_from: probe@internet.example\n"
        + "    interval: 60s\n    timeout: 5s\n");
    y.append("pools:\n  p:\n    algorithm: ").append(algorithm).append("\n    backends:\n");
    for (String spec : backends) {
      String[] f = spec.split(":");
      EmbeddedSmtpServer s = all.stream().filter(x -> x.name().equals(f[0])).findFirst().orElseThrow();
      y.append("      - { name: ").append(s.name()).append(", address: 127.0.0.1:").append(s.port())
          .append(", weight: ").append(f[1]).append(" }\n");
    }
    y.append("listeners:\n").append(SMTP_LISTENER).append(TCP_LISTENER).append(extra);
    return y.toString();
  }

  @Test
  void tenReloadsUnderTrafficFromTwentyClients() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b"), c = backend("c");
    List<EmbeddedSmtpServer> all = List.of(a, b, c);
    AtomicReference<String> yaml = new AtomicReference<>(config(all, List.of("a:1", "b:1"), "round_robin", ""));
    SluiceFixture f = sluice(yaml.get());
    f.server().configSource(() -> ConfigLoader.parse(yaml.get(), "reload.yaml"));
    AdminClient admin = admin(f);
    InetSocketAddress smtp = f.address("l"), tcp = f.address("t");

    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong sent = new AtomicLong();
    Queue<String> errors = new ConcurrentLinkedQueue<>();
    ExecutorService clients = Executors.newFixedThreadPool(20);
    List<Future<?>> running = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      InetSocketAddress target = i % 2 == 0 ? smtp : tcp;
      int n = i;
      running.add(clients.submit(() -> {
        while (!stop.get()) {
          try (LabSmtpClient cl = LabSmtpClient.connect(target, client(100 + n), TIMEOUT)) {
            cl.command("EHLO client" + n);
            for (int m = 0; m < 3; m++) {
              int code = cl.send("x@internet.example", "y@corp.example", "message").code();
              if (code != 250) {
                errors.add("client " + n + " got " + code);
              }
              sent.incrementAndGet();
            }
          } catch (Exception e) {
            errors.add("client " + n + ": " + e);
          }
        }
      }));
    }
    try {
      await().atMost(TIMEOUT).until(() -> sent.get() > 40);
      // 1: add backend c.
      yaml.set(config(all, List.of("a:1", "b:1", "c:1"), "round_robin", ""));
      reloadOk(admin, "added backend p/c");
      long cBefore = c.messages();
      await().atMost(TIMEOUT).until(() -> c.messages() > cBefore + 5);
      // 2: weight of a to 3.
      yaml.set(config(all, List.of("a:3", "b:1", "c:1"), "round_robin", ""));
      reloadOk(admin, "backend p/a: weight 1 -> 3");
      assertThat(backend(f, "a").weight()).isEqualTo(3);
      // 3: invalid: nothing changes, the error is reported with its location.
      SluiceConfig before = f.server().config();
      Backend aBefore = backend(f, "a");
      yaml.set(config(all, List.of("a:1"), "fastest", ""));
      HttpResponse<String> bad = admin.post("/api/reload");
      assertThat(bad.statusCode()).isEqualTo(422);
      JsonNode err = JSON.readTree(bad.body());
      assertThat(err.get("ok").asBoolean()).isFalse();
      assertThat(err.get("error").asText()).contains("reload.yaml", "fastest");
      assertThat(f.server().config()).isSameAs(before);
      assertThat(f.server().pools().get("p").backends()).extracting(Backend::name).containsExactly("a", "b", "c");
      assertThat(backend(f, "a")).isSameAs(aBefore);
      assertThat(aBefore.weight()).isEqualTo(3);
      // 4: an admin drain survives the next reloads.
      assertThat(admin.post("/api/pools/p/backends/c/drain").statusCode()).isEqualTo(200);
      // 5: a new listener.
      int port = Loopback.freePort();
      String l2 = "  l2:\n    listen: 127.0.0.1:" + port + "\n    mode: smtp\n    pool: p\n    health: deep\n";
      yaml.set(config(all, List.of("a:3", "b:1", "c:1"), "round_robin", l2));
      reloadOk(admin, "added listener l2 on 127.0.0.1:" + port);
      assertThat(backend(f, "c").adminState()).isEqualTo(Backend.AdminState.DRAINING);
      sendOne(f.address("l2"));
      // 6: the new listener moves to another port.
      int port2 = Loopback.freePort();
      yaml.set(config(all, List.of("a:3", "b:1", "c:1"), "round_robin", l2.replace(":" + port, ":" + port2)));
      reloadOk(admin, "rebound listener l2 on 127.0.0.1:" + port2);
      sendOne(f.address("l2"));
      assertThat(f.address("l2").getPort()).isEqualTo(port2);
      // 7: least connections.
      yaml.set(config(all, List.of("a:3", "b:1", "c:1"), "least_connections", ""));
      reloadOk(admin, "removed listener l2", "pool p: algorithm round_robin -> least_connections");
      // 8: remove backend b.
      yaml.set(config(all, List.of("a:3", "c:1"), "least_connections", ""));
      reloadOk(admin, "removed backend p/b");
      // 9, 10: c back to enabled by the operator, then two unchanged reloads.
      assertThat(admin.post("/api/pools/p/backends/c/enable").statusCode()).isEqualTo(200);
      reloadOk(admin);
      reloadOk(admin);
      long afterReloads = sent.get();
      await().atMost(TIMEOUT).until(() -> sent.get() > afterReloads + 40);
    } finally {
      stop.set(true);
      for (Future<?> r : running) {
        r.get(20, TimeUnit.SECONDS);
      }
      clients.shutdownNow();
    }
    assertThat(errors).isEmpty();
    // b is out of the pool: new sessions never reach it.
    long bAfter = b.messages();
    for (int i = 0; i < 6; i++) {
      sendOne(f.address("l"));
    }
    assertThat(b.messages()).isEqualTo(bAfter);
    assertThat(f.server().listeners()).extracting(l -> l.name()).containsExactly("l", "t");
    assertThat(f.server().health().all()).extracting(t -> t.backend().name()).containsOnly("a", "c");
  }

  /**
   * A gateway keeps its smtp session open across reloads: its next transactions follow the new
   * configuration, so a removed backend gets none and its idle backend sessions are closed, and a
   * rebound listener's open sessions follow too. The transaction in flight during the reload
   * finishes where it started.
   */
  @Test
  void anOpenSessionFollowsTheReloadAtItsNextTransaction() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    List<EmbeddedSmtpServer> all = List.of(a, b);
    int port = Loopback.freePort();
    String l2 = "  l2:\n    listen: 127.0.0.1:" + port + "\n    mode: smtp\n    pool: p\n    health: deep\n";
    AtomicReference<String> yaml = new AtomicReference<>(config(all, List.of("a:1", "b:1"), "round_robin", l2));
    SluiceFixture f = sluice(yaml.get());
    f.server().configSource(() -> ConfigLoader.parse(yaml.get(), "reload.yaml"));
    AdminClient admin = admin(f);
    try (LabSmtpClient gateway = LabSmtpClient.connect(f.address("l"), client(41), TIMEOUT);
        LabSmtpClient onOldPort = LabSmtpClient.connect(f.address("l2"), client(42), TIMEOUT)) {
      gateway.command("EHLO gateway");
      onOldPort.command("EHLO gateway2");
      for (LabSmtpClient c : List.of(gateway, gateway, onOldPort, onOldPort)) { // round robin: both had both
        assertThat(c.send("x@internet.example", "y@corp.example", "before").code()).isEqualTo(250);
      }
      await().atMost(TIMEOUT).until(() -> b.openSessions() == 2); // idle between transactions, kept
      Backend removed = backend(f, "b");
      // A transaction in flight at b: MAIL and RCPT accepted there, DATA after the reload.
      while (true) {
        assertThat(gateway.command("MAIL FROM:<x@internet.example>").code()).isEqualTo(250);
        assertThat(gateway.command("RCPT TO:<y@corp.example>").code()).isEqualTo(250);
        if (removed.active() == 1) {
          break;
        }
        gateway.command("RSET");
      }
      long bBefore = b.messages();

      int port2 = Loopback.freePort();
      yaml.set(config(all, List.of("a:1"), "round_robin", l2.replace(":" + port, ":" + port2)));
      reloadOk(admin, "removed backend p/b", "rebound listener l2 on 127.0.0.1:" + port2);
      assertThat(gateway.command("DATA").code()).isEqualTo(354);
      assertThat(gateway.command("in flight\r\n.").code()).isEqualTo(250);
      assertThat(b.messages()).isEqualTo(bBefore + 1); // finished where it started

      long aBefore = a.messages();
      for (int i = 0; i < 4; i++) {
        assertThat(gateway.send("x@internet.example", "y@corp.example", "after").code()).isEqualTo(250);
        assertThat(onOldPort.send("x@internet.example", "y@corp.example", "after").code()).isEqualTo(250);
      }
      assertThat(b.messages()).isEqualTo(bBefore + 1);
      assertThat(a.messages()).isEqualTo(aBefore + 8);
      await().atMost(TIMEOUT).until(() -> b.openSessions() == 0);
    }
  }

  /** A weight set through the API outlives a reload that rebuilds its backend, until the config's weight changes. */
  @Test
  void anApiWeightSurvivesARebuildUntilTheConfigWeightChanges() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    List<EmbeddedSmtpServer> all = List.of(a, b);
    AtomicReference<String> yaml = new AtomicReference<>(config(all, List.of("a:1", "b:1"), "round_robin", ""));
    SluiceFixture f = sluice(yaml.get());
    f.server().configSource(() -> ConfigLoader.parse(yaml.get(), "reload.yaml"));
    AdminClient admin = admin(f);
    assertThat(admin.put("/api/pools/p/backends/b/weight", "5").statusCode()).isEqualTo(200);
    Backend first = backend(f, "b");

    yaml.set(config(all, List.of("b:1", "a:1"), "round_robin", "")); // b moves: rebuilt
    reloadOk(admin);
    assertThat(backend(f, "b")).isNotSameAs(first);
    assertThat(backend(f, "b").weight()).isEqualTo(5);

    yaml.set(config(all, List.of("b:2", "a:1"), "round_robin", ""));
    reloadOk(admin, "backend p/b: weight 1 -> 2");
    assertThat(backend(f, "b").weight()).isEqualTo(2);
    yaml.set(config(all, List.of("a:1", "b:2"), "round_robin", "")); // rebuilt again: the API weight is gone
    reloadOk(admin);
    assertThat(backend(f, "b").weight()).isEqualTo(2);
  }

  /**
   * A backend's own client_identity changed by a reload rebuilds it: a session opened with the old
   * one (a PROXY header or not, XCLIENT or not) must not carry the next transaction, so the idle
   * one a gateway holds to it is closed and the next transaction there opens a new one.
   */
  @Test
  void aBackendWhoseClientIdentityChangesIsRebuiltAndItsIdleSessionsClosed() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    List<EmbeddedSmtpServer> all = List.of(a, b);
    String plain = config(all, List.of("a:1", "b:1"), "round_robin", "");
    AtomicReference<String> yaml = new AtomicReference<>(plain.replace("{ name: b,", "{ client_identity: none, name: b,"));
    SluiceFixture f = sluice(yaml.get());
    f.server().configSource(() -> ConfigLoader.parse(yaml.get(), "reload.yaml"));
    AdminClient admin = admin(f);
    try (LabSmtpClient gateway = LabSmtpClient.connect(f.address("l"), client(43), TIMEOUT)) {
      gateway.command("EHLO gateway");
      for (int i = 0; i < 2; i++) { // round robin: one each
        assertThat(gateway.send("x@internet.example", "y@corp.example", "before").code()).isEqualTo(250);
      }
      await().atMost(TIMEOUT).until(() -> b.openSessions() == 1);
      Backend first = backend(f, "b");
      long sessionsBefore = b.sessions();

      yaml.set(plain); // b now takes the listener's client_identity
      reloadOk(admin, "backend p/b: client_identity none -> the listener's");
      assertThat(backend(f, "b")).isNotSameAs(first);
      long bBefore = b.messages();
      for (int i = 0; i < 2; i++) {
        assertThat(gateway.send("x@internet.example", "y@corp.example", "after").code()).isEqualTo(250);
      }
      assertThat(b.messages()).isEqualTo(bBefore + 1);
      // The rebuilt backend's first probe, and a new session for the transaction: the old one was
      // not reused (a reused backend gets neither).
      assertThat(b.sessions() - sessionsBefore).isGreaterThanOrEqualTo(2);
      await().atMost(TIMEOUT).until(() -> b.openSessions() == 1);
    }
  }

  /**
   * Lines added above a health profile move it in the file, not its probes: the backends keep their
   * probe targets (rise/fall progress, eligible-since) and nothing is reported. A changed probe
   * setting does start new ones.
   */
  @Test
  void aHealthProfileMovedInTheFileKeepsItsProbes() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    List<EmbeddedSmtpServer> all = List.of(a, b);
    String original = config(all, List.of("a:1", "b:1"), "round_robin", "");
    AtomicReference<String> yaml = new AtomicReference<>(original);
    SluiceFixture f = sluice(yaml.get());
    f.server().configSource(() -> ConfigLoader.parse(yaml.get(), "reload.yaml"));
    AdminClient admin = admin(f);
    List<ProbeTarget> before = f.server().health().all();
    assertThat(before).isNotEmpty();

    // Moved down two lines, and an audit code accepted on it: neither changes how it probes.
    yaml.set("# edge balancer\n\n" + original.replace("    interval: 60s\n", "    interval: 60s\n    acknowledge: [SL012]\n"));
    HttpResponse<String> r = admin.post("/api/reload");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(JSON.readTree(r.body()).get("changes").toString())
        .isEqualTo("[\"health profile deep: acknowledge changed\"]");
    assertThat(f.server().health().all()).containsExactlyElementsOf(before); // the same objects: identity equality

    yaml.set(yaml.get().replace("interval: 60s", "interval: 50s"));
    reloadOk(admin, "health profile deep: interval 1m -> 50s");
    assertThat(f.server().health().all()).hasSameSizeAs(before).noneMatch(before::contains);
  }

  private static Backend backend(SluiceFixture f, String name) {
    return f.server().pools().get("p").backends().stream().filter(b -> b.name().equals(name)).findFirst().orElseThrow();
  }

  private static void reloadOk(AdminClient admin, String... changes) throws Exception {
    HttpResponse<String> r = admin.post("/api/reload");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode body = JSON.readTree(r.body());
    assertThat(body.get("ok").asBoolean()).isTrue();
    List<String> got = new ArrayList<>();
    body.get("changes").forEach(n -> got.add(n.asText()));
    assertThat(got).contains(changes);
  }

  private static void sendOne(InetSocketAddress at) throws Exception {
    try (LabSmtpClient cl = LabSmtpClient.connect(at, client(99), TIMEOUT)) {
      cl.command("EHLO one");
      assertThat(cl.send("x@internet.example", "y@corp.example", "one").code()).isEqualTo(250);
    }
  }
}
