package dev.sluice.config;

import java.nio.file.Path;
import java.util.Set;

/**
 * The {@code admin:} section: where the HTTP admin endpoint (dashboard, metrics, API) listens and
 * the bearer-token file. {@code listen} is null when the section is absent: no admin endpoint.
 */
public record AdminConfig(HostPort listen, Path tokenFile, Set<String> acknowledge, Location location) {
  public static final AdminConfig NONE = new AdminConfig(null, null, Set.of(), Location.NONE);

  public AdminConfig {
    acknowledge = Set.copyOf(acknowledge);
  }
}
