package dev.sluice.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.balance.Backend;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/**
 * Where a connection to a backend comes from, and which clients a backend can serve, follow the
 * backend's own {@code client_identity} when it sets one: transparent towards one server, from
 * the listener's source address towards another.
 */
class BackendIdentityTest {
  private static final String YAML = """
      pools:
        hub:
          backends:
            - { name: t, address: "10.0.0.11:25", client_identity: transparent }
            - { name: s, address: "10.0.0.12:25", client_identity: none }
            - { name: d, address: "10.0.0.13:25" }
      listeners:
        mx: { listen: "[::]:25", pool: hub, source_address: 10.0.0.5, client_identity: %s }
      """;

  @Test
  void aTransparentBackendIsReachedFromTheClientAndOnlyByClientsOfItsFamily() throws Exception {
    SluiceConfig c = ConfigLoader.parse(YAML.formatted("xclient"), "t.yaml");
    ListenerConfig l = c.listeners().get("mx");
    PoolConfig pool = c.pools().get("hub");
    Backend transparent = new Backend("hub", pool.backends().get(0), 0);
    Backend fromSluice = new Backend("hub", pool.backends().get(1), 1);
    Backend inherits = new Backend("hub", pool.backends().get(2), 2);
    InetSocketAddress v4 = new InetSocketAddress(InetAddress.getByName("192.0.2.7"), 40000);
    InetSocketAddress v6 = new InetSocketAddress(InetAddress.getByName("2001:db8::7"), 40000);
    InetAddress source = InetAddress.getByName("10.0.0.5");

    assertThat(BackendConnector.sourceFor(l, transparent, v4)).isEqualTo(v4.getAddress());
    assertThat(BackendConnector.sourceFor(l, fromSluice, v4)).isEqualTo(source);
    assertThat(BackendConnector.sourceFor(l, inherits, v4)).isEqualTo(source);
    assertThat(inherits.clientIdentityFrom(l)).isEqualTo(ClientIdentity.XCLIENT);
    // An IPv6 client cannot be the source of a connection to an IPv4 server; Sluice's address can.
    assertThat(BackendConnector.reachable(l, v6, transparent)).isFalse();
    assertThat(BackendConnector.reachable(l, v6, fromSluice)).isTrue();
    assertThat(BackendConnector.reachable(l, v6, inherits)).isTrue();
    assertThat(BackendConnector.reachable(l, v4, transparent)).isTrue();
  }

  @Test
  void aBackendThatSaysNoneUnderATransparentListenerIsReachedFromTheSourceAddress() throws Exception {
    SluiceConfig c = ConfigLoader.parse(YAML.formatted("transparent"), "t.yaml");
    ListenerConfig l = c.listeners().get("mx");
    PoolConfig pool = c.pools().get("hub");
    Backend fromSluice = new Backend("hub", pool.backends().get(1), 1);
    Backend inherits = new Backend("hub", pool.backends().get(2), 2);
    InetSocketAddress v6 = new InetSocketAddress(InetAddress.getByName("2001:db8::7"), 40000);

    assertThat(BackendConnector.sourceFor(l, fromSluice, v6)).isEqualTo(InetAddress.getByName("10.0.0.5"));
    assertThat(BackendConnector.reachable(l, v6, fromSluice)).isTrue();
    assertThat(BackendConnector.sourceFor(l, inherits, v6)).isEqualTo(v6.getAddress());
    assertThat(BackendConnector.reachable(l, v6, inherits)).isFalse();
  }
}
