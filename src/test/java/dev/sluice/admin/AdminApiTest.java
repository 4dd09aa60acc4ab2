package dev.sluice.admin;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.balance.Backend;
import dev.sluice.config.ConfigLoader;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.SluiceServer;
import dev.sluice.testing.AdminClient;
import dev.sluice.testing.SluiceFixture;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The JSON admin API over real HTTP: state, drain/enable/disable, weight, token. */
class AdminApiTest extends AdminTestBase {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path dir;

  static JsonNode json(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body());
  }

  static JsonNode backendNode(JsonNode state, String name) {
    for (JsonNode b : state.get("pools").get(0).get("backends")) {
      if (b.get("name").asText().equals(name)) {
        return b;
      }
    }
    throw new AssertionError("no backend " + name + " in " + state);
  }

  @Test
  void stateShowsListenersPoolsBackendsAndTheLastProbeDialogue() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    // b sets a client_identity of its own, which the state shows; a takes the listener's.
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a, b).replace("{ name: b,", "{ client_identity: none, name: b,"));
    HttpResponse<String> r = admin(f).get("/api/state");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json; charset=utf-8");
    JsonNode s = json(r);
    JsonNode l = s.get("listeners").get(0);
    assertThat(l.get("name").asText()).isEqualTo("l");
    assertThat(l.get("mode").asText()).isEqualTo("smtp");
    assertThat(l.get("trust").asText()).isEqualTo("external");
    assertThat(l.get("clientIdentity").asText()).isEqualTo("none");
    assertThat(l.get("pool").asText()).isEqualTo("p");
    assertThat(l.get("activeSessions").asInt()).isZero();
    JsonNode ba = backendNode(s, "a");
    assertThat(ba.get("weight").asInt()).isEqualTo(1);
    assertThat(ba.has("clientIdentity")).isFalse();
    assertThat(backendNode(s, "b").get("clientIdentity").asText()).isEqualTo("none");
    assertThat(ba.get("effectiveWeight").get("l").asDouble()).isEqualTo(1.0);
    assertThat(ba.get("adminState").asText()).isEqualTo("enabled");
    assertThat(ba.get("active").asInt()).isZero();
    assertThat(ba.get("counters").get("messagesTotal").asLong()).isZero();
    JsonNode h = ba.get("health").get(0);
    assertThat(h.get("profile").asText()).isEqualTo("deep");
    assertThat(h.get("state").asText()).isEqualTo("UP");
    assertThat(h.get("lastProbe").get("outcome").asText()).isEqualTo("ok");
    assertThat(h.get("lastProbe").get("transcript").toString()).contains("MAIL FROM:<probe@internet.example>");
  }

  @Test
  void weightTakesAnObjectOrAPlainNumberAndRefusesAnythingElse() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a));
    AdminClient admin = admin(f);
    assertThat(admin.put("/api/pools/p/backends/a/weight", "{\"weight\": 3}").statusCode()).isEqualTo(200);
    assertThat(backendNode(json(admin.get("/api/state")), "a").get("weight").asInt()).isEqualTo(3);
    HttpResponse<String> plain = admin.put("/api/pools/p/backends/a/weight", "5");
    assertThat(json(plain).get("weight").asInt()).isEqualTo(5);
    assertThat(f.server().pools().get("p").backends().get(0).weight()).isEqualTo(5);
    assertThat(admin.put("/api/pools/p/backends/a/weight", "-1").statusCode()).isEqualTo(400);
    assertThat(admin.put("/api/pools/p/backends/a/weight", "{\"w\": 1}").statusCode()).isEqualTo(400);
    assertThat(admin.put("/api/pools/p/backends/zz/weight", "1").statusCode()).isEqualTo(404);
    assertThat(admin.post("/api/pools/p/backends/a/weight").statusCode()).isEqualTo(405);
    assertThat(admin.get("/api/pools/p/backends/a/drain").statusCode()).isEqualTo(405);
    assertThat(admin.get("/api/nothing").statusCode()).isEqualTo(404);
  }

  /**
   * A weight set through the API outlives reloads, but the audit reads only the file: the state
   * shows both weights, and the running tier's new shares are logged.
   */
  @Test
  void theStateShowsAWeightSetThroughTheApiNextToTheConfigurations() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    java.util.List<String> changes = new java.util.concurrent.CopyOnWriteArrayList<>();
    SluiceFixture f = SluiceFixture.start(yaml("", SMTP_LISTENER, a, b), new dev.sluice.proxy.SessionObserver() {
      @Override
      public void backendStateChanged(String listener, dev.sluice.balance.Backend backend, String text) {
        changes.add(listener + " " + backend.name() + ": " + text);
      }
    });
    toClose.add(f);
    AdminClient admin = admin(f);
    assertThat(admin.put("/api/pools/p/backends/a/weight", "3").statusCode()).isEqualTo(200);
    JsonNode state = json(admin.get("/api/state"));
    assertThat(backendNode(state, "a").get("weight").asInt()).isEqualTo(3);
    assertThat(backendNode(state, "a").get("configWeight").asInt()).isEqualTo(1);
    assertThat(backendNode(state, "b").get("configWeight").asInt()).isEqualTo(1);
    assertThat(changes).containsExactly("l a: weight 1 -> 3 (admin API); its tier now expects a 75% (3/4), b 25% (1/4)");
  }

  @Test
  void aMalformedUriIsTheClientsError() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a));
    // Java's HTTP client refuses to send "/%zz", so a raw socket does.
    try (Socket s = new Socket()) {
      s.connect(f.server().admin().boundAddress(), 5000);
      s.setSoTimeout(5000);
      s.getOutputStream().write("GET /%zz HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      String reply = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(reply).startsWith("HTTP/1.1 400 ").contains("malformed URI");
    }
    assertThat(admin(f).get("/api/state").statusCode()).isEqualTo(200);
  }

  @Test
  void drainStopsNewTransactionsLetsTheOneInFlightFinishAndEnableBringsItBack() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a, b));
    AdminClient admin = admin(f);
    try (LabSmtpClient inFlight = LabSmtpClient.connect(f.address("l"), client(90), TIMEOUT);
        LabSmtpClient other = LabSmtpClient.connect(f.address("l"), client(91), TIMEOUT)) {
      inFlight.command("EHLO inflight");
      other.command("EHLO other");
      assertThat(inFlight.command("MAIL FROM:<x@internet.example>").code()).isEqualTo(250);
      assertThat(inFlight.command("RCPT TO:<y@corp.example>").code()).isEqualTo(250); // (the MAIL goes with it)
      // The backend holding the open transaction is the one to drain.
      Backend busy = f.server().pools().get("p").backends().stream().filter(x -> x.active() == 1).findFirst().orElseThrow();
      EmbeddedSmtpServer drained = busy.name().equals("a") ? a : b;
      EmbeddedSmtpServer kept = drained == a ? b : a;
      long drainedBefore = drained.messages();
      HttpResponse<String> r = admin.post("/api/pools/p/backends/" + busy.name() + "/drain");
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(json(r).get("adminState").asText()).isEqualTo("draining");
      assertThat(json(r).get("effectiveWeight").get("l").asDouble()).isZero();

      // The transaction in flight completes on the drained backend.
      assertThat(inFlight.command("DATA").code()).isEqualTo(354);
      assertThat(inFlight.command("Subject: in flight\r\n\r\nbody\r\n.").code()).isEqualTo(250);
      assertThat(drained.messages()).isEqualTo(drainedBefore + 1);

      // Nothing new goes there: not the next transaction of the same session, not a new session.
      long keptBefore = kept.messages();
      for (int i = 0; i < 5; i++) {
        assertThat(inFlight.send("x@internet.example", "y@corp.example", "after drain " + i).code()).isEqualTo(250);
        assertThat(other.send("x@internet.example", "y@corp.example", "after drain " + i).code()).isEqualTo(250);
      }
      try (LabSmtpClient fresh = LabSmtpClient.connect(f.address("l"), client(92), TIMEOUT)) {
        fresh.command("EHLO fresh");
        assertThat(fresh.send("x@internet.example", "y@corp.example", "new session").code()).isEqualTo(250);
      }
      assertThat(drained.messages()).isEqualTo(drainedBefore + 1);
      assertThat(kept.messages()).isEqualTo(keptBefore + 11);

      assertThat(json(admin.post("/api/pools/p/backends/" + busy.name() + "/disable")).get("adminState").asText())
          .isEqualTo("disabled");
      assertThat(json(admin.post("/api/pools/p/backends/" + busy.name() + "/enable")).get("adminState").asText())
          .isEqualTo("enabled");
      for (int i = 0; i < 6; i++) {
        assertThat(other.send("x@internet.example", "y@corp.example", "after enable " + i).code()).isEqualTo(250);
      }
      assertThat(drained.messages()).isGreaterThan(drainedBefore + 1);
    }
  }

  @Test
  void aConfiguredTokenIsRequiredForTheApiAndMetrics() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    Path token = dir.resolve("admin.token");
    Files.writeString(token, "s3cret-token\n");
    SluiceFixture f = sluice(yaml("  token_file: " + token + "\n", SMTP_LISTENER, a));
    AdminClient anonymous = admin(f);
    assertThat(anonymous.get("/api/state").statusCode()).isEqualTo(401);
    assertThat(anonymous.get("/metrics").statusCode()).isEqualTo(401);
    assertThat(new AdminClient(f.server().admin().boundAddress(), "wrong").get("/api/state").statusCode()).isEqualTo(401);
    AdminClient authorized = new AdminClient(f.server().admin().boundAddress(), "s3cret-token");
    assertThat(authorized.get("/api/state").statusCode()).isEqualTo(200);
    assertThat(authorized.post("/api/pools/p/backends/a/drain").statusCode()).isEqualTo(200);
    assertThat(authorized.get("/metrics").statusCode()).isEqualTo(200);
    assertThat(anonymous.get("/").statusCode()).isEqualTo(200); // the page itself; it asks for the token
  }

  @Test
  void refusesToStartOnANonLoopbackAddressWithoutAToken() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceServer s = new SluiceServer(ConfigLoader.parse(yaml("", SMTP_LISTENER, a).replace("listen: 127.0.0.1:0\nhealth",
        "listen: 0.0.0.0:0\nhealth"), "test.yaml"));
    try {
      assertThatThrownBy(s::start).isInstanceOf(SluiceServer.StartupException.class)
          .hasMessageContaining("admin.listen 0.0.0.0:0 is not a loopback address")
          .hasMessageContaining("token_file");
    } finally {
      s.close();
    }
  }
}
