package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sluice.balance.Backend;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.HostPort;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.Location;
import dev.sluice.config.PoolConfig;
import dev.sluice.health.ListenerEligibility;
import dev.sluice.health.PassiveHealth;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Live failures reach the pool's passive health, and the one that ejects a backend is logged once. */
class ListenerRouteTest {
  static final dev.sluice.config.SluiceConfig CONFIG = parse();
  final Backend a = new Backend("hub", new BackendConfig("a", new HostPort("127.0.0.1", 2600), 1, 1, Map.of(), Location.NONE), 0);
  // A second backend: passive health never ejects the last one standing.
  final Backend b = new Backend("hub", new BackendConfig("b", new HostPort("127.0.0.1", 2601), 1, 1, Map.of(), Location.NONE), 1);
  final AtomicLong clock = new AtomicLong(1_000_000_000_000L);
  final PassiveHealth passive = new PassiveHealth(new PoolConfig.Passive(3, Duration.ofSeconds(30), Duration.ofSeconds(60)),
      List.of(a, b), clock::get);
  /** Retries reported: backend name, and whether another is tried. */
  final List<String> retries = new java.util.ArrayList<>();
  final ListenerRoute route = new ListenerRoute(CONFIG.listeners().get("mx"),
      new dev.sluice.balance.PoolBalancer(CONFIG.pools().get("hub"), List.of(a, b), clock::get, new java.util.Random(1)),
      new ListenerEligibility(List.of(), passive), passive, new SessionObserver() {
        @Override
        public void retry(SessionInfo s, Backend backend, String reason, boolean another) {
          retries.add(backend.name() + (another ? " -> another" : " -> none left"));
        }
      }, null, null, null);
  final SessionInfo info = new SessionInfo("mx", new java.net.InetSocketAddress("127.0.0.1", 2525),
      new java.net.InetSocketAddress("127.0.0.9", 40001));

  static dev.sluice.config.SluiceConfig parse() {
    try {
      return ConfigLoader.parse("""
          listeners:
            mx: { listen: 127.0.0.1:2525, pool: hub }
          pools:
            hub:
              backends:
                - { name: a, address: 127.0.0.1:2600 }
                - { name: b, address: 127.0.0.1:2601 }
          """, "t.yaml");
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** A failure with the retry budget spent: reported to the observers as one with none left. */
  void fail(Backend backend) {
    route.liveFailure(info, backend, "connect failed", false, x -> x == backend);
  }

  @Test
  void theFailureThatEjectsABackendIsLoggedOnceWithHowLong() throws Exception {

    Logger logger = (Logger) LoggerFactory.getLogger(ListenerRoute.class);
    ListAppender<ILoggingEvent> seen = new ListAppender<>();
    seen.start();
    logger.addAppender(seen);
    try {
      fail(a);
      fail(a);
      assertThat(seen.list).isEmpty();
      fail(a);
      fail(a); // already ejected: no second line
    } finally {
      logger.detachAppender(seen);
    }
    assertThat(passive.ejected(a)).isTrue();
    assertThat(retries).containsOnly("a -> none left").hasSize(4);
    assertThat(seen.list).singleElement().satisfies(e -> {
      assertThat(e.getLevel()).isEqualTo(Level.WARN);
      assertThat(e.getFormattedMessage())
          .isEqualTo("mx: backend hub/a(127.0.0.1:2600) ejected for 30s after consecutive failures in live traffic");
    });
  }
}
