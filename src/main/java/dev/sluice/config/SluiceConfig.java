package dev.sluice.config;

import dev.sluice.config.ListenerConfig.ClientIdentity;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * A whole, validated Sluice configuration: the immutable snapshot that the runtime swaps atomically
 * on reload. Maps keep the order of the file.
 *
 * <p>Built only by {@link ConfigLoader} (or tests); every value is already checked, so consumers
 * never re-validate. Immutable; safe to share between threads.
 */
public record SluiceConfig(
    Path file,
    AdminConfig admin,
    LogConfig log,
    ResolverConfig resolver,
    Map<String, HealthProfile> health,
    Map<String, PoolConfig> pools,
    Map<String, ListenerConfig> listeners) {

  public SluiceConfig {
    health = Ordered.copyOf(health);
    pools = Ordered.copyOf(pools);
    listeners = Ordered.copyOf(listeners);
  }

  /** The health profile a listener uses: its named one, or the built-in default. */
  public HealthProfile profileFor(ListenerConfig listener) {
    if (listener.health() == null) {
      return HealthProfile.DEFAULT;
    }
    return health.get(listener.health());
  }

  /**
   * The client identities {@code listener} uses towards the backends of its pool: its own {@code
   * client_identity}, and each backend's own where one sets it ({@link
   * ListenerConfig#clientIdentityTowards}).
   */
  public Set<ClientIdentity> clientIdentitiesOf(ListenerConfig listener) {
    Set<ClientIdentity> out = EnumSet.noneOf(ClientIdentity.class);
    for (BackendConfig b : pools.get(listener.pool()).backends()) {
      out.add(listener.clientIdentityTowards(b));
    }
    return out;
  }
}
