package dev.sluice.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.lab.PostfixInstance;
import java.io.IOException;
import java.nio.file.Files;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Exercises the test harness itself against real Postfix instances and real clients: two
 * instances at once, deliveries counted exactly, maillog client addresses, back pressure, and
 * stop/restart.
 */
@Tag("integration")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PostfixHarnessIT {

  private PostfixInstance a;
  private PostfixInstance b;

  @BeforeAll
  void startTwoInstancesAtOnce() {
    CompletableFuture<PostfixInstance> fa =
        CompletableFuture.supplyAsync(() -> PostfixInstance.builder("pf-a").start());
    CompletableFuture<PostfixInstance> fb =
        CompletableFuture.supplyAsync(
            () -> PostfixInstance.builder("pf-b").address("127.0.0.2").start());
    try {
      a = fa.join();
    } finally {
      b = fb.join();
    }
  }

  @AfterAll
  void closeInstances() {
    try {
      if (a != null) {
        a.close();
      }
    } finally {
      if (b != null) {
        b.close();
      }
    }
  }

  @Test
  @Order(1)
  void bothInstancesRunWithTheirOwnBanner() throws IOException {
    assertThat(a.isRunning()).isTrue();
    assertThat(b.isRunning()).isTrue();
    assertThat(a.banner()).startsWith("220 ").contains("pf-a");
    assertThat(b.banner()).startsWith("220 ").contains("pf-b");
    assertThat(a.directory()).isNotEqualTo(b.directory());
  }

  @Test
  @Order(2)
  void deliversExactlyWhatWasSentAndLogsTheClientAddress() {
    sendAndCheck(a, "127.0.0.11", 21);
    sendAndCheck(b, "127.0.0.12", 31);
  }

  private static void sendAndCheck(PostfixInstance pf, String smtplibSource, int swaksBase) {
    SmtpClients.SmtplibResult r =
        SmtpClients.smtplib(
            pf.address(), pf.port(), smtplibSource, 20, 5, "sender@example.test",
            "user@example.test");
    assertThat(r.accepted()).as(r.output()).isEqualTo(20);
    assertThat(r.total()).isEqualTo(20);

    for (int i = 0; i < 5; i++) {
      String src = "127.0.0." + (swaksBase + i);
      SmtpClients.SwaksResult s =
          SmtpClients.swaks(pf.address(), pf.port(), "swaks@example.test", "user@example.test", src);
      assertThat(s.succeeded()).as(s.transcript()).isTrue();
      assertThat(s.serverReplies()).anySatisfy(line -> assertThat(line).startsWith("250 2.0.0 Ok: queued"));
    }

    pf.awaitQueueEmpty();
    pf.awaitDelivered(25);
    assertThat(pf.deliveredCount()).isEqualTo(25);
    assertThat(pf.deliveredMessageContents())
        .filteredOn(m -> m.contains("sluice smtplib test"))
        .hasSize(20);

    pf.awaitMaillog("client=unknown[" + smtplibSource + "]");
    for (int i = 0; i < 5; i++) {
      pf.awaitMaillog("client=unknown[127.0.0." + (swaksBase + i) + "]");
    }
  }

  @Test
  @Order(3)
  void backPressureDefersOutsideSendersOnly() throws IOException {
    int before = a.deliveredCount();
    a.setBackPressure(true);
    assertThat(a.backPressure()).isTrue();

    // Right after the call returns: outside sender deferred at MAIL FROM ...
    SmtpClients.SwaksResult outside =
        SmtpClients.swaks(a.address(), a.port(), "someone@outside.test", "user@example.test",
            "127.0.0.41");
    assertThat(outside.succeeded()).isFalse();
    assertThat(outside.serverReplies())
        .anySatisfy(
            line -> {
              assertThat(line).startsWith("452 4.3.1 ").endsWith("Insufficient system resources");
              assertThat(PostfixInstance.isBackPressureReply(line)).isTrue();
            });
    SmtpClients.SmtplibResult outsideLib =
        SmtpClients.smtplib(a.address(), a.port(), "127.0.0.42", 3, 3, "x@outside.test",
            "user@example.test");
    assertThat(outsideLib.deferred()).as(outsideLib.output()).isEqualTo(3);
    assertThat(outsideLib.codes()).containsOnly(452);

    // ... while corp.example is still accepted, and the other instance is unaffected.
    SmtpClients.SwaksResult corp =
        SmtpClients.swaks(a.address(), a.port(), "boss@corp.example", "user@example.test",
            "127.0.0.43");
    assertThat(corp.succeeded()).as(corp.transcript()).isTrue();
    assertThat(b.mailFromReply("someone@outside.test")).startsWith("250");

    a.setBackPressure(false);
    assertThat(a.mailFromReply("someone@outside.test")).startsWith("250");
    SmtpClients.SwaksResult again =
        SmtpClients.swaks(a.address(), a.port(), "someone@outside.test", "user@example.test",
            "127.0.0.44");
    assertThat(again.succeeded()).as(again.transcript()).isTrue();

    a.awaitQueueEmpty();
    assertThat(a.awaitDelivered(before + 2)).isEqualTo(before + 2);
    a.awaitMaillog("NOQUEUE: reject: MAIL from unknown[127.0.0.41]: 452 4.3.1 ");
  }

  @Test
  @Order(4)
  void stopsAndRestarts() throws IOException {
    int before = a.deliveredCount();
    a.stop();
    assertThat(a.isRunning()).isFalse();
    assertThatThrownBy(a::banner).isInstanceOf(IOException.class);
    // the other instance keeps running
    assertThat(b.banner()).startsWith("220 ");

    a.start();
    assertThat(a.banner()).startsWith("220 ").contains("pf-a");
    SmtpClients.SwaksResult s =
        SmtpClients.swaks(a.address(), a.port(), "swaks@example.test", "user@example.test",
            "127.0.0.51");
    assertThat(s.succeeded()).as(s.transcript()).isTrue();
    a.awaitQueueEmpty();
    assertThat(a.awaitDelivered(before + 1)).isEqualTo(before + 1);
  }

  @Test
  @Order(5)
  void smtpSourceWrapperDeliversAndTimesItsRun() {
    int before = b.deliveredCount();
    SmtpClients.SmtpSourceResult r = SmtpClients.smtpSource(b.address(), b.port(), 2, 10, 512);
    assertThat(r.succeeded()).as(r.output()).isTrue();
    assertThat(r.messagesPerSecond()).isPositive();
    b.awaitQueueEmpty();
    assertThat(b.awaitDelivered(before + 10)).isEqualTo(before + 10);
  }

  /**
   * A queue file cleanup never finished (a stop while it was writing) is no message: qmgr leaves it
   * alone, so counting it would keep a test waiting for an empty queue that never comes.
   */
  @Test
  @Order(6)
  void anUnfinishedQueueFileIsNotAQueuedMessage() throws IOException {
    java.nio.file.Path orphan = a.directory().resolve("queue").resolve("incoming").resolve("4ZorphanAB12");
    Files.write(orphan, new byte[] {'C'});
    Files.setPosixFilePermissions(orphan, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    try {
      assertThat(a.queuedCount()).isZero();
      a.awaitQueueEmpty(java.time.Duration.ofSeconds(5));
      Files.setPosixFilePermissions(orphan, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
      assertThat(a.queuedCount()).isEqualTo(1); // a finished one is counted
    } finally {
      Files.deleteIfExists(orphan);
    }
  }
}
