package dev.sluice.proxy.identity;

/**
 * A client's host name as DNS gave it, in the two forms Postfix's XCLIENT takes (XCLIENT_README):
 * {@code name}, the name whose forward lookup confirms the client's address (what Postfix's
 * {@code reject_unknown_client_hostname} and its logs use), and {@code reverseName}, the name of the
 * PTR record, unverified ({@code reject_unknown_reverse_client_hostname}). Each is a host name or
 * one of the two status values {@link #UNAVAILABLE_VALUE} (the name does not exist: a permanent
 * condition) and {@link #TEMPUNAVAIL_VALUE} (the lookup failed for now). {@code reason} says why a
 * name is missing, for Sluice's own logs; {@code ttlSeconds} is how long the answer may be reused.
 * Immutable.
 */
public record ClientName(String name, String reverseName, String reason, long ttlSeconds) {

  /** XCLIENT/XFORWARD value for a name that does not exist. */
  public static final String UNAVAILABLE_VALUE = "[UNAVAILABLE]";

  /** XCLIENT/XFORWARD value for a name that could not be looked up for now. */
  public static final String TEMPUNAVAIL_VALUE = "[TEMPUNAVAIL]";

  /** No lookup was made (no {@code resolver:} section): the backend is told the name is unavailable. */
  public static final ClientName NOT_LOOKED_UP = new ClientName(UNAVAILABLE_VALUE, UNAVAILABLE_VALUE, "not looked up", 0);

  /** A name confirmed by its forward lookup. */
  static ClientName verified(String name, long ttlSeconds) {
    return new ClientName(name, name, null, ttlSeconds);
  }

  /** No usable PTR name: both forms unavailable. */
  static ClientName unavailable(String reason, long ttlSeconds) {
    return new ClientName(UNAVAILABLE_VALUE, UNAVAILABLE_VALUE, reason, ttlSeconds);
  }

  /** The PTR lookup failed for now; not to be reused. */
  static ClientName temporarilyUnavailable(String reason) {
    return new ClientName(TEMPUNAVAIL_VALUE, TEMPUNAVAIL_VALUE, reason, 0);
  }

  /** A PTR name whose forward lookup did not confirm the address: {@code name} is {@code status}. */
  static ClientName unverified(String reverseName, String status, String reason, long ttlSeconds) {
    return new ClientName(status, reverseName, reason, ttlSeconds);
  }

  /** What the lookup found, for the metrics. */
  public enum Result {
    /** A name that resolves back to the client. */
    VERIFIED,
    /** A PTR name that does not resolve back (or has no address). */
    UNVERIFIED,
    /** No PTR record, or an unusable one. */
    NONE,
    /** DNS failed or did not answer in time. */
    TEMPFAIL
  }

  /** What the lookup found. */
  public Result result() {
    if (isVerified()) {
      return Result.VERIFIED;
    }
    if (name.equals(TEMPUNAVAIL_VALUE)) {
      return Result.TEMPFAIL;
    }
    return reverseName.startsWith("[") ? Result.NONE : Result.UNVERIFIED;
  }

  /** Whether {@link #name} is a real, verified host name. */
  public boolean isVerified() {
    return !name.startsWith("[");
  }

  /** How Sluice's protocol log describes it: the name, or {@code unknown} with the reason. */
  public String describe() {
    if (isVerified()) {
      return "client name " + name;
    }
    String reverse = reverseName.startsWith("[") ? "" : " (PTR " + reverseName + ")";
    return "client name unknown" + reverse + ": " + reason;
  }
}
