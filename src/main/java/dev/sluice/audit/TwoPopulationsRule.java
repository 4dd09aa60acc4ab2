package dev.sluice.audit;

import dev.sluice.config.Cidr;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.SluiceConfig;
import java.util.List;
import java.util.stream.Collectors;

/**
 * SL019: a listener that admits only chosen networks (its {@code allow} less {@code deny} is not
 * open to the internet in {@link InternetReach}'s sense, or it listens on loopback) and a listener
 * that admits the internet reach the same backend from the same source address ({@link
 * SharedSource}), and neither is marked {@code trust: internal}. {@code trust} defaults to
 * external, so SL001 stays silent, yet this is the seed's layout: the narrow listener is there for
 * internal applications, the servers see its clients and every internet sender as one address, and
 * whatever relay permission one gets, the other gets (seed pitfall 5).
 *
 * <p>Reported at the narrow listener, once per internet listener. Not reported for a backend that
 * the internet listener hands each client's own address to ({@code xclient}, {@code proxy_v1},
 * {@code proxy_v2}, the listener's or the backend's own), as for SL001; identity on the narrow listener alone does not help, since
 * internet mail still arrives from the shared address. Two listeners that both admit the internet,
 * or both only chosen networks, serve one population as far as the internet is concerned and are
 * not reported. An internal narrow listener is SL001's, an internal open one SL014's.
 */
final class TwoPopulationsRule extends ConfigRule {
  private final DefaultSource routes;

  /** {@code routes}: where a listener without {@code source_address} connects from. */
  TwoPopulationsRule(DefaultSource routes) {
    super("SL019", Severity.ERROR, Pitfall.OPEN_RELAY, "one source address for two populations");
    this.routes = routes;
  }

  @Override
  boolean readsRoutes() {
    return true;
  }

  @Override
  protected void check(SluiceConfig c, List<Finding> out) {
    List<ListenerConfig> external = listeners(c, Trust.EXTERNAL);
    for (ListenerConfig narrow : external) {
      if (!narrow(narrow)) {
        continue;
      }
      for (ListenerConfig open : external) {
        if (narrow(open)) {
          continue;
        }
        for (SharedSource.Shared shared : SharedSource.between(c, narrow, open, open, routes)) {
          report(narrow, open, shared, out);
        }
      }
    }
  }

  private void report(ListenerConfig narrow, ListenerConfig open, SharedSource.Shared shared, List<Finding> out) {
    boolean transparent = shared.trustedAlike();
    out.add(finding(Target.listener(narrow),
        q(narrow.name()) + " (" + scope(narrow) + ") and " + q(open.name()) + " (the internet) reach "
            + String.join(", ", shared.backends())
            + (transparent ? " from addresses the servers trust alike" : " from the same source address"),
        q(narrow.name()) + " " + admits(narrow) + ", so it looks meant for internal hosts, but it has no trust: "
            + "internal, and " + (transparent ? "the servers trust the address of " : "it connects from the same address as ")
            + q(open.name()) + " (line "
            + open.location().line() + "), which takes mail from the whole internet and does not hand the "
            + "client's address on: both connect from " + shared.source() + ". A server tells its clients "
            + "apart by the connecting address only, so whatever it grants the clients of " + q(narrow.name())
            + ", relay permission above all (an Exchange relay connector, Postfix mynetworks), it grants every "
            + "internet sender too: the seed's open relay.",
        (transparent
            // Its connections come from its clients' addresses: only the internet listener's can move.
            ? "Give " + q(open.name()) + " a source_address outside the client ranges " + q(narrow.name())
                + " admits (and outside what the servers let relay), and mark " + q(narrow.name())
                + " trust: internal so the audit checks it as a relay listener. If"
            : "Give " + q(narrow.name()) + " a source_address of its own (e.g. 10.0.0.22, with 10.0.0.21 on "
                + q(open.name()) + "), let only that address relay, and mark it trust: internal so the audit "
                + "checks it as a relay listener. If")
            + " both listeners carry the same kind of mail (say, " + q(narrow.name())
            + " takes internet mail from a gateway) and the servers grant that address nothing, acknowledge "
            + code() + " on " + q(narrow.name()) + "."));
  }

  /** Whether {@code l} serves chosen hosts only: on loopback, or admitting less than the internet. */
  private static boolean narrow(ListenerConfig l) {
    return isLoopback(l.listen().host()) || !InternetReach.openToTheInternet(l.allow(), l.deny());
  }

  /** {@code only 10.0.0.0/8}, or {@code only this host}. */
  private static String scope(ListenerConfig l) {
    return isLoopback(l.listen().host()) ? "only this host" : "only " + networks(l);
  }

  /** {@code admits only 10.0.0.0/8}, or {@code listens on 127.0.0.1:2525 only}. */
  private static String admits(ListenerConfig l) {
    return isLoopback(l.listen().host())
        ? "listens on " + l.listen() + " only (this host's own applications)"
        : "admits only " + networks(l);
  }

  /** {@code 10.0.0.0/8, 192.168.0.0/16 less 10.9.0.0/16}: allow, less deny. */
  private static String networks(ListenerConfig l) {
    String allow = l.allow().stream().map(Cidr::toString).collect(Collectors.joining(", "));
    return l.deny().isEmpty() ? allow
        : allow + " less " + l.deny().stream().map(Cidr::toString).collect(Collectors.joining(", "));
  }
}
