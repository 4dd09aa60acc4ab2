package dev.sluice.config;

import java.nio.file.Path;
import java.util.Map;

/** The {@code log:} section: protocol-log directory and level. */
public record LogConfig(Path protocolDir, ProtocolLevel protocolLevel, Map<String, Location> acknowledge,
    Location location) {
  public static final LogConfig DEFAULT = new LogConfig(Path.of("logs"), ProtocolLevel.BASIC, Map.of(), Location.NONE);

  public LogConfig {
    acknowledge = Ordered.copyOf(acknowledge);
  }

  /** {@code protocol_level}: how much of each session the protocol log records. */
  public enum ProtocolLevel {
    NONE,
    BASIC,
    VERBOSE
  }
}
