package dev.sluice.config;

import java.util.Map;

/**
 * One backend SMTP server in a pool: {@code weight} is its share (≥ 1, default 1), {@code priority}
 * its tier (1 = first; a tier is used only when every better tier has no eligible backend).
 */
public record BackendConfig(
    String name, HostPort address, int weight, int priority, Map<String, Location> acknowledge, Location location) {
  public BackendConfig {
    acknowledge = Ordered.copyOf(acknowledge);
  }
}
