package dev.sluice.testing;

import dev.sluice.config.ConfigLoader;
import dev.sluice.runtime.SluiceServer;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * Runs a {@link SluiceServer} inside the test JVM from YAML text, so tests can read its state and
 * count its file descriptors. Close it to shut it down.
 */
public final class SluiceFixture implements AutoCloseable {
  private final SluiceServer server;

  private SluiceFixture(SluiceServer server) {
    this.server = server;
  }

  public static SluiceFixture start(String yaml) throws Exception {
    return start(yaml, dev.sluice.proxy.SessionObserver.NONE);
  }

  /** Starts with an observer of every session (to see what the protocol log and metrics see). */
  public static SluiceFixture start(String yaml, dev.sluice.proxy.SessionObserver observer) throws Exception {
    return start(yaml, s -> s.observe(observer));
  }

  /** Starts after {@code setup} has configured the server (an observer, a backend-name resolver). */
  public static SluiceFixture start(String yaml, java.util.function.Consumer<SluiceServer> setup) throws Exception {
    SluiceServer s = new SluiceServer(ConfigLoader.parse(yaml, "test.yaml"));
    setup.accept(s);
    s.start();
    return new SluiceFixture(s);
  }

  public SluiceServer server() {
    return server;
  }

  /** The server's metrics now, as a scrape of {@code /metrics} would read them. */
  public PrometheusText metrics() throws java.io.IOException {
    java.io.ByteArrayOutputStream page = new java.io.ByteArrayOutputStream();
    server.metrics().write(page);
    return PrometheusText.parse(page.toString(java.nio.charset.StandardCharsets.UTF_8));
  }

  /** The bound address of a listener. */
  public InetSocketAddress address(String listener) {
    return server.listener(listener).boundAddress();
  }

  @Override
  public void close() {
    server.shutdown(Duration.ZERO);
  }
}
