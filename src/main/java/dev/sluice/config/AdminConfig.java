package dev.sluice.config;

import java.nio.file.Path;
import java.util.Map;

/**
 * The {@code admin:} section: where the HTTP admin endpoint (dashboard, metrics, API) listens and
 * the bearer-token file, and the file that keeps admin states across restarts ({@code stateFile},
 * null for none). {@code listen} is null when the section is absent: no admin endpoint.
 */
public record AdminConfig(HostPort listen, Path tokenFile, Path stateFile, Map<String, Location> acknowledge,
    Location location) {
  public static final AdminConfig NONE = new AdminConfig(null, null, null, Map.of(), Location.NONE);

  public AdminConfig {
    acknowledge = Ordered.copyOf(acknowledge);
  }
}
