package dev.sluice.audit;

import static dev.sluice.audit.AuditConfigs.CLEAN;
import static dev.sluice.audit.AuditConfigs.only;
import static dev.sluice.audit.AuditConfigs.parse;
import static dev.sluice.audit.AuditConfigs.with;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.SluiceConfig;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * One audit runs each rule once: SL022 judges the acknowledgements by the findings the other rules
 * already made, instead of running them again (which doubled the work, and the route lookups that
 * {@code sluice audit} makes through the kernel).
 */
class AuditRunsTest {

  /**
   * CLEAN without XCLIENT and without the internal listener's source_address: SL001 asks the routes
   * where that listener connects from.
   */
  private static final String UNSET_SOURCE =
      with(with(CLEAN, "client_identity: xclient", "client_identity: none"), "source_address: 10.0.0.22", "");

  @Test
  void routeLookupsAreThoseOfOneRunOfTheRulesThatReadRoutes() {
    AtomicInteger lookups = new AtomicInteger();
    DefaultSource counting = destination -> {
      lookups.incrementAndGet();
      return Optional.empty();
    };
    SluiceConfig c = parse(UNSET_SOURCE);
    for (Rule r : Auditor.rules(counting)) {
      if (r.readsRoutes()) {
        ((ConfigRule) r).check(c);
      }
    }
    int oneRun = lookups.getAndSet(0);
    assertThat(oneRun).as("the test config makes the route-reading rules look up routes").isPositive();
    Auditor.audit(c, counting);
    assertThat(lookups.get()).isEqualTo(oneRun);
  }

  @Test
  void eachRuleRunsOncePerAuditAndSL022WorksFromItsFindings() {
    AtomicInteger runs = new AtomicInteger();
    // Reports each listener whose name starts with 'i': 'internet', not 'relay'.
    ConfigRule counted = new ConfigRule("SL090", Severity.WARNING, Pitfall.GENERAL, "counted") {
      @Override
      protected void check(SluiceConfig c, List<Finding> out) {
        runs.incrementAndGet();
        c.listeners().values().stream().filter(l -> l.name().startsWith("i"))
            .forEach(l -> out.add(finding(Target.listener(l), "found", "Why it matters.", "Change it.")));
      }
    };
    String yaml = with(with(CLEAN, "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL090]"),
        "client_identity: proxy_v2", "client_identity: proxy_v2\n    acknowledge: [SL090]");
    List<Finding> findings = Auditor.audit(parse(yaml), List.of(counted), false);
    assertThat(runs).hasValue(1);
    assertThat(only(findings, "SL090").acknowledged()).isTrue();
    Finding unused = only(findings, "SL022");
    assertThat(unused.title()).isEqualTo("unused acknowledgement: SL090 on listener 'relay' silences nothing");
    assertThat(unused.explanation()).contains("is reported at listener 'internet'");
    // Another audit runs it once more, not twice.
    Auditor.audit(parse(yaml), List.of(counted), false);
    assertThat(runs).hasValue(2);
  }
}
