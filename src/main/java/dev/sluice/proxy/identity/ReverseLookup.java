package dev.sluice.proxy.identity;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.List;
import java.util.Locale;

/**
 * The rules that turn DNS answers into a {@link ClientName}, the way Postfix's smtpd names its own
 * clients (smtpd_peer.c), so a backend behind Sluice judges a client by the same name it would
 * give it directly: the first PTR name of the address; a name that is malformed or looks like an
 * address counts as no name; the name is the client's verified name only when its forward lookup
 * (A for an IPv4 client, AAAA for IPv6) includes the client's address; otherwise it is only the
 * unverified reverse name. Pure functions; no I/O, thread-safe.
 */
public final class ReverseLookup {

  /** Longest time an answer is reused, whatever its TTL: a changed PTR record shows within an hour. */
  static final long MAX_TTL_SECONDS = 3600;

  /** How long a missing name is reused (RFC 2308 allows the SOA minimum; most zones say minutes). */
  static final long NEGATIVE_TTL_SECONDS = 60;

  private ReverseLookup() {}

  /** One DNS answer: whether the name exists, its records' data (host names or addresses), their TTL. */
  public record Answer(Status status, List<String> values, long ttlSeconds, String detail) {
    public Answer {
      values = List.copyOf(values);
    }

    public static Answer found(List<String> values, long ttlSeconds) {
      return new Answer(Status.FOUND, values, ttlSeconds, null);
    }

    /** NXDOMAIN, or the name exists without records of the type asked (RFC 2308 NODATA). */
    public static Answer notFound(String detail) {
      return new Answer(Status.NOT_FOUND, List.of(), 0, detail);
    }

    /** SERVFAIL, REFUSED, a timeout, a network error: the answer may differ next time. */
    public static Answer failed(String detail) {
      return new Answer(Status.FAILED, List.of(), 0, detail);
    }
  }

  /** How a DNS question was answered. */
  public enum Status { FOUND, NOT_FOUND, FAILED }

  /** What the PTR answer leads to: a final name, or a name whose forward lookup must confirm it. */
  public sealed interface AfterPtr permits Named, Confirm {}

  /** The lookup is over. */
  public record Named(ClientName name) implements AfterPtr {}

  /** Look up {@code name}'s addresses and pass them to {@link #afterForward}. */
  public record Confirm(String name, long ttlSeconds) implements AfterPtr {}

  /** The name to ask PTR records of: {@code 4.3.2.1.in-addr.arpa} or the ip6.arpa nibbles (RFC 3596 §2.5). */
  public static String ptrQuestion(InetAddress client) {
    byte[] a = client.getAddress();
    StringBuilder sb = new StringBuilder(a.length == 4 ? 29 : 73);
    if (client instanceof Inet4Address) {
      for (int i = a.length - 1; i >= 0; i--) {
        sb.append(a[i] & 0xff).append('.');
      }
      return sb.append("in-addr.arpa").toString();
    }
    for (int i = a.length - 1; i >= 0; i--) {
      sb.append(Character.forDigit(a[i] & 0xf, 16)).append('.').append(Character.forDigit((a[i] >> 4) & 0xf, 16)).append('.');
    }
    return sb.append("ip6.arpa").toString();
  }

  /** Judges the PTR answer for {@code client}'s address. */
  public static AfterPtr afterPtr(Answer ptr) {
    switch (ptr.status()) {
      case FAILED:
        return new Named(ClientName.temporarilyUnavailable("temporary DNS failure looking up the PTR record: "
            + ptr.detail()));
      case NOT_FOUND:
        return new Named(ClientName.unavailable("no PTR record", NEGATIVE_TTL_SECONDS));
      default:
        break;
    }
    String name = normalize(ptr.values().get(0));
    long ttl = Math.min(ptr.ttlSeconds(), MAX_TTL_SECONDS);
    if (looksLikeAddress(name)) {
      return new Named(ClientName.unavailable("numeric name " + name + " in the PTR record", ttl));
    }
    if (!validHostName(name)) {
      return new Named(ClientName.unavailable("malformed name in the PTR record", ttl));
    }
    return new Confirm(name, ttl);
  }

  /**
   * Judges the forward lookup of {@code name} (the PTR name, {@code ptrTtlSeconds} its TTL): the
   * name is verified when the answer holds {@code client}'s address.
   */
  public static ClientName afterForward(InetAddress client, String name, long ptrTtlSeconds, Answer forward) {
    switch (forward.status()) {
      case FAILED:
        return ClientName.unverified(name, ClientName.TEMPUNAVAIL_VALUE,
            "temporary DNS failure looking up " + name + ": " + forward.detail(), 0);
      case NOT_FOUND:
        return ClientName.unverified(name, ClientName.UNAVAILABLE_VALUE,
            name + " has no address", Math.min(ptrTtlSeconds, NEGATIVE_TTL_SECONDS));
      default:
        break;
    }
    String address = client.getHostAddress();
    int zone = address.indexOf('%');
    if (zone >= 0) {
      address = address.substring(0, zone);
    }
    long ttl = Math.min(ptrTtlSeconds, Math.min(forward.ttlSeconds(), MAX_TTL_SECONDS));
    byte[] raw = client.getAddress(); // without the interface of a link-local client's %scope
    for (String v : forward.values()) {
      if (java.util.Arrays.equals(dev.sluice.config.IpLiteral.parse(v), raw)) {
        return ClientName.verified(name, ttl);
      }
    }
    return ClientName.unverified(name, ClientName.UNAVAILABLE_VALUE,
        name + " does not resolve to " + address, ttl);
  }

  /** Lower case, without the root's trailing dot. */
  static String normalize(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
  }

  /**
   * A host name as Postfix's valid_hostname() takes it: at most 255 characters, dot-separated labels
   * of 1 to 63 letters, digits, hyphens and underscores (Postfix tolerates these), not starting or
   * ending with a hyphen, and not all digits in the last label.
   */
  static boolean validHostName(String name) {
    if (name.isEmpty() || name.length() > 255) {
      return false;
    }
    String[] labels = name.split("\\.", -1);
    for (String label : labels) {
      if (label.isEmpty() || label.length() > 63 || label.startsWith("-") || label.endsWith("-")) {
        return false;
      }
      for (int i = 0; i < label.length(); i++) {
        char c = label.charAt(i);
        boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_';
        if (!ok) {
          return false;
        }
      }
    }
    return !labels[labels.length - 1].chars().allMatch(Character::isDigit);
  }

  /**
   * Whether a PTR name is an address in disguise ({@code 192.0.2.7}, or with IPv6 colons): Postfix
   * refuses such names, since they would pass for a client's real address in host-name checks.
   */
  static boolean looksLikeAddress(String name) {
    return name.indexOf(':') >= 0 || name.matches("\\d{1,3}(\\.\\d{1,3}){3}");
  }
}
