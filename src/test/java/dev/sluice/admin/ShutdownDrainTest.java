package dev.sluice.admin;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.testing.AdminClient;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** The admin endpoint stays up while a shutdown drains sessions, so the drain can be watched. */
class ShutdownDrainTest extends AdminTestBase {
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  @Test
  void theDrainCanBeWatchedAndReloadsAreRefusedMeanwhile() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    SluiceFixture f = sluice(yaml("", SMTP_LISTENER, a));
    AdminClient admin = admin(f);
    CompletableFuture<Void> stopped;
    try (LabSmtpClient c = LabSmtpClient.connect(f.address("l"), client(90), TIMEOUT)) {
      c.command("EHLO still.here");
      stopped = CompletableFuture.runAsync(() -> f.server().shutdown(Duration.ofSeconds(30)));
      await().atMost(TIMEOUT).untilAsserted(() -> {
        JsonNode state = new ObjectMapper().readTree(admin.get("/api/state").body());
        assertThat(state.get("stopping").asBoolean()).isTrue();
        assertThat(state.get("listeners").get(0).get("activeSessions").asInt()).isEqualTo(1);
      });
      var reload = admin.post("/api/reload");
      assertThat(reload.statusCode()).isEqualTo(422);
      assertThat(reload.body()).contains("shutting down");
      assertThat(stopped).isNotDone();
      assertThat(c.command("MAIL FROM:<a@internet.example>").code()).isEqualTo(421); // the drain's answer
    }
    stopped.get(TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS); // the last session has ended
    assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> admin.get("/api/state"))).isNotNull();
  }
}
