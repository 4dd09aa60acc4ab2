package dev.sluice.config;

import java.math.BigInteger;
import java.net.InetAddress;
import java.util.Arrays;

/**
 * An IPv4 or IPv6 network in CIDR notation ({@code 10.0.0.0/8}, {@code ::1/128}). An IPv4 network
 * also matches IPv4-mapped IPv6 addresses ({@code ::ffff:10.1.2.3}) so a dual-stack listener applies
 * the same rules to both forms of one client.
 *
 * <p>Immutable; safe to share between threads.
 */
public final class Cidr {
  private final byte[] network;
  private final int prefix;
  private final String text;

  private Cidr(byte[] network, int prefix, String text) {
    this.network = network;
    this.prefix = prefix;
    this.text = text;
  }

  /**
   * Parses {@code addr/prefix} or a bare address (a host network). The address must be an IP
   * literal, never a name: an ACL must not depend on DNS.
   *
   * @throws IllegalArgumentException with a message fit for a user when the text is not a CIDR
   */
  public static Cidr parse(String text) {
    String s = text.trim();
    int slash = s.indexOf('/');
    String addr = slash < 0 ? s : s.substring(0, slash);
    byte[] bytes = IpLiteral.parse(addr);
    if (bytes == null) {
      throw new IllegalArgumentException("'" + text + "' is not an IP address or CIDR");
    }
    int max = bytes.length * 8;
    int prefix = max;
    if (slash >= 0) {
      try {
        prefix = Integer.parseInt(s.substring(slash + 1));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("'" + text + "' has a prefix length that is not a number");
      }
      if (prefix < 0 || prefix > max) {
        throw new IllegalArgumentException(
            "'" + text + "' has prefix length " + prefix + "; it must be 0.." + max);
      }
    }
    byte[] masked = mask(bytes, prefix);
    return new Cidr(masked, prefix, s);
  }

  private static byte[] mask(byte[] bytes, int prefix) {
    byte[] out = bytes.clone();
    for (int i = 0; i < out.length; i++) {
      int bits = Math.max(0, Math.min(8, prefix - i * 8));
      out[i] &= (byte) (bits == 0 ? 0 : (0xFF << (8 - bits)));
    }
    return out;
  }

  /** Whether {@code address} lies in this network. */
  public boolean contains(InetAddress address) {
    byte[] a = address.getAddress();
    if (a.length == 16 && network.length == 4 && isV4Mapped(a)) {
      a = Arrays.copyOfRange(a, 12, 16);
    }
    if (a.length != network.length) {
      return false;
    }
    return Arrays.equals(mask(a, prefix), network);
  }

  private static boolean isV4Mapped(byte[] a) {
    for (int i = 0; i < 10; i++) {
      if (a[i] != 0) {
        return false;
      }
    }
    return a[10] == (byte) 0xFF && a[11] == (byte) 0xFF;
  }

  public int prefix() {
    return prefix;
  }

  /** Whether this is an IPv4 network (else IPv6). */
  public boolean isV4() {
    return network.length == 4;
  }

  /** The network's first address as an unsigned number. */
  public BigInteger first() {
    return new BigInteger(1, network);
  }

  /** The network's last address as an unsigned number. */
  public BigInteger last() {
    return first().add(BigInteger.ONE.shiftLeft(network.length * 8 - prefix)).subtract(BigInteger.ONE);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Cidr c && c.prefix == prefix && Arrays.equals(c.network, network);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(network) * 31 + prefix;
  }

  @Override
  public String toString() {
    return text;
  }
}
