package dev.sluice.admin;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.balance.Backend;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.lab.LabSmtpClient;
import dev.sluice.runtime.SluiceServer;
import dev.sluice.testing.AdminClient;
import dev.sluice.testing.SluiceFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code admin.state_file}: a drain, a disable or an API weight outlives a restart of Sluice, so a
 * server under maintenance does not get mail again because Sluice was restarted meanwhile.
 */
class AdminStateRestartTest extends AdminTestBase {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  @TempDir Path dir;

  String config(Path stateFile, EmbeddedSmtpServer... backends) {
    return yaml("  state_file: " + stateFile + "\n", SMTP_LISTENER, backends);
  }

  static Backend backend(SluiceFixture f, String name) {
    return f.server().backend("p", name);
  }

  @Test
  void aDrainAndAnApiWeightSurviveARestartAndEnableIsRememberedToo() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b"), c = backend("c");
    Path state = dir.resolve("state.json");
    String yaml = config(state, a, b, c);

    SluiceFixture first = SluiceFixture.start(yaml);
    AdminClient admin = admin(first);
    assertThat(admin.post("/api/pools/p/backends/a/drain").statusCode()).isEqualTo(200);
    assertThat(admin.put("/api/pools/p/backends/b/weight", "3").statusCode()).isEqualTo(200);
    assertThat(admin.post("/api/pools/p/backends/c/disable").statusCode()).isEqualTo(200);
    assertThat(admin.post("/api/pools/p/backends/c/enable").statusCode()).isEqualTo(200);
    first.close();

    SluiceFixture second = sluice(yaml);
    assertThat(backend(second, "a").adminState()).isEqualTo(Backend.AdminState.DRAINING);
    assertThat(backend(second, "b").weight()).isEqualTo(3);
    assertThat(backend(second, "c").adminState()).isEqualTo(Backend.AdminState.ENABLED);
    assertThat(second.server().describeState()).containsPattern("a .* draining");
    JsonNode api = AdminApiTest.backendNode(AdminApiTest.json(admin(second).get("/api/state")), "a");
    assertThat(api.get("adminState").asText()).isEqualTo("draining");

    // Mail goes where the restored states say: none to the drained server, b three times c's share.
    long aBefore = a.messages();
    try (LabSmtpClient client = LabSmtpClient.connect(second.address("l"), client(60), TIMEOUT)) {
      client.command("EHLO restart.test");
      for (int i = 0; i < 8; i++) {
        assertThat(client.send("x@internet.example", "y@corp.example", "after restart " + i).code()).isEqualTo(250);
      }
    }
    assertThat(a.messages()).isEqualTo(aBefore);
    assertThat(b.messages() + c.messages()).isEqualTo(8);
    assertThat(b.messages()).isEqualTo(6);
  }

  @Test
  void aChangedConfigWeightReplacesTheSavedApiWeightAndARemovedBackendIsDropped() throws Exception {
    EmbeddedSmtpServer a = backend("a"), b = backend("b");
    Path state = dir.resolve("state.json");
    SluiceFixture first = SluiceFixture.start(config(state, a, b));
    admin(first).put("/api/pools/p/backends/a/weight", "5");
    admin(first).post("/api/pools/p/backends/b/drain");
    first.close();

    // Restarted with a weight of 2 for a in the file, and without b.
    String yaml = config(state, a).replace("address: 127.0.0.1:" + a.port() + " }",
        "address: 127.0.0.1:" + a.port() + ", weight: 2 }");
    SluiceFixture second = sluice(yaml);
    assertThat(backend(second, "a").weight()).isEqualTo(2);
    assertThat(backend(second, "a").adminState()).isEqualTo(Backend.AdminState.ENABLED);
    assertThat(new AdminStateFile(state).read()).isEqualTo(AdminStateFile.Contents.EMPTY);
  }

  @Test
  void anUnreadableStateFileIsSetAsideAndSluiceStartsWithoutIt() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    Path state = dir.resolve("state.json");
    Files.writeString(state, "{ this is not json");
    SluiceFixture f = sluice(config(state, a));
    assertThat(backend(f, "a").adminState()).isEqualTo(Backend.AdminState.ENABLED);
    assertThat(Files.readString(dir.resolve("state.json.unreadable"))).isEqualTo("{ this is not json");
    assertThat(new AdminStateFile(state).read()).isEqualTo(AdminStateFile.Contents.EMPTY); // a fresh, valid file
  }

  @Test
  void aStateFileInADirectoryThatIsNotThereStopsTheStartNamingTheKey() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    Path state = dir.resolve("missing").resolve("state.json");
    assertThatThrownBy(() -> sluice(config(state, a))).isInstanceOf(SluiceServer.StartupException.class)
        .hasMessageContaining("admin.state_file " + state + " cannot be written")
        .hasMessageStartingWith("test.yaml:");
  }

  @Test
  void aChangeThatCannotBeSavedStillAppliesAndTheAnswerSaysItWasNotSaved() throws Exception {
    EmbeddedSmtpServer a = backend("a");
    Path sub = Files.createDirectory(dir.resolve("state"));
    Path state = sub.resolve("state.json");
    SluiceFixture f = sluice(config(state, a));
    Files.delete(state);
    Files.delete(sub);
    JsonNode answer = AdminApiTest.json(admin(f).post("/api/pools/p/backends/a/drain"));
    assertThat(answer.get("adminState").asText()).isEqualTo("draining");
    assertThat(answer.get("stateFileError").asText()).contains("cannot be written", "holds until Sluice restarts");
    assertThat(backend(f, "a").adminState()).isEqualTo(Backend.AdminState.DRAINING);

    Files.createDirectory(sub); // fixed: the next change is saved, with the earlier one
    answer = AdminApiTest.json(admin(f).put("/api/pools/p/backends/a/weight", "2"));
    assertThat(answer.has("stateFileError")).isFalse();
    assertThat(new AdminStateFile(state).read().states()).containsEntry("p/a", Backend.AdminState.DRAINING);
  }
}
