package dev.sluice.audit;

import dev.sluice.config.SluiceConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Rule} that judges the configuration alone: every rule but SL022, which judges the
 * acknowledgements by what these found. {@link Auditor} runs each once per audit and hands their
 * findings on to SL022, so none runs twice.
 *
 * <p>Pure and stateless: the same configuration always gives the same findings.
 */
public abstract class ConfigRule extends Rule {

  protected ConfigRule(String code, Severity severity, Pitfall pitfall, String name) {
    super(code, severity, pitfall, name);
  }

  /** The findings of this rule on {@code config}, in file order. */
  public final List<Finding> check(SluiceConfig config) {
    List<Finding> out = new ArrayList<>();
    check(config, out);
    return out;
  }

  /** Adds one finding to {@code out} for each place in {@code config} where the rule applies. */
  protected abstract void check(SluiceConfig config, List<Finding> out);
}
