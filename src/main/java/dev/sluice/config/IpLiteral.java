package dev.sluice.config;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** Parses IP literals without ever touching DNS. Stateless. */
public final class IpLiteral {
  private IpLiteral() {}

  /** The address bytes (4 or 16), or null when {@code text} is not an IPv4 or IPv6 literal. */
  public static byte[] parse(String text) {
    String s = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
    if (s.isEmpty()) {
      return null;
    }
    if (s.indexOf(':') >= 0) {
      // InetAddress.getByName does not resolve anything for a string that contains ':' and is a
      // valid IPv6 literal; anything else with ':' fails fast with UnknownHostException.
      if (!s.matches("[0-9A-Fa-f:.]+")) {
        return null;
      }
      try {
        return InetAddress.getByName(s).getAddress();
      } catch (UnknownHostException e) {
        return null;
      }
    }
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4) {
      return null;
    }
    byte[] out = new byte[4];
    for (int i = 0; i < 4; i++) {
      String p = parts[i];
      // ASCII digits only: Character.isDigit would let other scripts' digits through.
      if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
        return null;
      }
      int v = Integer.parseInt(p);
      if (v > 255) {
        return null;
      }
      out[i] = (byte) v;
    }
    return out;
  }

  /** The address for a literal, or null when it is not one. */
  public static InetAddress toAddress(String text) {
    byte[] b = parse(text);
    if (b == null) {
      return null;
    }
    try {
      return InetAddress.getByAddress(b);
    } catch (UnknownHostException e) {
      return null; // cannot happen for 4 or 16 bytes
    }
  }
}
