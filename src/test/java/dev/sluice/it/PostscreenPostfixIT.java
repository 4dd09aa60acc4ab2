package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SwaksResult;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * docs/deployment.md's postscreen recipe against a real postscreen(8): a postscreen service with
 * {@code postscreen_upstream_proxy_protocol = haproxy} behind Sluice ({@code client_identity:
 * proxy_v2}), its access list permitting only the address Sluice's probes name. postscreen judges
 * each real client, the probes pass, and its pregreet test, set to refuse, never fires: an smtp
 * listener speaks only after the server's greeting, and a tcp listener holds what a client sends
 * early until the greeting has arrived.
 */
@Tag("integration")
class PostscreenPostfixIT {
  static PostfixInstance pf;
  static SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    int screenPort = Loopback.freePort();
    pf = PostfixInstance.builder("pscreen").mynetworks("127.0.0.254/32")
        .mainCf("postscreen_access_list", "permit_mynetworks, cidr:$config_directory/postscreen_access.cidr")
        // A client that speaks before the greeting is refused (the default only logs it).
        .mainCf("postscreen_greet_action", "enforce")
        .mainCf("postscreen_greet_wait", "2s")
        .postscreenListener(screenPort, Map.of("postscreen_upstream_proxy_protocol", "haproxy"))
        .build();
    // Sluice's probes name their own source address (127.0.0.1 here) in their PROXY header.
    Files.writeString(pf.configDirectory().resolve("postscreen_access.cidr"), "127.0.0.1 permit\n");
    pf.start();
    sluice = SluiceFixture.start("""
        health:
          basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 3s }
        pools:
          screened: { backends: [ "%s:%d" ] }
        listeners:
          mx: { listen: "127.0.0.1:0", mode: smtp, pool: screened, health: basic, client_identity: proxy_v2 }
          raw: { listen: "127.0.0.1:0", mode: tcp, pool: screened, health: basic, client_identity: proxy_v2 }
        """.formatted(pf.address(), screenPort));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (pf != null) {
      pf.close();
    }
  }

  @Test
  void postscreenJudgesTheRealClientAndTheProbesPass() throws Exception {
    int before = pf.deliveredCount();
    SwaksResult r = SmtpClients.swaks("127.0.0.1", sluice.address("mx").getPort(), "a@internet.example",
        "user@example.test", "127.0.0.85");
    assertThat(r.succeeded()).as(r.transcript()).isTrue();
    assertThat(pf.awaitDelivered(before + 1)).isEqualTo(before + 1);
    assertThat(pf.awaitMaillog("PASS NEW [127.0.0.85]")).contains("postscreen");
    assertThat(pf.maillog()).anyMatch(l -> l.contains("CONNECT from [127.0.0.85]"));
    // The probes are on the access list, so never held behind the greet wait.
    assertThat(pf.maillog()).anyMatch(l -> l.contains("WHITELISTED [127.0.0.1]") || l.contains("ALLOWLISTED [127.0.0.1]"));
    assertThat(pf.maillog()).noneMatch(l -> l.contains("PREGREET"));
  }

  @Test
  void aClientThatSpeaksFirstThroughATcpListenerIsNotTakenForABot() throws Exception {
    int before = pf.deliveredCount();
    try (RawSmtpClient c = RawSmtpClient.connect(sluice.address("raw"), "127.0.0.86")) {
      // EHLO before any greeting: Sluice holds it until postscreen's full greeting has arrived.
      c.send("EHLO early.test\r\n");
      assertThat(c.reply()).startsWith("220 ");
      c.expect("250");
      c.send("MAIL FROM:<a@internet.example>\r\n").expect("250");
      c.send("RCPT TO:<user@example.test>\r\n").expect("250");
      c.send("DATA\r\n").expect("354");
      c.send("Subject: early\r\n\r\nhello\r\n.\r\nQUIT\r\n");
      c.expect("250");
    }
    assertThat(pf.awaitDelivered(before + 1)).isEqualTo(before + 1);
    assertThat(pf.awaitMaillog("PASS NEW [127.0.0.86]")).contains("postscreen");
    List<String> log = pf.maillog();
    assertThat(log).noneMatch(l -> l.contains("PREGREET"));
  }
}
