package dev.sluice.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.config.ConfigLoader;
import dev.sluice.testing.PrometheusText;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A running Sluice says what {@code sluice audit} would: the seed's open-relay layout (an internet
 * and a relay listener reaching the same server from the same address) is logged at start with its
 * location and fix, and counted in {@code sluice_audit_findings}; a reload that acknowledges it
 * clears the count.
 */
class RunAuditTest {
  final ListAppender<ILoggingEvent> logged = new ListAppender<>();
  final Logger serverLog = (Logger) LoggerFactory.getLogger(SluiceServer.class);
  ScriptedPeer backend;
  SluiceFixture sluice;

  String config(String internetExtra) {
    return """
        pools:
          hub: { backends: [ "127.0.0.1:%d" ] }
        listeners:
          internet: { listen: "127.0.0.1:0", mode: smtp, pool: hub%s }
          relay: { listen: "127.0.0.2:0", mode: tcp, pool: hub, trust: internal, allow: [127.0.0.0/8] }
        """.formatted(backend.port(), internetExtra);
  }

  @BeforeEach
  void start() throws Exception {
    logged.start();
    serverLog.addAppender(logged);
    backend = new ScriptedPeer(c -> {
      c.say("220 scripted ESMTP");
      c.serveRest();
    });
  }

  @AfterEach
  void stop() throws Exception {
    serverLog.detachAppender(logged);
    if (sluice != null) {
      sluice.close();
    }
    backend.close();
  }

  @Test
  void anOpenRelayLayoutIsLoggedAndCountedUntilAcknowledged() throws Exception {
    sluice = SluiceFixture.start(config(""));
    assertThat(logged.list).anySatisfy(e -> assertThat(e.getFormattedMessage())
        .startsWith("audit SL001 ERROR ").contains("'internet'", "'relay'", "fix: "));
    assertThat(findings("error")).isEqualTo(1);

    AtomicReference<String> yaml = new AtomicReference<>(config(", acknowledge: [SL001]"));
    sluice.server().configSource(() -> ConfigLoader.parse(yaml.get(), "reload.yaml"));
    logged.list.clear();
    assertThat(sluice.server().reload().ok()).isTrue();
    assertThat(findings("error")).isZero();
    assertThat(logged.list).noneMatch(e -> e.getFormattedMessage().startsWith("audit SL001"));
  }

  @Test
  void theLabTurnsTheRunTimeAuditOff() throws Exception {
    // Its layouts are the seed's mistakes on purpose: the audit would only repeat the lesson.
    sluice = SluiceFixture.start(config(""), s -> s.auditAtRun(false));
    assertThat(logged.list).noneMatch(e -> e.getFormattedMessage().startsWith("audit "));
    assertThat(findings("error")).isZero();
  }

  @Test
  void aRefusedReloadLeavesTheCountsAndLogsNothingOfTheRefusedFile() throws Exception {
    sluice = SluiceFixture.start(config(", acknowledge: [SL001, SL099]"));
    // Acknowledged: neither logged nor counted; the unused SL099 entry is an INFO, counted only.
    assertThat(logged.list).noneMatch(e -> e.getFormattedMessage().matches("audit SL0(01|22) .*"));
    assertThat(findings("error")).isZero();
    double warnings = findings("warning");
    double notes = findings("info");
    assertThat(notes).isPositive();

    logged.list.clear();
    // The open relay again, with a listener that cannot bind (192.0.2.1 is no address of this host).
    AtomicReference<String> yaml = new AtomicReference<>(config("")
        + "  extra: { listen: \"192.0.2.1:0\", pool: hub }\n");
    sluice.server().configSource(() -> ConfigLoader.parse(yaml.get(), "refused.yaml"));
    assertThat(sluice.server().reload().ok()).isFalse();
    assertThat(logged.list).noneMatch(e -> e.getFormattedMessage().startsWith("audit "));
    assertThat(findings("error")).isZero();
    assertThat(findings("warning")).isEqualTo(warnings);
    assertThat(findings("info")).isEqualTo(notes);
  }

  double findings(String severity) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    sluice.server().metrics().write(out);
    return PrometheusText.parse(out.toString(StandardCharsets.UTF_8)).sum("sluice_audit_findings", "severity", severity);
  }
}
