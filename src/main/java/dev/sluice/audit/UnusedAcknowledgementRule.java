package dev.sluice.audit;

import dev.sluice.config.Location;
import dev.sluice.config.SluiceConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * SL022: an {@code acknowledge} entry that silences nothing: no finding of that code is about the
 * object carrying it (or, on a pool, about one of its backends). The configuration changed since
 * the finding was accepted, the entry sits on the wrong object, or the code is not a rule's at all.
 * Left in place, a stale entry would silently accept the finding if it came back one day, for a
 * reason nobody weighed. Reported at the entry itself.
 *
 * <p>Judged against the findings the other rules made in the same audit, which {@link Auditor}
 * passes in: running those rules again here would double the audit's work and its route lookups.
 * An entry for a rule that depends on the host's routes ({@link Rule#readsRoutes}) is not judged
 * when the audit knows no routes: its finding may fire on the host the file is meant for. {@code
 * acknowledge: [SL022]} is never reported (it would have to silence itself to count as used); on an
 * object it keeps that object's unused entries, say for a file shared by hosts where they do apply.
 */
final class UnusedAcknowledgementRule extends Rule {
  private final Map<String, Rule> others = new LinkedHashMap<>();
  private final boolean routesKnown;

  /**
   * {@code others}: the rules whose findings an acknowledgement may silence; {@code routesKnown}:
   * whether they were given the host's routes.
   */
  UnusedAcknowledgementRule(List<? extends Rule> others, boolean routesKnown) {
    super("SL022", Severity.INFO, Pitfall.GENERAL, "unused acknowledgement");
    if (others.isEmpty()) {
      throw new IllegalArgumentException("SL022 judges the findings of other rules; none given");
    }
    others.forEach(r -> this.others.put(r.code(), r));
    this.routesKnown = routesKnown;
  }

  /**
   * The unused acknowledgements of {@code c}, in file order; {@code findings}: what the other rules
   * found on {@code c}, acknowledged or not.
   */
  List<Finding> check(SluiceConfig c, List<Finding> findings) {
    List<Finding> out = new ArrayList<>();
    for (Target t : Target.all(c)) {
      t.acknowledge().forEach((ack, at) -> {
        Rule rule = others.get(ack);
        if (ack.equals(code()) || rule != null && rule.readsRoutes() && !routesKnown) {
          return;
        }
        Set<Target> where = new LinkedHashSet<>();
        for (Finding f : findings) {
          if (f.code().equals(ack)) {
            if (f.target().within(t)) {
              return; // used
            }
            where.add(f.target());
          }
        }
        out.add(unused(t, ack, at, rule, where));
      });
    }
    return out;
  }

  /** The finding for {@code ack} on {@code t}, written at {@code at}; {@code where} its findings are instead. */
  private Finding unused(Target t, String ack, Location at, Rule rule, Set<Target> where) {
    String detail = ack + " on " + t + " silences nothing";
    String why = " An acknowledgement left in place would silently accept the finding if it came back one day, "
        + "for a reason nobody weighed, and stale ones pile up until nobody knows which still matter.";
    if (rule == null) {
      return finding(t, at, detail,
          "No audit rule has the code " + ack + " (they run from " + others.keySet().iterator().next() + " to " + code()
              + ", see docs/audit.md), so the entry accepts nothing; perhaps a typo for the finding meant." + why,
          "Correct the code, or remove " + ack + " from the acknowledge list of " + t + ".");
    }
    String what = ack + " (" + rule.name() + ")";
    if (!where.isEmpty()) {
      String elsewhere = where.stream().map(w -> w + " (line " + w.location().line() + ")")
          .collect(Collectors.joining(", "));
      return finding(t, at, detail,
          what + " is reported at " + elsewhere + ", not at " + t + ": an acknowledgement silences a finding only "
              + "on the object the finding points at (a backend's finding also on its pool)." + why,
          "Move " + ack + " to the acknowledge list of " + (where.size() == 1 ? "" : "each of ") + elsewhere
              + " if the finding is accepted there, and remove it from " + t + ".");
    }
    return finding(t, at, detail,
        "No " + what + " finding is reported at " + t + ": the configuration changed since it was accepted, or it "
            + "never applied here." + why,
        "Remove " + ack + " from the acknowledge list of " + t + ". To keep it on purpose (a file shared by "
            + "hosts where it does apply), add " + code() + " to the same list.");
  }
}
