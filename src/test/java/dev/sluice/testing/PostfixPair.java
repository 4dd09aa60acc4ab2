package dev.sluice.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.SmtpClients.SmtplibResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.core.ConditionTimeoutException;

/**
 * Two throwaway Postfix backends and the counting every integration test does on both sides:
 * {@link #mark()} before the traffic, then {@link #assertNothingLost(int)} with what the clients were
 * told was accepted. Close it to stop both.
 */
public final class PostfixPair implements AutoCloseable {
  private final PostfixInstance a;
  private final PostfixInstance b;
  private int baseA;
  private int baseB;
  private Set<Path> filesAtMark = Set.of();

  private PostfixPair(PostfixInstance a, PostfixInstance b) {
    this.a = a;
    this.b = b;
  }

  /** Starts {@code prefix-a} and {@code prefix-b}, each builder adjusted by {@code customize}. */
  public static PostfixPair start(String prefix, UnaryOperator<PostfixInstance.Builder> customize) {
    return start(prefix, customize, customize);
  }

  /** Starts {@code prefix-a} adjusted by {@code customizeA} and {@code prefix-b} by {@code customizeB}. */
  public static PostfixPair start(String prefix, UnaryOperator<PostfixInstance.Builder> customizeA,
      UnaryOperator<PostfixInstance.Builder> customizeB) {
    PostfixInstance a = customizeA.apply(PostfixInstance.builder(prefix + "-a")).build().start();
    try {
      return new PostfixPair(a, customizeB.apply(PostfixInstance.builder(prefix + "-b")).build().start());
    } catch (RuntimeException e) {
      a.close();
      throw e;
    }
  }

  public PostfixInstance a() {
    return a;
  }

  public PostfixInstance b() {
    return b;
  }

  /** Waits for both queues to drain and starts counting deliveries from here. */
  public void mark() {
    a.awaitQueueEmpty();
    b.awaitQueueEmpty();
    baseA = a.deliveredCount();
    baseB = b.deliveredCount();
    Set<Path> files = new HashSet<>(a.deliveredMessages());
    files.addAll(b.deliveredMessages());
    filesAtMark = files;
  }

  public int deliveredA() {
    return a.deliveredCount() - baseA;
  }

  public int deliveredB() {
    return b.deliveredCount() - baseB;
  }

  /** Waits until both backends delivered what clients saw accepted since {@link #mark()}, and asserts equality. */
  public void assertNothingLost(int accepted) {
    await().atMost(Duration.ofSeconds(60)).until(() -> deliveredA() + deliveredB() >= accepted);
    a.awaitQueueEmpty();
    b.awaitQueueEmpty();
    assertThat(deliveredA() + deliveredB()).as("delivered by Postfix == accepted by clients").isEqualTo(accepted);
  }

  /** The {@code Subject} line {@code smtplib_send.py} gives message number N. */
  private static final Pattern SMTPLIB_SUBJECT = Pattern.compile("(?m)^Subject: sluice smtplib test (\\d+)\r?$");

  /**
   * Waits until the queues drain, then checks message by message (by the subject number
   * {@code smtplib_send.py} gives each) that every acceptance in {@code run} was delivered, and
   * that any other delivery is a message whose client got no reply at all. That is SMTP's own
   * lost-reply window (RFC 5321 §6.1): a backend stopped after queueing a message and before its
   * 250 reached the client delivers a message the client saw fail, which no proxy can prevent.
   * A message that got a 4xx or 5xx must never be delivered. On failure the message carries both
   * maillogs' last lines.
   */
  public void assertEveryAcceptanceDelivered(SmtplibResult run) {
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> deliveredA() + deliveredB() >= run.accepted());
      a.awaitQueueEmpty();
      b.awaitQueueEmpty();
    } catch (ConditionTimeoutException e) {
      // Fall through: the comparison below names the missing messages and shows the maillogs.
    }
    Set<Integer> accepted = new TreeSet<>();
    Set<Integer> unanswered = new TreeSet<>();
    for (int i = 0; i < run.codes().size(); i++) {
      int code = run.codes().get(i);
      if (code / 100 == 2) {
        accepted.add(i);
      } else if (code == -1) {
        unanswered.add(i);
      }
    }
    Set<Integer> delivered = new TreeSet<>();
    List<String> unnumbered = new ArrayList<>();
    for (PostfixInstance backend : List.of(a, b)) {
      for (Path file : backend.deliveredMessages()) {
        if (filesAtMark.contains(file)) {
          continue;
        }
        Matcher m = SMTPLIB_SUBJECT.matcher(read(file));
        if (m.find()) {
          delivered.add(Integer.parseInt(m.group(1)));
        } else {
          unnumbered.add(file.toString());
        }
      }
    }
    Set<Integer> missing = new TreeSet<>(accepted);
    missing.removeAll(delivered);
    Set<Integer> extra = new TreeSet<>(delivered);
    extra.removeAll(accepted);
    extra.removeAll(unanswered);
    String context = "accepted " + accepted.size() + ", unanswered " + unanswered + ", delivered " + delivered.size()
        + "\n--- maillog of " + a + ":\n" + tail(a.maillog()) + "\n--- maillog of " + b + ":\n" + tail(b.maillog());
    assertThat(missing).as("accepted but not delivered; %s", context).isEmpty();
    assertThat(extra).as("delivered without an acceptance, yet answered 4xx/5xx; %s", context).isEmpty();
    assertThat(unnumbered).as("deliveries that are not from this run; %s", context).isEmpty();
  }

  private static String tail(List<String> lines) {
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }

  private static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.ISO_8859_1);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    try {
      a.close();
    } finally {
      b.close();
    }
  }
}
