package dev.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigValuesTest {

  @Test
  void formatsDurationsInConfigSyntax() {
    assertThat(ConfigValues.formatDuration(java.time.Duration.ofMillis(500))).isEqualTo("500ms");
    assertThat(ConfigValues.formatDuration(java.time.Duration.ofSeconds(90))).isEqualTo("90s");
    assertThat(ConfigValues.formatDuration(java.time.Duration.ofMinutes(5))).isEqualTo("5m");
    assertThat(ConfigValues.formatDuration(java.time.Duration.ofHours(2))).isEqualTo("2h");
    assertThat(ConfigValues.formatDuration(java.time.Duration.ofDays(1))).isEqualTo("1d");
    assertThat(ConfigValues.formatDuration(java.time.Duration.ZERO)).isEqualTo("0s");
  }

  @Test
  void durations() {
    assertThat(ConfigValues.parseDuration("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(ConfigValues.parseDuration("30s")).isEqualTo(Duration.ofSeconds(30));
    assertThat(ConfigValues.parseDuration("5M")).isEqualTo(Duration.ofMinutes(5));
    assertThat(ConfigValues.parseDuration("2h")).isEqualTo(Duration.ofHours(2));
    assertThat(ConfigValues.parseDuration("1d")).isEqualTo(Duration.ofDays(1));
    assertThat(ConfigValues.parseDuration("0")).isZero();
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "5", "-5s", "5 min", "1.5s", "s", "99999999999999999999d", "9999999999999999d"})
  void badDurations(String text) {
    assertThatThrownBy(() -> ConfigValues.parseDuration(text)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void sizesUseBinaryUnits() {
    assertThat(ConfigValues.parseSize("512B")).isEqualTo(512);
    assertThat(ConfigValues.parseSize("10KB")).isEqualTo(10 * 1024);
    assertThat(ConfigValues.parseSize("50mb")).isEqualTo(50L * 1024 * 1024);
    assertThat(ConfigValues.parseSize("1GB")).isEqualTo(1024L * 1024 * 1024);
    assertThat(ConfigValues.parseSize("1234")).isEqualTo(1234);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "MB", "1TB", "-1", "1.5MB", "99999999999GB"})
  void badSizes(String text) {
    assertThatThrownBy(() -> ConfigValues.parseSize(text)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void rates() {
    assertThat(ConfigValues.parseRate("60/m")).isEqualTo(new ListenerConfig.Rate(60, Duration.ofMinutes(1)));
    assertThat(ConfigValues.parseRate("10/s").per()).isEqualTo(Duration.ofSeconds(1));
    assertThat(ConfigValues.parseRate("1000/H").per()).isEqualTo(Duration.ofHours(1));
    assertThatThrownBy(() -> ConfigValues.parseRate("0/m")).hasMessageContaining("at least 1");
    assertThatThrownBy(() -> ConfigValues.parseRate("60/d")).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void hostPorts() {
    assertThat(ConfigValues.parseHostPort("10.0.0.1:25", true, false)).isEqualTo(new HostPort("10.0.0.1", 25));
    assertThat(ConfigValues.parseHostPort("[::1]:25", true, false)).isEqualTo(new HostPort("::1", 25));
    assertThat(ConfigValues.parseHostPort("mx.example.com:587", false, false)).isEqualTo(new HostPort("mx.example.com", 587));
    assertThat(ConfigValues.parseHostPort("127.0.0.1:0", true, true).port()).isZero();
  }

  @ParameterizedTest
  @ValueSource(strings = {"10.0.0.1", "10.0.0.1:", ":25", "10.0.0.1:0", "10.0.0.1:65536", "::1:25", "[::1]",
      "[mx]:25", "300.1.1.1:25", "mx..example:25", "-mx:25", "10.0.0.1:2x"})
  void badHostPorts(String text) {
    assertThatThrownBy(() -> ConfigValues.parseHostPort(text, false, false)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void suggestions() {
    assertThat(Suggestions.nearest("algoritm", java.util.List.of("algorithm", "backends"))).isEqualTo("algorithm");
    assertThat(Suggestions.nearest("xyz", java.util.List.of("algorithm", "backends"))).isNull();
    assertThat(Suggestions.distance("ehol", "ehlo")).isEqualTo(1);
  }
}
