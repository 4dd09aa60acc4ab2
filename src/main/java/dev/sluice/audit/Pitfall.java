package dev.sluice.audit;

/**
 * Which of the seed article's five pitfalls (DESIGN §1) a finding belongs to, or {@link
 * #GENERAL} for good practice the article does not cover (TLS, the admin API, redundancy).
 */
public enum Pitfall {
  WEIGHTS(1, "weights"),
  SCHEDULING_VS_PERSISTENCE(2, "scheduling vs persistence"),
  SOURCE_NAT(3, "source NAT"),
  SHALLOW_HEALTH(4, "shallow health checks"),
  OPEN_RELAY(5, "open relay"),
  GENERAL(0, "general practice");

  private final int number;
  private final String label;

  Pitfall(int number, String label) {
    this.number = number;
    this.label = label;
  }

  /** The pitfall's number in DESIGN §1 (1–5), or 0 for {@link #GENERAL}. */
  public int number() {
    return number;
  }

  /** A short name for people: {@code open relay}. */
  public String label() {
    return label;
  }

  /** {@code pitfall 5: open relay}, or {@code general practice}. */
  @Override
  public String toString() {
    return number == 0 ? label : "pitfall " + number + ": " + label;
  }
}
