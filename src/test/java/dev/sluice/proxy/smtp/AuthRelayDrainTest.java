package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.balance.Backend;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An authenticated session is bound to the backend that checked its credentials, so balancing
 * cannot move its transactions. When the operator drains or disables that backend, the session is
 * asked to reconnect ({@code 421}) at a transaction boundary: at once when it is between
 * transactions, after its message when one is in flight. Without this a connected submission
 * client would keep the backend busy and the drain would never end.
 */
class AuthRelayDrainTest {
  static final String CREDENTIALS = "AGJvYgBzZWNyZXQ="; // what AuthRelayTest.authServer accepts
  final AtomicInteger one = new AtomicInteger();
  final AtomicInteger two = new AtomicInteger();
  ScriptedPeer a;
  ScriptedPeer b;
  SluiceFixture f;

  @BeforeEach
  void start() throws Exception {
    a = AuthRelayTest.authServer("one", one);
    b = AuthRelayTest.authServer("two", two);
    f = SluiceFixture.start(config(false));
  }

  /** The pool of both servers; {@code swapped}: listed the other way round. */
  String config(boolean swapped) {
    String first = "      - { name: one, address: \"127.0.0.1:" + a.port() + "\" }\n";
    String second = "      - { name: two, address: \"127.0.0.1:" + b.port() + "\" }\n";
    return """
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools:
          p:
            backends:
        %s
        listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
        """.formatted((swapped ? second + first : first + second).stripTrailing());
  }

  @AfterEach
  void stop() throws Exception {
    f.close();
    a.close();
    b.close();
  }

  RawSmtpClient loggedIn() throws IOException {
    RawSmtpClient c = RawSmtpClient.connect(f.address("l"), null);
    c.expect("220");
    c.send("EHLO c.test\r\n").expect("250");
    c.send("AUTH PLAIN " + CREDENTIALS + "\r\n").expect("235");
    return c;
  }

  static void sendMessage(RawSmtpClient c) throws IOException {
    startMessage(c);
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n").expect("250 2.0.0 queued at");
  }

  /** MAIL, RCPT and DATA, pipelined, up to the 354. */
  static void startMessage(RawSmtpClient c) throws IOException {
    c.send("MAIL FROM:<bob@corp.example>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n");
    c.expect("250");
    c.expect("250");
    c.expect("354");
  }

  /** The backend the one message so far went to, by name. */
  String servedBy() {
    assertThat(one.get() + two.get()).isEqualTo(1);
    return one.get() == 1 ? "one" : "two";
  }

  @ParameterizedTest
  @EnumSource(value = Backend.AdminState.class, names = {"DRAINING", "DISABLED"})
  void aSessionBetweenTransactionsIsAskedToLogInAgainElsewhere(Backend.AdminState state) throws Exception {
    try (RawSmtpClient c = loggedIn()) {
      sendMessage(c);
      String first = servedBy();
      assertThat(f.server().setAdminState("p", first, state)).isTrue();
      // Unprompted: the session is idle, and waiting for its next MAIL would hold the backend.
      assertThat(c.reply()).startsWith("421 4.3.2 ").contains("reconnect and log in again");
      assertThatThrownBy(c::reply).isInstanceOf(IOException.class); // closed
    }
    try (RawSmtpClient c = loggedIn()) {
      sendMessage(c);
    }
    assertThat(one.get()).isEqualTo(1);
    assertThat(two.get()).isEqualTo(1); // logged in again, at the other backend
  }

  /**
   * A message in flight when the drain begins finishes on its backend; then the session is asked to
   * go, unprompted, or in answer to the next MAIL FROM when the client pipelined one behind the end
   * of data.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aMessageInFlightFinishesThereAndThenTheSessionIsAskedToGo(boolean mailPipelined) throws Exception {
    try (RawSmtpClient c = loggedIn()) {
      sendMessage(c);
      String first = servedBy();
      startMessage(c);
      c.send("Subject: t\r\n\r\nfirst half\r\n");
      assertThat(f.server().setAdminState("p", first, Backend.AdminState.DRAINING)).isTrue();
      c.send("second half\r\n.\r\n" + (mailPipelined ? "MAIL FROM:<bob@corp.example>\r\n" : ""));
      c.expect("250 2.0.0 queued at " + first); // in flight: it finishes there
      assertThat(c.reply()).startsWith("421 4.3.2 ");
      assertThatThrownBy(c::reply).isInstanceOf(IOException.class);
    }
    // Both on the backend that authenticated the session.
    assertThat(List.of(one.get(), two.get())).containsExactlyInAnyOrder(2, 0);
  }

  /**
   * A reload that rebuilds the backend a session logged in at (here it moves in the pool's list)
   * leaves the session with the backend as it was; draining the rebuilt one still reaches it.
   */
  @org.junit.jupiter.api.Test
  void aSessionThatLoggedInBeforeAReloadRebuiltItsBackendIsAskedToGoToo() throws Exception {
    try (RawSmtpClient c = loggedIn()) {
      sendMessage(c);
      String first = servedBy();
      Backend before = f.server().backend("p", first);
      f.server().configSource(() -> dev.sluice.config.ConfigLoader.parse(config(true), "reload.yaml"));
      assertThat(f.server().reload().ok()).isTrue();
      assertThat(f.server().backend("p", first)).isNotSameAs(before); // rebuilt
      assertThat(f.server().setAdminState("p", first, Backend.AdminState.DRAINING)).isTrue();
      assertThat(c.reply()).startsWith("421 4.3.2 ");
    }
  }
}
