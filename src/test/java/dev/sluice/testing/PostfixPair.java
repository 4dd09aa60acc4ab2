package dev.sluice.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.PostfixInstance;
import java.time.Duration;
import java.util.function.UnaryOperator;

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

  private PostfixPair(PostfixInstance a, PostfixInstance b) {
    this.a = a;
    this.b = b;
  }

  /** Starts {@code prefix-a} and {@code prefix-b}, each builder adjusted by {@code customize}. */
  public static PostfixPair start(String prefix, UnaryOperator<PostfixInstance.Builder> customize) {
    PostfixInstance a = customize.apply(PostfixInstance.builder(prefix + "-a")).build().start();
    try {
      return new PostfixPair(a, customize.apply(PostfixInstance.builder(prefix + "-b")).build().start());
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

  @Override
  public void close() {
    try {
      a.close();
    } finally {
      b.close();
    }
  }
}
