package dev.sluice.audit;

import dev.sluice.config.SluiceConfig;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Audits a configuration for the seed's pitfalls (DESIGN §1, §7): runs every {@link ConfigRule}
 * once, then SL022 on their findings, and returns all findings, acknowledged ones included
 * (marked), most severe first, then in file order. Pure: reads nothing but the given config,
 * resolves no names, opens no files. The one fact from outside the file, where a listener without
 * {@code source_address} connects from, comes in as a {@link DefaultSource} function ({@code
 * sluice audit} asks the kernel's routing table).
 */
public final class Auditor {
  /** Every rule, in code order, knowing no routes ({@link DefaultSource#UNKNOWN}). */
  public static final List<Rule> RULES = rules(DefaultSource.UNKNOWN);

  /**
   * Every rule, in code order; those comparing source addresses take a listener without {@code
   * source_address} to connect from where {@code routes} says. The last, SL022, judges the
   * acknowledgements by the others' findings. A code, once published, never changes meaning.
   */
  public static List<Rule> rules(DefaultSource routes) {
    List<ConfigRule> checks = checks(routes);
    List<Rule> all = new ArrayList<>(checks);
    all.add(new UnusedAcknowledgementRule(checks, routes != DefaultSource.UNKNOWN));
    return List.copyOf(all);
  }

  /** The rules that judge the configuration alone: every rule but SL022, in code order. */
  private static List<ConfigRule> checks(DefaultSource routes) {
    return List.of(
        new OpenRelayRule(routes),
        new ClientIdentityRule(),
        new ShallowHealthRule(),
        new UnevenWeightsRule(),
        new ClientAffinityRule(),
        new ExternalTlsRule(),
        new AdminTokenRule(),
        new SingleBackendRule(),
        new PerConnectionRule(),
        new NoRetriesRule(),
        new BareNewlineRule(),
        new ProbeTimingRule(),
        new SingleActiveRule(),
        new InternalOpenRule(),
        new ProxyFromAnywhereRule(),
        new SharedProfileRule(),
        new DuplicateBackendRule(),
        new BackendTlsVerifyRule(),
        new TwoPopulationsRule(routes),
        new PlainAuthRule(),
        new BackendAuthRule(),
        new ClientNamesRule(),
        new GuessLimitRule(),
        new TransparentFamilyRule(),
        new RequiredTlsRule(),
        new ImplicitTlsPortRule());
  }

  /** Exit status with an unacknowledged error. */
  public static final int EXIT_ERRORS = 2;
  /** Exit status with unacknowledged warnings but no errors. */
  public static final int EXIT_WARNINGS = 1;

  private static final Comparator<Finding> ORDER = Comparator.comparing(Finding::severity)
      .thenComparingInt(f -> f.location().line())
      .thenComparingInt(f -> f.location().column())
      .thenComparing(Finding::code);

  private Auditor() {}

  /**
   * All findings of all rules on {@code config}, most severe first, then by position in the file;
   * a listener without {@code source_address} matches only another without one.
   */
  public static List<Finding> audit(SluiceConfig config) {
    return audit(config, DefaultSource.UNKNOWN);
  }

  /**
   * All findings of all rules on {@code config}, most severe first, then by position in the file; a
   * listener without {@code source_address} connects from where {@code routes} says.
   */
  public static List<Finding> audit(SluiceConfig config, DefaultSource routes) {
    return audit(config, checks(routes), routes != DefaultSource.UNKNOWN);
  }

  /**
   * Runs each of {@code checks} once, then SL022 on their findings; {@code routesKnown}: whether
   * {@code checks} were given the host's routes. Package-private so tests can audit with their own
   * rules.
   */
  static List<Finding> audit(SluiceConfig config, List<? extends ConfigRule> checks, boolean routesKnown) {
    List<Finding> found = new ArrayList<>();
    for (ConfigRule rule : checks) {
      found.addAll(rule.check(config));
    }
    List<Finding> all = new ArrayList<>(found);
    all.addAll(new UnusedAcknowledgementRule(checks, routesKnown).check(config, found));
    all.sort(ORDER);
    return List.copyOf(all);
  }

  /** 2 if any unacknowledged error, 1 if any unacknowledged warning, else 0. */
  public static int exitCode(List<Finding> findings) {
    if (count(findings, Severity.ERROR) > 0) {
      return EXIT_ERRORS;
    }
    return count(findings, Severity.WARNING) > 0 ? EXIT_WARNINGS : 0;
  }

  /** How many unacknowledged findings have {@code severity}. */
  public static long count(List<Finding> findings, Severity severity) {
    return findings.stream().filter(f -> !f.acknowledged() && f.severity() == severity).count();
  }

  /** How many findings are acknowledged. */
  public static long acknowledged(List<Finding> findings) {
    return findings.stream().filter(Finding::acknowledged).count();
  }
}
