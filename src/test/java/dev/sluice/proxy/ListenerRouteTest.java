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
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Live failures reach the pool's passive health, and the one that ejects a backend is logged once. */
class ListenerRouteTest {
  @Test
  void theFailureThatEjectsABackendIsLoggedOnceWithHowLong() throws Exception {
    ListenerConfig mx = ConfigLoader.parse("""
        listeners:
          mx: { listen: 127.0.0.1:2525, pool: hub }
        pools:
          hub:
            backends:
              - { name: a, address: 127.0.0.1:2600 }
              - { name: b, address: 127.0.0.1:2601 }
        """, "t.yaml").listeners().get("mx");
    Backend a = new Backend("hub", new BackendConfig("a", new HostPort("127.0.0.1", 2600), 1, 1, Set.of(), Location.NONE), 0);
    // A second backend: passive health never ejects the last one standing.
    Backend b = new Backend("hub", new BackendConfig("b", new HostPort("127.0.0.1", 2601), 1, 1, Set.of(), Location.NONE), 1);
    AtomicLong clock = new AtomicLong(1_000_000_000_000L);
    PassiveHealth passive = new PassiveHealth(new PoolConfig.Passive(3, Duration.ofSeconds(30), Duration.ofSeconds(60)),
        List.of(a, b), clock::get);
    ListenerRoute route = new ListenerRoute(mx, null, new ListenerEligibility(List.of(), passive), passive, null, null, null);

    Logger logger = (Logger) LoggerFactory.getLogger(ListenerRoute.class);
    ListAppender<ILoggingEvent> seen = new ListAppender<>();
    seen.start();
    logger.addAppender(seen);
    try {
      route.liveFailure(a);
      route.liveFailure(a);
      assertThat(seen.list).isEmpty();
      route.liveFailure(a);
      route.liveFailure(a); // already ejected: no second line
    } finally {
      logger.detachAppender(seen);
    }
    assertThat(passive.ejected(a)).isTrue();
    assertThat(seen.list).singleElement().satisfies(e -> {
      assertThat(e.getLevel()).isEqualTo(Level.WARN);
      assertThat(e.getFormattedMessage())
          .isEqualTo("mx: backend hub/a(127.0.0.1:2600) ejected for 30s after consecutive failures in live traffic");
    });
  }
}
