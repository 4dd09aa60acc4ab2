package dev.sluice.config;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parsers for the value syntaxes of the configuration file: durations ({@code 30s}), sizes ({@code
 * 50MB}), rates ({@code 60/m}) and addresses ({@code host:port}). Each throws {@link
 * IllegalArgumentException} with a message fit for a user; the matching {@code *_HINT} constant
 * shows valid syntax. Units are case-insensitive. Stateless; safe to call from any thread.
 */
public final class ConfigValues {
  public static final String DURATION_HINT =
      "a number with a unit: ms, s, m, h or d, e.g. 500ms, 30s, 5m, 2h, 1d (or 0)";
  public static final String SIZE_HINT =
      "a number of bytes with an optional unit B, KB, MB or GB (1 KB = 1024 bytes), e.g. 512B, 10KB, 50MB, 1GB";
  public static final String RATE_HINT = "a count per second, minute or hour, e.g. 10/s, 60/m, 1000/h";
  public static final String ADDRESS_HINT =
      "host:port, e.g. 192.0.2.10:25, mail1.corp.example:25 or [2001:db8::1]:25";
  public static final String IP_ADDRESS_HINT =
      "an IP address and port, e.g. 127.0.0.1:2525, 0.0.0.0:25 or [::1]:25 (no host names)";
  public static final String NAME_SERVER_HINT =
      "an IP address with an optional port (default 53), e.g. 127.0.0.53, [2001:db8::53]:53 or, link-local,"
          + " [fe80::1%eth0]";
  public static final String CIDR_HINT =
      "an IP network in CIDR notation, e.g. 10.0.0.0/8, 192.0.2.7/32, 2001:db8::/32, or a single address";

  private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)", Pattern.CASE_INSENSITIVE);
  private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(b|kb|mb|gb)?", Pattern.CASE_INSENSITIVE);
  private static final Pattern RATE = Pattern.compile("(\\d+)\\s*/\\s*(s|m|h)", Pattern.CASE_INSENSITIVE);
  private static final Pattern HOST_NAME =
      Pattern.compile("(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?");

  private ConfigValues() {}

  /** Formats a duration in the config's own syntax ({@code 500ms}, {@code 30s}, {@code 5m}, {@code 2h}, {@code 1d}). */
  public static String formatDuration(Duration d) {
    long ms = d.toMillis();
    if (ms % 1000 != 0) {
      return ms + "ms";
    }
    long s = ms / 1000;
    if (s != 0 && s % 86400 == 0) {
      return s / 86400 + "d";
    } else if (s != 0 && s % 3600 == 0) {
      return s / 3600 + "h";
    } else if (s != 0 && s % 60 == 0) {
      return s / 60 + "m";
    }
    return s + "s";
  }

  public static Duration parseDuration(String text) {
    String s = text.trim();
    if (s.equals("0")) {
      return Duration.ZERO;
    }
    Matcher m = DURATION.matcher(s);
    if (!m.matches()) {
      throw new IllegalArgumentException(
          s.chars().allMatch(Character::isDigit) && !s.isEmpty()
              ? "'" + text + "' has no unit"
              : "'" + text + "' is not a duration");
    }
    try {
      long n = Long.parseLong(m.group(1));
      return switch (m.group(2).toLowerCase(Locale.ROOT)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofDays(n);
      };
    } catch (NumberFormatException | ArithmeticException e) {
      throw new IllegalArgumentException("'" + text + "' is too long a duration");
    }
  }

  /** Bytes: {@code 512B}, {@code 10KB}, {@code 50MB}, {@code 1GB} (binary units) or a plain number. */
  public static long parseSize(String text) {
    Matcher m = SIZE.matcher(text.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a size");
    }
    String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
    long factor =
        switch (unit) {
          case "kb" -> 1024L;
          case "mb" -> 1024L * 1024;
          case "gb" -> 1024L * 1024 * 1024;
          default -> 1L;
        };
    try {
      return Math.multiplyExact(Long.parseLong(m.group(1)), factor);
    } catch (NumberFormatException | ArithmeticException e) {
      throw new IllegalArgumentException("'" + text + "' is too large a size");
    }
  }

  /** A rate {@code count/unit}, unit {@code s}, {@code m} or {@code h}; count at least 1. */
  public static ListenerConfig.Rate parseRate(String text) {
    Matcher m = RATE.matcher(text.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a rate");
    }
    int count;
    try {
      count = Integer.parseInt(m.group(1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + text + "' is too large a rate");
    }
    if (count < 1) {
      throw new IllegalArgumentException("'" + text + "' allows nothing; the count must be at least 1");
    }
    Duration per =
        switch (m.group(2).toLowerCase(Locale.ROOT)) {
          case "s" -> Duration.ofSeconds(1);
          case "m" -> Duration.ofMinutes(1);
          default -> Duration.ofHours(1);
        };
    return new ListenerConfig.Rate(count, per);
  }

  /**
   * {@code host:port} or {@code [v6]:port}. With {@code ipLiteralOnly} the host must be an IP
   * address (listening and source addresses must not depend on DNS); otherwise it may be a DNS
   * name. The returned host carries no brackets. Port 0 is accepted only with {@code allowPortZero}
   * (a listener on an ephemeral port, handy in tests).
   */
  public static HostPort parseHostPort(String text, boolean ipLiteralOnly, boolean allowPortZero) {
    String s = text.trim();
    String host;
    String port;
    if (s.startsWith("[")) {
      int close = s.indexOf(']');
      if (close < 0 || close + 1 >= s.length() || s.charAt(close + 1) != ':') {
        throw new IllegalArgumentException("'" + text + "' has no port after the bracketed address");
      }
      host = s.substring(1, close);
      port = s.substring(close + 2);
      if (host.indexOf(':') < 0 || IpLiteral.parse(host) == null) {
        throw new IllegalArgumentException("'" + host + "' in '" + text + "' is not an IPv6 address");
      }
    } else {
      int colon = s.lastIndexOf(':');
      if (colon < 0) {
        throw new IllegalArgumentException("'" + text + "' has no port");
      }
      host = s.substring(0, colon);
      port = s.substring(colon + 1);
      if (host.indexOf(':') >= 0) {
        throw new IllegalArgumentException(
            "'" + text + "' looks like an IPv6 address without brackets; write [" + host + "]:" + port);
      }
      checkHost(host, text, ipLiteralOnly);
    }
    return new HostPort(host, parsePort(port, text, allowPortZero));
  }

  /**
   * A DNS server: an IP literal, with a port or without (then 53), an IPv6 one optionally with its
   * zone ({@code [fe80::1%eth0]}). Never a name: finding it would need DNS. For {@code resolver:
   * servers}, {@code sluice probe name --server} and resolv.conf's {@code nameserver} lines.
   */
  public static HostPort parseNameServer(String text) {
    String t = text.trim();
    String host = t;
    int port = ResolverConfig.DNS_PORT;
    if (t.startsWith("[")) { // [v6], [v6]:port, either with a zone (a link-local server: [fe80::1%eth0])
      int close = t.indexOf(']');
      String rest = close < 0 ? "" : t.substring(close + 1);
      if (close < 0 || !rest.isEmpty() && !rest.startsWith(":")) {
        throw new IllegalArgumentException("'" + text + "' is not [address] or [address]:port");
      }
      host = t.substring(1, close);
      if (!rest.isEmpty()) {
        port = parseHostPort("[::1]" + rest, true, false).port();
      }
    } else if (IpLiteral.parse(withoutZone(t)) == null) {
      return parseHostPort(t, true, false); // 192.0.2.53:5353, or the error that says what is wrong
    }
    String address = withoutZone(host);
    byte[] parsed = IpLiteral.parse(address);
    if (parsed == null || parsed.length == 4 && !address.equals(host)) {
      throw new IllegalArgumentException("'" + host + "' in '" + text + "' is not an IP address"
          + (address.equals(host) ? "" : " (a %zone goes with an IPv6 address only)"));
    }
    return new HostPort(host, port);
  }

  /** {@code fe80::1} of {@code fe80::1%eth0}: the zone (RFC 6874) names an interface, not part of the address. */
  private static String withoutZone(String address) {
    int zone = address.indexOf('%');
    return zone < 0 ? address : address.substring(0, zone);
  }
  private static void checkHost(String host, String text, boolean ipLiteralOnly) {
    if (host.isEmpty()) {
      throw new IllegalArgumentException("'" + text + "' has no host before the port");
    }
    boolean looksNumeric = host.chars().allMatch(c -> Character.isDigit(c) || c == '.');
    if (IpLiteral.parse(host) != null) {
      return;
    }
    if (looksNumeric) {
      throw new IllegalArgumentException("'" + host + "' in '" + text + "' is not a valid IPv4 address");
    }
    if (ipLiteralOnly) {
      throw new IllegalArgumentException("'" + host + "' in '" + text + "' is a name, not an IP address");
    }
    if (!HOST_NAME.matcher(host).matches()) {
      throw new IllegalArgumentException("'" + host + "' in '" + text + "' is not a valid host name");
    }
  }

  private static int parsePort(String port, String text, boolean allowZero) {
    int min = allowZero ? 0 : 1;
    if (port.isEmpty() || port.length() > 5 || !port.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new IllegalArgumentException("'" + text + "' has no valid port; a port is a number " + min + "..65535");
    }
    int p = Integer.parseInt(port);
    if (p < min || p > 65535) {
      throw new IllegalArgumentException("port " + p + " in '" + text + "' is out of range " + min + "..65535");
    }
    return p;
  }
}
