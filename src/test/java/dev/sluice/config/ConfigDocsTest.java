package dev.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * docs/configuration.md has a table row for every key the loader accepts, section by section. The
 * valid keys are read from the loader's own hint for an unknown key, so a key added to the loader
 * without a line in the reference fails here.
 */
class ConfigDocsTest {
  private static final String POOLS = "pools: { hub: { backends: [127.0.0.1:10025] } }\n";
  private static final String LISTENERS = "listeners: { in: { listen: 127.0.0.1:2525, pool: hub } }\n";

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      top level   | zz_unknown: 1\\n%POOLS%%LISTENERS%
      admin       | admin: { listen: 127.0.0.1:8025, zz_unknown: 1 }\\n%POOLS%%LISTENERS%
      log         | log: { zz_unknown: 1 }\\n%POOLS%%LISTENERS%
      resolver    | resolver: { zz_unknown: 1 }\\n%POOLS%%LISTENERS%
      health      | health: { p: { zz_unknown: 1 } }\\n%POOLS%%LISTENERS%
      pool        | pools: { hub: { backends: [127.0.0.1:10025], zz_unknown: 1 } }\\n%LISTENERS%
      persistence | pools: { hub: { backends: [127.0.0.1:10025], persistence: { mode: source_ip, zz_unknown: 1 } } }\\n%LISTENERS%
      passive     | pools: { hub: { backends: [127.0.0.1:10025], passive: { zz_unknown: 1 } } }\\n%LISTENERS%
      backend     | pools: { hub: { backends: [ { address: 127.0.0.1:10025, zz_unknown: 1 } ] } }\\n%LISTENERS%
      listener    | %POOLS%listeners: { in: { listen: 127.0.0.1:2525, pool: hub, zz_unknown: 1 } }\\n
      tls         | %POOLS%listeners: { in: { listen: 127.0.0.1:2525, pool: hub, tls: { cert: c.pem, key: k.pem, zz_unknown: 1 } } }\\n
      limits      | %POOLS%listeners: { in: { listen: 127.0.0.1:2525, pool: hub, limits: { zz_unknown: 1 } } }\\n
      timeouts    | %POOLS%listeners: { in: { listen: 127.0.0.1:2525, pool: hub, timeouts: { zz_unknown: 1 } } }\\n
      """)
  void referenceHasARowForEveryKey(String section, String template) throws Exception {
    String yaml = template.replace("\\n", "\n").replace("%POOLS%", POOLS).replace("%LISTENERS%", LISTENERS);
    ConfigException e = catchThrowableOfType(ConfigException.class, () -> ConfigLoader.parse(yaml, "t.yaml"));
    assertThat(e).as("an unknown key in %s", section).isNotNull();
    assertThat(e.errors()).hasSize(1);
    String hint = e.errors().get(0).hint();
    assertThat(hint).as("hint for an unknown key in %s", section).contains("valid keys: ");
    List<String> keys = new ArrayList<>();
    for (String k : hint.substring(hint.indexOf("valid keys: ") + "valid keys: ".length()).split(",")) {
      keys.add(k.strip());
    }
    assertThat(keys).hasSizeGreaterThan(1);
    String doc = Files.readString(Path.of("docs/configuration.md"));
    for (String key : keys) {
      assertThat(doc).as("docs/configuration.md documents '%s' (%s)", key, section).contains("| `" + key + "` |");
    }
  }
}
