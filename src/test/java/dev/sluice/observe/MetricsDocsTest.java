package dev.sluice.observe;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/observability.md names exactly the metrics Sluice registers, and the other docs and the
 * Grafana dashboard in contrib/ name only registered ones, so a renamed or added metric cannot leave
 * the docs behind.
 */
class MetricsDocsTest {
  private static final Pattern NAME = Pattern.compile("\\bsluice_[a-z0-9_]+");
  /** The series a histogram adds to its name in a scrape. */
  private static final Pattern HISTOGRAM_SERIES = Pattern.compile("_(bucket|sum|count)$");

  private static SortedSet<String> registered() {
    return new Metrics(new Metrics.Sources(List::of, List::of, () -> 0, java.util.Map::of)).registeredNames();
  }

  private static SortedSet<String> namesIn(Path file, Set<String> registered) throws Exception {
    SortedSet<String> names = new TreeSet<>();
    Matcher m = NAME.matcher(Files.readString(file));
    while (m.find()) {
      String name = m.group();
      String base = HISTOGRAM_SERIES.matcher(name).replaceFirst("");
      names.add(!registered.contains(name) && registered.contains(base) ? base : name);
    }
    return names;
  }

  @Test
  void observabilityDocNamesEveryRegisteredMetricAndNoOther() throws Exception {
    SortedSet<String> registered = registered();
    assertThat(registered).hasSizeGreaterThan(10);
    SortedSet<String> documented = namesIn(Path.of("docs/observability.md"), registered);
    assertThat(documented).as("metrics in docs/observability.md").containsExactlyElementsOf(registered);
  }

  @Test
  void grafanaDashboardQueriesOnlyRegisteredMetrics() throws Exception {
    SortedSet<String> registered = registered();
    SortedSet<String> queried = namesIn(Path.of("contrib/grafana-dashboard.json"), registered);
    assertThat(queried).isNotEmpty();
    assertThat(registered).as("registered metrics").containsAll(queried);
  }

  @Test
  void everyOtherDocNamesOnlyRegisteredMetrics() throws Exception {
    SortedSet<String> registered = registered();
    List<Path> docs = new java.util.ArrayList<>(List.of(Path.of("README.md"), Path.of("contrib/README.md")));
    try (var files = Files.list(Path.of("docs"))) {
      files.filter(f -> f.toString().endsWith(".md")).forEach(docs::add);
    }
    for (Path doc : docs) {
      assertThat(registered).as("registered metrics, for the names in %s", doc).containsAll(namesIn(doc, registered));
    }
  }
}
