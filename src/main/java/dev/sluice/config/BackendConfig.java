package dev.sluice.config;

import dev.sluice.config.ListenerConfig.ClientIdentity;
import java.util.Map;

/**
 * One backend SMTP server in a pool: {@code weight} is its share (≥ 1, default 1), {@code priority}
 * its tier (1 = first; a tier is used only when every better tier has no eligible backend).
 *
 * @param clientIdentity how this server learns the client's address when it differs from what the
 *     listener sends ({@code client_identity} on the backend: a pool that mixes Exchange, which
 *     speaks neither XCLIENT nor PROXY, with Postfix, which needs one of them); null: the
 *     listener's, see {@link ListenerConfig#clientIdentityTowards}
 */
public record BackendConfig(String name, HostPort address, int weight, int priority, ClientIdentity clientIdentity,
    Map<String, Location> acknowledge, Location location) {
  public BackendConfig {
    acknowledge = Ordered.copyOf(acknowledge);
  }

  /** A backend that takes the client identity of whichever listener sends to it. */
  public BackendConfig(String name, HostPort address, int weight, int priority, Map<String, Location> acknowledge,
      Location location) {
    this(name, address, weight, priority, null, acknowledge, location);
  }
}
