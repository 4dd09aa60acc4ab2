package dev.sluice.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.ConfigLoader;
import dev.sluice.config.SluiceConfig;
import org.junit.jupiter.api.Test;

/**
 * Sluice refuses to start a listener that would connect transparently where the transport cannot
 * (no epoll, or no CAP_NET_ADMIN): for a transparent listener, and for a listener whose pool has a
 * backend set to transparent on its own. NIO stands for a host without IP_TRANSPARENT.
 */
class TransparentStartupTest {
  private static final String YAML = """
      pools:
        hub:
          backends:
            - { name: ex1, address: "10.0.0.11:25"%s }
            - { name: pf1, address: "10.0.0.12:25" }
      listeners:
        mx: { listen: "127.0.0.1:2525", pool: hub%s }
      """;

  private static String problem(String backendExtra, String listenerExtra) throws Exception {
    SluiceConfig c = ConfigLoader.parse(YAML.formatted(backendExtra, listenerExtra), "sluice.yaml");
    return SluiceServer.transparentProblem(c, c.listeners().get("mx"), Transport.NIO);
  }

  @Test
  void aTransparentBackendNeedsIpTransparentAsATransparentListenerDoes() throws Exception {
    assertThat(problem("", "")).isNull();
    assertThat(problem("", ", client_identity: transparent"))
        .startsWith("sluice.yaml:7:3: listener 'mx': client_identity transparent: ").contains("IP_TRANSPARENT");
    assertThat(problem(", client_identity: transparent", ""))
        .startsWith("sluice.yaml:7:3: listener 'mx': client_identity transparent (of a backend of pool 'hub'): ")
        .contains("IP_TRANSPARENT");
    // ex1 says none of its own, but pf1 still takes the listener's transparent.
    assertThat(problem(", client_identity: none", ", client_identity: transparent")).isNotNull();
  }
}
