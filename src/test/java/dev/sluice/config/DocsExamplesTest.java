package dev.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every YAML example in README.md and docs/ that is written from the top level of a configuration
 * is a valid configuration, as {@code sluice check --no-files} would load it. An example that shows
 * only some sections (a {@code health:} block, say) is completed with a pool {@code hub}, health
 * profiles {@code external} and {@code internal} and one listener, for each section it lacks, the
 * names the docs' examples refer to. Blocks that start indented or with a key that is not a top-level
 * one (a line from inside a pool) are not checked.
 */
class DocsExamplesTest {
  private static final Pattern YAML_BLOCK = Pattern.compile("(?ms)^```ya?ml\\n(.*?)^```");
  private static final Pattern TOP_KEY = Pattern.compile("(?m)^([a-z_]+):");
  private static final Set<String> TOP_KEYS = Set.of("admin", "log", "resolver", "health", "pools", "listeners");
  private static final String BASE_HEALTH = """
      health:
        external: {}
        internal: {}
      """;
  private static final String BASE_POOLS = """
      pools:
        hub:
          backends: [127.0.0.1:10025]
      """;
  private static final String BASE_LISTENERS = """
      listeners:
        docs_example:
          listen: 127.0.0.1:2525
          pool: hub
      """;

  @Test
  void everyTopLevelYamlExampleIsAValidConfiguration() throws Exception {
    List<Path> docs = new ArrayList<>(List.of(Path.of("README.md")));
    try (Stream<Path> files = Files.list(Path.of("docs"))) {
      files.filter(f -> f.toString().endsWith(".md")).sorted().forEach(docs::add);
    }
    int checked = 0;
    List<String> failures = new ArrayList<>();
    for (Path doc : docs) {
      String text = Files.readString(doc);
      Matcher block = YAML_BLOCK.matcher(text);
      while (block.find()) {
        String yaml = block.group(1);
        Set<String> keys = topKeys(yaml);
        if (keys.isEmpty() || !TOP_KEYS.containsAll(keys)) {
          continue;
        }
        // Blank lines in front, so that errors name the doc's own lines: doc.md:LINE:COL.
        int fence = (int) text.substring(0, block.start()).lines().count() + 1;
        try {
          ConfigLoader.parse("\n".repeat(fence) + complete(yaml, keys), doc.toString());
          checked++;
        } catch (ConfigException e) {
          failures.add("the example at " + doc + ":" + fence + " does not load:\n" + e.describe());
        }
      }
    }
    if (!failures.isEmpty()) {
      fail(String.join("\n", failures));
    }
    assertThat(checked).as("examples checked").isGreaterThanOrEqualTo(8);
  }

  /** The top-level keys of a block; empty when its first line with content is indented. */
  private static Set<String> topKeys(String yaml) {
    String first = yaml.lines().filter(l -> !l.isBlank() && !l.strip().startsWith("#")).findFirst().orElse("");
    if (first.isEmpty() || Character.isWhitespace(first.charAt(0))) {
      return Set.of();
    }
    Set<String> keys = new LinkedHashSet<>();
    Matcher m = TOP_KEY.matcher(yaml);
    while (m.find()) {
      keys.add(m.group(1));
    }
    return keys;
  }

  private static String complete(String yaml, Set<String> keys) {
    StringBuilder sb = new StringBuilder(yaml);
    if (!yaml.endsWith("\n")) {
      sb.append('\n');
    }
    if (!keys.contains("health")) {
      sb.append(BASE_HEALTH);
    }
    if (!keys.contains("pools")) {
      sb.append(BASE_POOLS);
    }
    if (!keys.contains("listeners")) {
      sb.append(BASE_LISTENERS);
    }
    return sb.toString();
  }
}
