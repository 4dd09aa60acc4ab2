package dev.sluice.balance;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.sluice.config.PoolConfig;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Which backend deferred which sender, so that the sender's retry goes back to it: the memory
 * behind a pool's {@code deferral_affinity}.
 *
 * <p>Why: greylisting servers (postgrey, rspamd, milter-greylist, Postfix's own
 * {@code reject_unverified_recipient}) each keep their own memory. A message deferred by backend A
 * passes only when its retry reaches A again; balanced afresh, the retry meets B, which has never
 * seen it and defers it once more, and with n backends the sender may wait n retry intervals
 * instead of one. So when a backend defers a transaction, the sender's next transactions from the
 * same client network go to that backend for {@code ttl}.
 *
 * <p>The key is the client's network (its /24 for IPv4, its /64 for IPv6: large senders retry from
 * another address of the same range, and postgrey keys its triplets by /24 as well) and the
 * sender's address, case-folded. The recipients are not in it: a sender's whole transaction follows
 * the entry, and its other recipients lose nothing by going to the server that deferred one. The
 * null sender is the exception: it is every bounce and delivery report a network sends, so keyed
 * alone, one greylisted bounce would send all of that network's bounces to one backend for {@code
 * ttl}. Its key also has the transaction's first recipient (a bounce has one), as greylisting's
 * triplet has. The time runs from the deferral and is not renewed by a later one from the same
 * backend, so a backend that defers everything keeps a sender for {@code ttl} at most; a deferral
 * by another backend replaces the entry.
 *
 * <p>Pure: time comes from the injected nano clock. Thread-safe (event loops record and look up
 * concurrently); the table is bounded by {@code max_entries}.
 */
public final class DeferralTable {
  /** A remembered deferral: by {@code backend}, at {@code atNanos} on the injected clock. */
  public record Deferral(Backend backend, long atNanos, int times) {}

  /**
   * Deferrals in a row of one sender by one backend after which the sender is no longer sent back
   * there. Greylisting lets the retry through once its delay has passed, so a backend that still
   * defers the sender's third attempt is deferring for another reason (its own trouble, a rate
   * limit, a policy that will not change), and another backend may do better.
   */
  public static final int MAX_DEFERRALS_IN_A_ROW = 3;

  /**
   * A sender from a client network, and for the null sender the first recipient; see the class
   * comment. Null when there is no key yet: the null sender before its first recipient.
   */
  record Key(long network, boolean ipv6, String sender, String recipient) {
    static Key of(byte[] clientAddress, String sender, String firstRecipient) {
      boolean nullSender = sender.isEmpty();
      if (nullSender && firstRecipient == null) {
        return null;
      }
      boolean v6 = clientAddress.length == 16;
      long network = 0;
      for (int i = 0; i < (v6 ? 8 : 3); i++) { // the /64 or the /24
        network = (network << 8) | (clientAddress[i] & 0xff);
      }
      return new Key(network, v6, sender.toLowerCase(Locale.ROOT),
          nullSender ? firstRecipient.toLowerCase(Locale.ROOT) : null);
    }
  }

  private final PoolConfig.DeferralAffinity config;
  private final long ttlNanos;
  private final LongSupplier nanoClock;
  private final Cache<Key, Deferral> table;

  DeferralTable(PoolConfig.DeferralAffinity config, LongSupplier nanoClock) {
    this.config = config;
    this.ttlNanos = config.ttl().toNanos();
    this.nanoClock = nanoClock;
    // As for persistence: maintenance on the calling thread, timed by our clock. Caffeine's expiry
    // only frees memory; whether an entry still counts is decided by its own time (lookup).
    this.table = Caffeine.newBuilder()
        .maximumSize(config.maxEntries())
        .expireAfterWrite(config.ttl())
        .ticker(nanoClock::getAsLong)
        .executor(Runnable::run)
        .build();
  }

  PoolConfig.DeferralAffinity config() {
    return config;
  }

  /**
   * Backend {@code b} deferred a transaction of {@code sender} from {@code clientAddress}: the
   * sender's retries from that network go back to it, unless this is the {@link
   * #MAX_DEFERRALS_IN_A_ROW}th deferral by {@code b} within ttl, which ends the affinity.
   *
   * @param clientAddress the client's address bytes (4 or 16)
   * @param sender the {@code MAIL FROM} address without angle brackets, empty for the null sender
   * @param firstRecipient the transaction's first {@code RCPT TO} address; only the null sender's
   *     key has it, and without it the null sender's deferral is not remembered
   * @return whether the sender's retries go back to {@code b}
   */
  public boolean deferred(byte[] clientAddress, String sender, String firstRecipient, Backend b) {
    Key key = Key.of(clientAddress, sender, firstRecipient);
    if (key == null) {
      return false;
    }
    long now = nanoClock.getAsLong();
    Deferral d = table.asMap().compute(key, (k, old) -> {
      if (old == null || old.backend() != b || now - old.atNanos() >= ttlNanos) {
        return new Deferral(b, now, 1);
      }
      // The time runs from the first deferral: a backend that defers everything is not followed longer.
      return old.times() + 1 >= MAX_DEFERRALS_IN_A_ROW ? null : new Deferral(b, old.atNanos(), old.times() + 1);
    });
    return d != null;
  }

  /**
   * The backend that deferred {@code sender} (for the null sender: to {@code firstRecipient}) from
   * {@code clientAddress}'s network less than {@code ttl} ago, and when; null if none, and for the
   * null sender before its first recipient is known.
   */
  public Deferral lookup(byte[] clientAddress, String sender, String firstRecipient) {
    if (table.estimatedSize() == 0) {
      return null; // the usual case, and no key is built for it
    }
    Key key = Key.of(clientAddress, sender, firstRecipient);
    Deferral d = key == null ? null : table.getIfPresent(key);
    return d != null && nanoClock.getAsLong() - d.atNanos() < ttlNanos ? d : null;
  }

  /** Entries after pending expiries and evictions are applied. */
  public long size() {
    table.cleanUp();
    return table.estimatedSize();
  }
}
